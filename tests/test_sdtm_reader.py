"""SDTM reader: public CDISC pilot data reads, partial dates, study days, precise errors."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest

from ctit.cdisc.dates import DtcError, parse_dtc, study_day_to_day
from ctit.cdisc.sdtm_writer import write_sdtm
from ctit.errors import InputError
from ctit.readers import read_study
from ctit.readers.sdtm import read_sdtm

EXAMPLE = Path(__file__).resolve().parents[1] / "src" / "ctit" / "examples" / "atra-ctit"


def pharmaverse_folder(shared: Path, dest: Path) -> Path:
    """pharmaversesdtm with the LB subset (PLAT, ALT, AST, BILI, WBC, HGB) as lb.csv."""
    src = shared / "pharmaverse" / "pharmaversesdtm"
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("dm.csv", "ex.csv", "ae.csv", "cm.rda", "suppdm.rda"):
        (dest / name).symlink_to(src / name)
    (dest / "lb.csv").symlink_to(src / "lb_plat_alt_ast_bili_wbc_hgb.csv")
    return dest


@pytest.fixture(scope="module")
def sdtm_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled example as SDTM CSV domains (no .xpt), to corrupt in tests."""
    out = tmp_path_factory.mktemp("sdtm")
    write_sdtm(read_study(EXAMPLE), out, formats=("csv",))
    return out


def test_pharmaverse_sdtm_reads(shared_data: Path, tmp_path: Path) -> None:
    study = read_sdtm(pharmaverse_folder(shared_data, tmp_path / "pv"))
    assert len(study.patients) == 306
    assert study.labs.patient_id.nunique() == 254
    assert set(study.labs.test) == {"PLT", "ALT", "AST", "TBIL", "WBC", "HGB"}
    assert (study.labs.loc[study.labs.test == "PLT", "unit"] == "10^9/L").all()
    # Day 0 = RFXSTDTC: 01-701-1015 started 2014-01-02; its screening ALT (2013-12-26) is day -7.
    p = study.patients.set_index("patient_id")
    assert p.at["01-701-1015", "index_date"] == "2014-01-02"
    alt = study.labs[(study.labs.patient_id == "01-701-1015") & (study.labs.test == "ALT")]
    assert alt.day.min() == -7
    # CM partial dates (CMSTDTC "2003") are imputed with one warning each.
    imputed = [w for w in study.warnings if w.table == "CM" and "imputed" in w.message]
    assert imputed and all(w.column in ("CMSTDTC", "CMENDTC") for w in imputed)
    # Unused rows are listed: BILI without a result, CM rows without a start.
    reasons = {r for _, _, r in study.unused_rows}
    assert any("BILI without a numeric result" in r for r in reasons)


def test_pharmaverse_full_lb_rda_reads(shared_data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "pv"
    folder.mkdir()
    src = shared_data / "pharmaverse" / "pharmaversesdtm"
    for name in ("dm.rda", "lb.rda"):
        (folder / name).symlink_to(src / name)
    (folder / "ex.csv").symlink_to(src / "ex.csv")
    study = read_sdtm(folder)
    assert study.labs.patient_id.nunique() == 254
    # Tests ctit does not know are listed as unused, never an error.
    assert any("is not one ctit knows" in r for _, _, r in study.unused_rows)


def test_phuse_xpt_reads(shared_data: Path) -> None:
    study = read_sdtm(shared_data / "phuse-cdiscpilot-xpt")
    assert len(study.patients) == 306
    plt = study.labs[study.labs.test == "PLT"]
    assert len(plt) > 1500 and plt.value.min() == 92
    assert len(study.adverse_events) == 961


def test_partial_dates_and_study_days() -> None:
    assert parse_dtc("2003").impute("first") == dt.date(2003, 1, 1)
    assert parse_dtc("2003").impute("last") == dt.date(2003, 12, 31)
    assert parse_dtc("2024-02").impute("last") == dt.date(2024, 2, 29)
    assert parse_dtc("2003---15").impute("first") == dt.date(2003, 1, 1)
    assert parse_dtc("2014-01-16T13:17").impute("none") == dt.date(2014, 1, 16)
    assert parse_dtc("2014-01").impute("none") is None
    with pytest.raises(DtcError):
        parse_dtc("16/01/2014")
    with pytest.raises(DtcError):
        parse_dtc("2023-02-29")
    assert [study_day_to_day(d) for d in (1, 2, -1, -7)] == [0, 1, -1, -7]


def _corrupt(src: Path, dest: Path, domain: str, edit) -> Path:  # type: ignore[no-untyped-def]
    shutil.copytree(src, dest)
    path = dest / f"{domain}.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    edit(frame)
    frame.to_csv(path, index=False)
    return dest


def _errors(folder: Path) -> list:  # type: ignore[type-arg]
    with pytest.raises(InputError) as exc:
        read_sdtm(folder)
    return exc.value.errors


def test_missing_usubjid(sdtm_csv: Path, tmp_path: Path) -> None:
    folder = _corrupt(sdtm_csv, tmp_path / "s", "lb", lambda f: f.__setitem__("USUBJID", f.USUBJID.mask(f.index == 3, "")))
    errors = _errors(folder)
    assert any(e.table == "LB" and e.row == 5 and e.column == "USUBJID" and "missing" in e.message
               for e in errors), errors


def test_unparseable_dtc(sdtm_csv: Path, tmp_path: Path) -> None:
    folder = _corrupt(sdtm_csv, tmp_path / "s", "lb", lambda f: f.__setitem__("LBDTC", f.LBDTC.mask(f.index == 0, "03/01/2024")))
    errors = _errors(folder)
    assert [(e.table, e.row, e.column, e.value) for e in errors] == [("LB", 2, "LBDTC", "03/01/2024")]


def test_unknown_unit_for_graded_test(sdtm_csv: Path, tmp_path: Path) -> None:
    def edit(f: pd.DataFrame) -> None:
        i = f.index[f.LBTESTCD == "PLAT"][0]
        f.loc[i, "LBSTRESU"] = "furlongs"
    folder = _corrupt(sdtm_csv, tmp_path / "s", "lb", edit)
    errors = _errors(folder)
    assert len(errors) == 1
    e = errors[0]
    assert (e.table, e.column, e.value) == ("LB", "LBSTRESU", "furlongs") and "unknown unit for PLT" in e.message


def test_subject_in_lb_not_in_dm(sdtm_csv: Path, tmp_path: Path) -> None:
    folder = _corrupt(sdtm_csv, tmp_path / "s", "lb", lambda f: f.__setitem__("USUBJID", f.USUBJID.mask(f.index == 9, "P99")))
    errors = _errors(folder)
    # The unknown subject, then (a consequence) its dated row without a day 0.
    assert (errors[0].table, errors[0].row, errors[0].column, errors[0].value) == ("LB", 11, "USUBJID", "P99")
    assert "not in the DM domain" in errors[0].message


def test_study_days_only(sdtm_csv: Path, tmp_path: Path) -> None:
    """Without --DTC anywhere, --DY gives the contract's days (no day 0 in CDISC)."""
    dest = tmp_path / "s"
    shutil.copytree(sdtm_csv, dest)
    for f in dest.glob("*.csv"):
        frame = pd.read_csv(f, dtype=str, keep_default_na=False)
        for c in [c for c in frame.columns if c.endswith("DTC")]:
            frame[c] = ""
        frame.to_csv(f, index=False)
    by_days = read_sdtm(dest)
    original = read_study(EXAMPLE)
    key = ["patient_id", "test", "day", "value"]
    a = by_days.labs[key].sort_values(key).reset_index(drop=True)
    # The SDTM subject key is the study-unique USUBJID: "CTIT-" + the study's patient_id.
    b = original.labs[key].assign(patient_id="CTIT-" + original.labs.patient_id.astype(str))
    b = b.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


def test_partial_dates_are_one_warning_per_dataset_and_variable(shared_data: Path, tmp_path: Path) -> None:
    study = read_sdtm(pharmaverse_folder(shared_data, tmp_path / "pv"))
    imputed = [w for w in study.warnings if "imputed" in w.message]
    keys = [(w.table, w.column) for w in imputed]
    assert imputed and len(keys) == len(set(keys))
    # Thousands of CM partial dates become a line per variable, with the count and examples.
    cm = [w for w in imputed if w.table == "CM"]
    assert all(" partial dates imputed by rule" in w.message and "e.g." in w.message for w in cm)
    assert sum(int(w.message.split()[0]) for w in cm) > 1000
    assert len(study.warnings) < 100


def _renamed_study_drug(sdtm_csv: Path, dest: Path) -> Path:
    """The example's EX with an in-house code the dictionary does not know, and no EXCAT."""
    def edit(f: pd.DataFrame) -> None:
        f["EXTRT"] = "ATRX-001"
        f["EXCAT"] = ""
    return _corrupt(sdtm_csv, dest, "ex", edit)


def test_study_drug_named_on_the_command_line(sdtm_csv: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ctit.cli import app

    folder = _renamed_study_drug(sdtm_csv, tmp_path / "s")
    plain = read_sdtm(folder)
    advice = [w for w in plain.warnings if w.table == "EX" and "drug not in the dictionary" in w.message]
    assert advice and "EXCAT" in advice[0].message and "--study-drug" in advice[0].message
    assert "role column" not in advice[0].message
    assert not (plain.exposures.role == "study_drug").any()
    named = read_sdtm(folder, drug_roles={"atrx-001": "study_drug"})
    ex = named.exposures[named.exposures.sdtm_domain == "EX"]
    assert len(ex) and (ex.role == "study_drug").all()
    original = read_study(EXAMPLE)
    assert len(ex) == int((original.exposures.role == "study_drug").sum())
    runner = CliRunner()
    r = runner.invoke(app, ["validate", str(folder), "--from", "sdtm", "--study-drug", "ATRX-001"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["analyze", str(folder), "--from", "sdtm", "--study-drug", "ATRX-001",
                            "--out", str(tmp_path / "out"), "-q", "-f", "json"])
    assert r.exit_code == 0, r.output
    import json
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    from ctit.protocol import load_protocol
    from ctit.results import analyze_study

    # Named, the study drug gives every patient back the day 0 and inclusion of the direct read.
    assert results["response"]["n"] == analyze_study(original, load_protocol(None)).response["n"]
    r = runner.invoke(app, ["validate", str(EXAMPLE), "--study-drug", "ATRA"])
    assert r.exit_code == 2
