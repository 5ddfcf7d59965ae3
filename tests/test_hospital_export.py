"""A study exported the way a Chinese hospital information system exports it (Chinese test and
drug names, x10⁹/L, 2024/03/25 dates, Female/男, 是/否, WHO-UMC causality words) reads to the
same canonical study, and so the same results, as its English equivalent (issue 10)."""

from __future__ import annotations

import datetime as dt
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest

from ctit import knowledge
from ctit.protocol import load_protocol
from ctit.readers.read import read_study
from ctit.results import analyze_study

EXAMPLE = resources.files("ctit").joinpath("examples", "atra-ctit")
TABLES = ("patients", "exposures", "labs", "transfusions", "bleeding", "adverse_events")

TESTS_CN = {"PLT": "血小板计数", "ALT": "谷丙转氨酶", "AST": "天门冬氨酸氨基转移酶",
            "TBIL": "总胆红素", "WBC": "白细胞", "ANC": "中性粒细胞", "HGB": "血红蛋白"}
UNITS_CN = {"10^9/L": "×10⁹/L", "U/L": "U/L"}
DRUGS_CN = {"ATRA": "维A酸", "rhTPO": "重组人血小板生成素", "romiplostim": "罗米司亭",
            "avatrombopag": "阿伐曲泊帕", "hetrombopag": "海曲泊帕", "cisplatin": "顺铂",
            "carboplatin": "卡铂", "docetaxel": "多西他赛", "gemcitabine": "吉西他滨"}
SEX_CN = {"F": "Female", "M": "男"}
YES_NO_CN = {"yes": "是", "no": "否"}


def _tables() -> dict[str, pd.DataFrame]:
    return {t: pd.read_csv(EXAMPLE.joinpath(f"{t}.csv"), dtype=str, keep_default_na=False)
            for t in TABLES}


def _slash_dates(frame: pd.DataFrame) -> pd.DataFrame:
    for column in [c for c in frame.columns if c.endswith("date")]:
        frame[column] = frame[column].str.replace("-", "/")
    return frame


def _hospital_export(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    t = {name: _slash_dates(df.copy()) for name, df in tables.items()}
    t["patients"]["sex"] = t["patients"]["sex"].map(SEX_CN)
    labs = t["labs"]
    labs["test"] = labs["test"].map(lambda x: TESTS_CN.get(x, x))
    labs["unit"] = labs["unit"].map(lambda x: UNITS_CN.get(x, x))
    ex = t["exposures"]
    # Half the eltrombopag rows in Chinese, half by brand: Table 2 must still count one drug.
    elt = ex.index[ex["drug"] == "eltrombopag"]
    ex.loc[elt[::2], "drug"] = "艾曲泊帕"
    ex.loc[elt[1::2], "drug"] = "Revolade"
    ex["drug"] = ex["drug"].map(lambda x: DRUGS_CN.get(x, x))
    ae = t["adverse_events"]
    ae["serious"] = ae["serious"].map(lambda x: YES_NO_CN.get(x, x))
    # WHO-UMC words: certain/probable/possible count as related, unlikely does not.
    ae["related"] = ae["related"].map({"yes": "possible", "no": "unlikely", "": ""})
    return t


def _workbook(tables: dict[str, pd.DataFrame], path: Path, *, title: str | None = None) -> Path:
    """One sheet per table; `title`: a title row above the header, as hospital exports have."""
    with pd.ExcelWriter(path) as xl:
        for name, df in tables.items():
            df.to_excel(xl, sheet_name=name, index=False, startrow=1 if title else 0)
            if title:
                xl.sheets[name].cell(row=1, column=1, value=f"{title} {name}")
    return path


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("hospital")
    english = _tables()
    chinese = _hospital_export(english)
    assert (chinese["labs"]["unit"] == "×10⁹/L").any() and (chinese["labs"]["test"] == "血小板计数").any()
    return (read_study(_workbook(english, tmp / "english.xlsx")),
            read_study(_workbook(chinese, tmp / "chinese.xlsx", title="北京某医院 导出")))


def test_chinese_export_reads_to_the_same_canonical_study(studies) -> None:
    en, cn = studies
    # The only warnings beyond the English workbook's: one title row per sheet.
    extra = [w for w in cn.warnings if w.message not in {v.message for v in en.warnings}]
    assert extra and all("looks like a title" in w.message and w.row == 1 for w in extra)
    assert len(extra) == 6
    assert list(cn.patients.sex) == list(en.patients.sex)
    for name, drop in (("patients", []), ("labs", ["test_as_written", "unit_as_written"]),
                       ("exposures", ["drug"]), ("transfusions", []), ("bleeding", []),
                       ("adverse_events", ["related_as_written"])):
        # Dates as written are kept as extra columns; the resolved days are compared.
        a, b = (s.drop(columns=drop + [c for c in s.columns if c.endswith("date")], errors="ignore")
                for s in (getattr(en, name), getattr(cn, name)))
        pd.testing.assert_frame_equal(a.drop(columns="source_row"), b.drop(columns="source_row"),
                                      check_like=True, obj=name)
        # Row numbers stay the spreadsheet's: one title row above the header.
        assert (getattr(cn, name).source_row == getattr(en, name).source_row + 1).all()
    assert set(cn.exposures.drug_name[cn.exposures.drug.isin(["艾曲泊帕", "Revolade"])]) == {"eltrombopag"}
    assert set(cn.adverse_events.related_as_written.dropna()) == {"possible", "unlikely"}


def test_chinese_export_gives_the_same_results(studies) -> None:
    en, cn = studies
    protocol = load_protocol(None)
    a, b = analyze_study(en, protocol).to_dict(), analyze_study(cn, protocol).to_dict()
    for key in ("cohort", "baseline_platelets", "landmarks", "response", "time_to_cr", "safety",
                "subgroups"):
        assert a[key] == b[key], key


@pytest.mark.parametrize("written, canonical", [
    ("×10⁹/L", "10^9/L"), ("×10^9/L", "10^9/L"), ("10^9/L", "10^9/L"), ("10*9/L", "10^9/L"),
    ("G/L", "10^9/L"), ("10³/µL", "10^9/L"), ("K/uL", "10^9/L"), ("10^3/uL", "10^9/L"),
    ("１０＾９／Ｌ", "10^9/L"),
])
def test_platelet_unit_spellings_are_one_unit(written: str, canonical: str) -> None:
    assert knowledge.unit_factor("PLT", written) == 1.0


@pytest.mark.parametrize("written, code", [
    ("血小板", "PLT"), ("血小板计数", "PLT"), ("PLT", "PLT"), ("血小板计数（PLT）", "PLT"),
    ("谷丙转氨酶", "ALT"), ("丙氨酸氨基转移酶", "ALT"), ("谷草转氨酶", "AST"),
    ("天门冬氨酸氨基转移酶", "AST"), ("总胆红素", "TBIL"), ("白细胞", "WBC"),
    ("中性粒细胞", "ANC"), ("血红蛋白", "HGB"),
])
def test_chinese_lab_names(written: str, code: str) -> None:
    assert knowledge.lab_test_code(written) == code


@pytest.mark.parametrize("written, drug, role", [
    ("维A酸", "tretinoin", "study_drug"), ("全反式维甲酸", "tretinoin", "study_drug"),
    ("Vesanoid", "tretinoin", "study_drug"),
    ("重组人血小板生成素", "rhTPO", "tpo_ra"), ("特比澳", "rhTPO", "tpo_ra"),
    ("罗米司亭", "romiplostim", "tpo_ra"), ("Nplate", "romiplostim", "tpo_ra"),
    ("艾曲泊帕", "eltrombopag", "tpo_ra"), ("Promacta", "eltrombopag", "tpo_ra"),
    ("阿伐曲泊帕", "avatrombopag", "tpo_ra"), ("苏可欣", "avatrombopag", "tpo_ra"),
    ("Doptelet", "avatrombopag", "tpo_ra"), ("海曲泊帕", "hetrombopag", "tpo_ra"),
    ("恒曲", "hetrombopag", "tpo_ra"), ("芦曲泊帕", "lusutrombopag", "tpo_ra"),
    ("Mulpleta", "lusutrombopag", "tpo_ra"), ("顺铂", "cisplatin", "anticancer"),
    ("昂丹司琼", "ondansetron", "other"),
])
def test_drug_names_in_any_language_have_one_canonical_name(written: str, drug: str, role: str) -> None:
    entry = knowledge.lookup_drug(written)
    assert (entry.drug, entry.role) == (drug, role)


def test_every_canonical_drug_has_one_role_and_a_class() -> None:
    entries = knowledge.drug_dictionary().values()
    roles: dict[str, set[str]] = {}
    for e in entries:
        roles.setdefault(e.drug, set()).add(e.role)
        assert e.drug_class, e.drug
    assert all(len(r) == 1 for r in roles.values())


def test_relatedness_scales() -> None:
    related = knowledge.vocabulary("related")
    assert [related[w] for w in ("certain", "probable", "possible", "unlikely", "definite",
                                 "doubtful", "是", "no")] == ["yes"] * 3 + ["no", "yes", "no", "yes", "no"]
    assert related["unassessable"] == related["conditional"] == ""


def test_dates_as_chinese_systems_print_them(tmp_path: Path) -> None:
    from ctit.errors import ProblemLog
    from ctit.readers.cells import Cells

    written = ["2024-03-25", "2024/03/25", "2024/3/25", "2024.03.25", "2024年3月25日",
               "2024/03/25 08:30", "20240325", "45376", "2024-03-25T08:30"]
    raw = pd.DataFrame({"d": written, "source_row": range(2, 2 + len(written))}).astype({"d": "string"})
    log = ProblemLog()
    parsed = Cells("labs", raw, log).date("d")
    assert not log.problems
    assert set(parsed) == {pd.Timestamp(dt.date(2024, 3, 25))}


def test_unknown_words_are_still_errors() -> None:
    from ctit.errors import ProblemLog
    from ctit.readers.cells import Cells

    raw = pd.DataFrame({"d": ["25/03/2024", "12"], "s": ["女士", "女"],
                        "source_row": [2, 3]}).astype({"d": "string", "s": "string"})
    log = ProblemLog()
    c = Cells("patients", raw, log)
    c.date("d")
    sex = c.choice("s", knowledge.vocabulary("sex"), "sex")
    assert [p.row for p in log.problems] == [2, 3, 2]
    assert sex.iloc[1] == "F"
