"""The study report (HTML, DOCX, XLSX, figures) on the bundled example study.

Every number shown is compared with results.json, parsed back from the rendered document
(HTML tables by id, DOCX tables in order, XLSX sheets); nothing is hard-coded.
"""

from __future__ import annotations

import json
import math
import re
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ctit.cli import app

runner = CliRunner()
EXAMPLE = Path(str(resources.files("ctit").joinpath("examples", "atra-ctit")))
SUPERSCRIPT = str.maketrans("\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079", "-0123456789")
DOCX_TABLES = ("table1", "response", "landmarks", "time_to_cr", "subgroups", "safety")  # the flow is Figure 1


# ---------------------------------------------------------------- helpers

def numbers(text: str) -> list[float | None]:
    """Numbers in a cell, in order: 'm.mm × 10⁻ᵉ' as one value, 'not estimable' as None."""
    text = text.translate(SUPERSCRIPT)
    out: list[float | None] = []
    for m in re.finditer(r"not estimable|(-?(?:\d+(?:\.\d+)?|\.\d+))(?: \u00d7 10(-?\d+))?", text):
        if m.group(0) == "not estimable":
            out.append(None)
        else:
            out.append(float(m.group(1)) * (10 ** int(m.group(2)) if m.group(2) else 1))
    return out


def take(text: str, k: int) -> list[float | None]:
    """The first k numbers of a cell; a lone 'not estimable' stands for all k."""
    got = numbers(text)
    return [None] * k if got == [None] else got[:k]


def close(got: float | None, want: float | None, decimals: int = 1) -> bool:
    if want is None or got is None:
        return got is None and want is None
    return math.isclose(got, round(want, decimals), abs_tol=0.5 * 10 ** -decimals + 1e-9)


def close_p(cell: str, want: float | None) -> bool:
    """A p-value cell in AMA style: '<.001' below .001, else two decimals (three below .01)."""
    got = numbers(cell)[0] if numbers(cell) else None
    if want is None or got is None:
        return got is None and want is None
    if cell.startswith("<"):
        return want < got
    if cell.startswith(">"):
        return want > got
    return math.isclose(got, want, abs_tol=0.005 if want >= 0.01 else 5e-4)


class _Tables(HTMLParser):
    """Cells of every <table id=...>, row by row."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._id: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._id = dict(attrs).get("id")
            self.tables[self._id or ""] = []
        elif tag == "tr" and self._id:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._id:
            self.tables[self._id].append(self._row)
            self._row = None
        elif tag == "table":
            self._id = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_tables(path: Path) -> dict[str, list[list[str]]]:
    p = _Tables()
    p.feed(path.read_text(encoding="utf-8"))
    return {k.removeprefix("tbl-"): v[1:] for k, v in p.tables.items()}  # drop header rows


def docx_tables(path: Path) -> dict[str, list[list[str]]]:
    import docx

    doc = docx.Document(str(path))
    assert len(doc.tables) == len(DOCX_TABLES)
    return {key: [[c.text for c in row.cells] for row in t.rows[1:]] for key, t in zip(DOCX_TABLES, doc.tables)}


def row_by_label(rows: list[list[str]], label: str) -> list[str]:
    found = [r for r in rows if r and r[0].strip().startswith(label)]
    assert found, f"no row {label!r} in {[r[0] for r in rows]}"
    return found[0]


# ---------------------------------------------------------------- the shared check

def check_tables(tables: dict[str, list[list[str]]], res: dict[str, Any]) -> None:
    """Every number of the report's tables against results.json."""
    labels = {"cr": "Complete", "pr": "Partial", "nr": "No response", "ne": "Not evaluable", "orr": "Overall"}
    for key, label in labels.items():
        want = res["response"][key]
        row = row_by_label(tables["response"], label)
        assert numbers(row[1]) == [want["n"]]
        assert close(numbers(row[2])[0], want["pct"])
        lo, hi = take(row[3], 2)
        assert close(lo, want["ci95_low"]) and close(hi, want["ci95_high"])

    for m in res["landmarks"]:
        row = row_by_label(tables["landmarks"], f"Day {m['day']}")
        assert numbers(row[1]) == [m["n_pairs"]]
        med, lo, hi = take(row[2], 3)
        assert close(med, m["median_change"]) and close(lo, m["min_change"]) and close(hi, m["max_change"])
        assert close_p(row[3], m["p_value"])

    t = res["time_to_cr"]
    rows = tables["time_to_cr"]
    assert numbers(row_by_label(rows, "Patients with CR")[1]) == [t["n"]]
    med, lo, hi = take(row_by_label(rows, "Time to CR among")[1], 3)
    assert close(med, t["median"]) and close(lo, t["min"]) and close(hi, t["max"])
    km = row_by_label(rows, "Kaplan-Meier median time")[1]
    assert km == "not reached" if t["km_median"] is None and t["n"] else close(numbers(km)[0], t["km_median"])
    lo, hi = take(row_by_label(rows, "Kaplan-Meier median, 95% CI")[1], 2)
    assert close(lo, t["km_ci95_low"]) and close(hi, t["km_ci95_high"])

    c = res["cohort"]
    if "attrition" in tables:   # HTML; in DOCX the patient flow is Figure 1 only
        assert numbers(row_by_label(tables["attrition"], "Patients screened")[1]) == [c["screened"]]
        assert numbers(row_by_label(tables["attrition"], "Patients included")[1]) == [c["included"]]
        assert sorted(numbers(r[1])[0] for r in tables["attrition"][1:-1]) == sorted(e["n"] for e in c["excluded"])

    b = res["baseline_platelets"]
    med, q1, q3 = take(row_by_label(tables["table1"], "Baseline platelet count, \u00d710\u2079/L, median (IQR)")[1], 3)
    assert close(med, b["median"]) and close(q1, b["q1"]) and close(q3, b["q3"])
    lo, hi = take(row_by_label(tables["table1"], "Baseline platelet count, \u00d710\u2079/L, range")[1], 2)
    assert close(lo, b["min"]) and close(hi, b["max"])

    n = res["response"]["n"]
    for e in res["safety"]["events"]:
        row = row_by_label(tables["safety"], e["term"])
        k, pct = take(row[1], 2)
        assert k == e["n_any"] and close(pct, e["pct_any"])
        for g, count in e["by_grade"].items():
            got = numbers(row[1 + int(g)])
            assert got[0] == count and close(got[1], 100 * count / n)

    o = res["response"]["orr"]
    row = row_by_label(tables["subgroups"], "All included patients")
    assert numbers(row[1]) == [o["n"], n]


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`ctit analyze` on the example, every format."""
    folder = tmp_path_factory.mktemp("report")
    result = runner.invoke(app, ["analyze", str(EXAMPLE), "--out", str(folder), "-q"])
    assert result.exit_code == 0, result.output
    return folder


@pytest.fixture(scope="module")
def res(out: Path) -> dict[str, Any]:
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


# ---------------------------------------------------------------- HTML

def test_html_tables_match_results_json(out: Path, res: dict[str, Any]) -> None:
    check_tables(html_tables(out / "report.html"), res)


def test_html_is_self_contained(out: Path) -> None:
    text = (out / "report.html").read_text(encoding="utf-8")
    assert "<script" not in text.lower()
    # No external reference of any kind: only in-page anchors and data: URIs.
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", text)
    assert all(r.startswith(("#", "data:")) for r in refs), [r for r in refs if not r.startswith(("#", "data:"))]
    assert "http://" not in text.replace("http://www.w3.org/", "") and "https://" not in text
    assert "@page" in text and "@media print" in text
    assert text.count("<svg") >= 7  # flow diagram and six figures, inline


def test_html_paragraphs_and_provenance(out: Path, res: dict[str, Any]) -> None:
    text = (out / "report.html").read_text(encoding="utf-8")
    r = res["response"]
    assert f"CR was achieved in {r['cr']['n']} patients ({r['cr']['pct']:.1f}%" in text
    assert f"({r['orr']['n']}/{r['n']} patients" in text
    p = res["protocol"]
    methods = re.search(r"<h2>Methods</h2><p>(.*?)</p>", text, flags=re.S).group(1)
    for name in ("followup_end_day", "tpo_ra_min_days", "baseline_lookback_days", "nadir_lookback_days",
                 "onset_by_day", "sustain_days", "transfusion_washout_days", "cr_threshold", "pr_grade_improvement",
                 "landmark_window_days", "wilcoxon_exact_max_n", "teae_window_days", "enzyme_baseline_lookback_days",
                 "default_enzyme_uln", "dose_mg_per_m2", "dose_rounding_mg", "planned_treatment_days"):
        number = f"{p[name]:g}"
        assert re.search(rf"(?<![\d.]){re.escape(number)}(?![\d.])", methods), (name, number)
    for f in res["inputs"]:
        assert f["sha256"] in text
    assert f"ctit {p['version']}" in text


# ---------------------------------------------------------------- DOCX

def test_docx_tables_match_results_json(out: Path, res: dict[str, Any]) -> None:
    check_tables(docx_tables(out / "report.docx"), res)


def test_docx_captions_figures_and_page_numbers(out: Path) -> None:
    import docx

    doc = docx.Document(str(out / "report.docx"))
    captions = [p.text for p in doc.paragraphs if p.style.name == "Caption"]
    assert [c.split(".")[0] for c in captions if c.startswith("Table")] == [
        f"Table {i}" for i in range(1, len(DOCX_TABLES) + 1)]
    assert [c.split(".")[0] for c in captions if c.startswith("Figure")] == [f"Figure {i}" for i in range(1, 8)]
    assert captions[[c.startswith("Figure") for c in captions].index(True)].startswith("Figure 1. Patient flow")
    assert len(doc.inline_shapes) == 7
    footer = doc.sections[0].footer.paragraphs[0]._p.xml
    assert "PAGE" in footer and "fldChar" in footer
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "Abbreviations" in text and "Clopper-Pearson" in text


# ---------------------------------------------------------------- XLSX

def test_xlsx_listings(out: Path, res: dict[str, Any]) -> None:
    import csv

    import openpyxl

    wb = openpyxl.load_workbook(out / "listings.xlsx", read_only=False)
    for name in ("patients", "labs", "response_windows", "transfusions", "bleeding", "adverse_events"):
        ws = wb[name]
        assert ws.freeze_panes == "A2" and ws.auto_filter.ref, name
    ws = wb["patients"]
    header = [c.value for c in ws[1]]
    rows = [dict(zip(header, r)) for r in ws.iter_rows(min_row=2, values_only=True)]
    with (out / "patients.csv").open(encoding="utf-8") as fh:
        csv_rows = {r["patient_id"]: r for r in csv.DictReader(fh)}
    assert {r["patient_id"] for r in rows} == set(csv_rows)
    for r in rows:
        for col in ("baseline_plt", "best_response", "time_to_cr", "liver_max_grade"):
            want = csv_rows[r["patient_id"]][col]
            got = r[col]
            assert (got is None and want == "") or str(got) == want or float(got) == float(want), (col, got, want)
    included = [r for r in rows if r["included"]]
    assert len(included) == res["cohort"]["included"]
    for key in ("cr", "pr", "nr", "ne"):
        assert sum(r["best_response"] == key.upper() for r in included) == res["response"][key]["n"]
    for m in res["landmarks"]:
        assert sum(r[f"plt_d{m['day']}"] is not None for r in included) == m["n_pairs"]
    liver = next(e for e in res["safety"]["events"] if e["source"] == "lab")
    for g, k in liver["by_grade"].items():
        assert sum(r["liver_max_grade"] == int(g) for r in included) == k
    labs = wb["labs"]
    assert labs.max_row - 1 == sum(f["rows"] for f in res["inputs"] if f["table"] == "labs")
    windows = wb["response_windows"]
    onset_col = [c.value for c in windows[1]].index("onset_day")
    cr = [r for r in windows.iter_rows(min_row=2, values_only=True) if r[[c.value for c in windows[1]].index("category")] == "CR"]
    assert len(cr) == res["response"]["cr"]["n"] and all(r[onset_col] is not None for r in cr)


def test_a_listing_longer_than_a_sheet_continues_on_numbered_sheets(tmp_path: Path, monkeypatch) -> None:
    """A worksheet holds 1,048,576 rows; a longer listing (the graded labs of a large study)
    continues on `labs (2)`, `labs (3)`, ..., each with the header, every row once, in order.
    The limit is lowered here so the example's 898 lab rows need several sheets."""
    import openpyxl

    from ctit.protocol import load_protocol
    from ctit.readers import read_study
    from ctit.reports import xlsx
    from ctit.results import analyze_study

    results = analyze_study(read_study(EXAMPLE), load_protocol())
    whole = results.derivations.graded_labs
    monkeypatch.setattr(xlsx, "EXCEL_MAX_ROWS", 401)
    wb = openpyxl.load_workbook(xlsx.write_xlsx(results, tmp_path), read_only=True)
    parts = [n for n in wb.sheetnames if n == "labs" or n.startswith("labs (")]
    assert parts == ["labs"] + [f"labs ({k})" for k in range(2, len(parts) + 1)]
    assert len(parts) == -(-len(whole) // 400)
    rows = []
    for name in parts:
        sheet = list(wb[name].iter_rows(values_only=True))
        assert sheet[0][-1] == "source_row" and len(sheet) - 1 <= 400
        rows += [r[-1] for r in sheet[1:]]
    assert rows == whole.source_row.tolist()


# ---------------------------------------------------------------- figures, formats, re-render

def test_figures_png_300_dpi_and_svg(out: Path) -> None:
    from PIL import Image

    pngs = sorted((out / "figures").glob("*.png"))
    assert len(pngs) == 7 and len(list((out / "figures").glob("*.svg"))) == 7
    for p in pngs:
        with Image.open(p) as im:
            assert round(im.info["dpi"][0]) == 300


def test_report_rerenders_without_analysis(out: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    (copy / "report.html").unlink()
    (copy / "report.docx").unlink()
    result = runner.invoke(app, ["report", str(copy), "-f", "html,docx", "-q"])
    assert result.exit_code == 0, result.output
    # The contract outputs written from the rebuilt results are byte-identical.
    for name in ("results.json", "patients.csv"):
        assert (copy / name).read_bytes() == (out / name).read_bytes(), name
    strip = lambda s: re.sub(r"generated [^<]*", "", s)  # noqa: E731
    assert strip((copy / "report.html").read_text()) == strip((out / "report.html").read_text())
    check_tables(docx_tables(copy / "report.docx"), json.loads((copy / "results.json").read_text()))


def test_report_without_analysis_data_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "ctit analyze" in result.output


def test_format_option_chooses_outputs(tmp_path: Path) -> None:
    from ctit.reports import REPORT_FORMATS, parse_formats

    assert parse_formats(["html", "docx,xlsx"]) == ("html", "docx", "xlsx")
    assert parse_formats(["json,csv"]) == ()
    assert parse_formats(None) == REPORT_FORMATS == parse_formats(["all"])
    with pytest.raises(ValueError, match="pdf"):
        parse_formats(["pdf"])
    result = runner.invoke(app, ["report", str(tmp_path), "--format", "pdf"])
    assert result.exit_code == 2


# ---------------------------------------------------------------- degradation

def _subset(dst: Path, ids: list[str] | None = None, drop: tuple[str, ...] = ()) -> Path:
    """A copy of the example with only `ids` and without the `drop` tables."""
    import csv

    dst.mkdir(parents=True)
    for f in EXAMPLE.glob("*.csv"):
        if f.stem in drop or f.stem == "expected":
            continue
        with f.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
        keep = [rows[0]] + [r for r in rows[1:] if ids is None or r[0] in ids]
        with (dst / f.name).open("w", encoding="utf-8", newline="") as fh:
            csv.writer(fh).writerows(keep)
    return dst


CASES = {
    # cr_threshold beyond any count, individual baselines off: nobody reaches CR.
    "no_cr": (None, (), {"cr_threshold": 2000, "use_individual_baseline": False}),
    "single_patient": (["P01"], (), None),
    # P27 has no platelet count after day 0: nobody is included.
    "no_post_baseline_count": (["P27"], (), None),
    "no_optional_tables": (["P01", "P07", "P19"], ("transfusions", "bleeding", "adverse_events"), None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_degraded_studies_render_not_estimable(case: str, tmp_path: Path) -> None:
    from ctit.protocol import load_protocol
    from ctit.reports.figures import render_figures
    from ctit.reports.html import write_html
    from ctit.reports.outputs import write_outputs
    from ctit.reports.xlsx import write_xlsx
    from ctit.results import analyze_study
    from ctit.sources import read_source

    ids, drop, overrides = CASES[case]
    study = read_source(_subset(tmp_path / "study", ids, drop), "study")
    results = analyze_study(study, load_protocol(overrides=overrides))
    figures = render_figures(results, png=False)
    out = tmp_path / "out"
    write_outputs(results, out)
    write_html(results, out, figures)
    write_xlsx(results, out)
    text = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "not estimable" in text.lower()
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    check_tables(html_tables(tmp_path / "out" / "report.html"), res)
    not_estimable = {f.key for f in figures if not f.estimable}
    if case == "no_cr":
        assert res["response"]["cr"]["n"] == 0
        assert "No CR observed" in figures[[f.key for f in figures].index("cumulative_cr")].svg
    if case == "no_post_baseline_count":
        assert res["cohort"]["included"] == 0
        assert not_estimable == {f.key for f in figures} - {"flow"}   # the flow always has its counts
    if case == "single_patient":
        assert res["cohort"]["included"] == 1
        assert "Median and IQR not estimable" in next(f for f in figures if f.key == "trajectories").svg
    if case == "no_optional_tables":
        swimmer = next(f for f in figures if f.key == "swimmer")
        assert "No platelet transfusion and no bleeding" in swimmer.svg
