"""Small-cell suppression of `ctit analyze --min-cell-count` and `ctit report` (docs/report.md):
on the bundled example (32 screened, one patient per exclusion reason, 27 included, CR 12,
PR 7, NR 8, a handful of patients per adverse event) no count from 1 to 4 reaches
results.json, the terminal, report.html or report.docx, and no per-patient file is written."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html import unescape
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ctit.cli import app
from ctit.reports import format as fmt
from ctit.reports.suppression import COUNT_KEYS, protect, suppress

runner = CliRunner()
EXAMPLE = Path(str(resources.files("ctit").joinpath("examples", "atra-ctit")))
# A count of 1-4 as a table cell writes it: "3", "3 (11.1)", "3/27", "27/3", "drug 3,".
SMALL = re.compile(r"(?:^|[ (/])[1-4](?:$| \(|/|,|\))")


@pytest.fixture(autouse=True)
def _style() -> Iterator[None]:
    """The CLI sets the report style of the process; later tests get the default back."""
    before = fmt.STYLE
    yield
    fmt.set_style(before)


@pytest.fixture(scope="module")
def suppressed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("suppressed") / "out"
    before = fmt.STYLE
    try:
        result = runner.invoke(app, ["analyze", str(EXAMPLE), "--out", str(out), "--min-cell-count", "5",
                                     "--sensitivity", "-f", "html,docx,xlsx,figures"])
    finally:
        fmt.set_style(before)
    assert result.exit_code == 0, result.output
    return out, result.output


def _counts(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k in COUNT_KEYS or path.endswith("by_grade"):
                yield f"{path}.{k}", v
            yield from _counts(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _counts(v, f"{path}[{i}]")


def test_results_json_has_no_count_below_five(suppressed: tuple[Path, str]) -> None:
    data = json.loads((suppressed[0] / "results.json").read_text(encoding="utf-8"))
    small = [(p, v) for p, v in _counts(data) if isinstance(v, int) and 0 < v < 5]
    assert small == []
    c = data["cohort"]
    # One patient per exclusion reason: each shown as <5; screened and included stay.
    assert (c["screened"], c["included"]) == (32, 27)
    assert {e["reason"]: e["n"] for e in c["excluded"]} == {
        "no_study_drug": "<5", "no_prior_tpo_ra": "<5", "no_baseline_platelets": "<5",
        "baseline_not_grade_2_plus": "<5", "no_post_baseline_platelets": "<5"}
    r = data["response"]
    assert (r["cr"]["n"], r["pr"]["n"], r["nr"]["n"], r["orr"]["n"]) == (12, 7, 8, 19)
    # Liver enzymes: 4 patients (3 grade 1, 1 grade 2): every cell and the percentage hidden.
    liver = data["safety"]["events"][0]
    assert liver["n_any"] == "<5" and liver["pct_any"] is None
    assert liver["by_grade"] == {"1": "<5", "2": "<5", "3": 0, "4": 0}
    # A percentage or CI is never left beside a hidden count.
    for sg in data["subgroups"]:
        if isinstance(sg["n"], str) or isinstance(sg["responders"], str):
            assert sg["pct"] is None and sg["ci95_low"] is None and sg["ci95_high"] is None
    for row in data["sensitivity"]:
        for k in ("cr", "pr", "orr"):
            if isinstance(row[f"{k}_n"], str):
                assert row[f"{k}_pct"] is None and row[f"{k}_ci_low"] is None
        assert not re.search(r"\b[1-4]\b", row["categories"]), row["categories"]
    assert data["suppression"]["min_cell_count"] == 5 and data["suppression"]["cells_suppressed"] > 0
    assert "inputs" not in data


def test_per_patient_outputs_are_not_written(suppressed: tuple[Path, str]) -> None:
    out = suppressed[0]
    for name in ("patients.csv", "unused_rows.csv", "listings.xlsx"):
        assert not (out / name).exists(), name
    figures = sorted(p.name for p in (out / "figures").glob("*.svg"))
    # Only figures drawn from the suppressed aggregates, numbered without gaps.
    assert figures == ["figure1_flow.svg", "figure2_forest.svg"]
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "tbl-listing" not in html and "Withheld under small-cell suppression" in html


def _html_cells(html: str) -> dict[str, list[list[str]]]:
    tables = {}
    for key, body in re.findall(r"<table id='tbl-([a-z0-9_]+)'.*?<tbody>(.*?)</tbody>", html, re.S):
        rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
        tables[key] = [[unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)] for row in rows]
    return tables


def test_report_html_shows_no_count_below_five(suppressed: tuple[Path, str]) -> None:
    html = (suppressed[0] / "report.html").read_text(encoding="utf-8")
    tables = _html_cells(html)
    assert {"attrition", "table1", "response", "subgroups", "safety", "sensitivity"} <= set(tables)
    for key, rows in tables.items():
        if key == "protocol":
            continue   # parameter values, not counts
        for row in rows:
            values = row[2:] if key == "sensitivity" else row[1:]   # sensitivity: "what changed" is text
            if key == "table1" and row and "(" in row[0]:
                values = row   # drug-class rows carry per-drug counts in the label
            assert not [v for v in values if SMALL.search(re.sub(r"grade \d", "", v))], (key, row)
    attrition = {r[0]: r[1] for r in tables["attrition"]}
    assert attrition["No study-drug (ATRA) exposure"] == "<5"
    assert attrition["Patients included (refractory CTIT)"] == "27"
    text = re.search(r"<section id='results'>(.*?)</section>", html, re.S).group(1)
    assert "<5 patients had elevated liver enzymes" in unescape(text)
    assert not re.search(r"\b[1-4] patients?\b", unescape(text))
    methods = unescape(re.search(r"<section id='methods'>(.*?)</section>", html, re.S).group(1))
    assert "minimum cell count 5" in methods
    assert "Small-cell suppression (minimum cell count 5" in unescape(html)


def test_report_docx_tables_show_no_count_below_five(suppressed: tuple[Path, str]) -> None:
    from docx import Document

    doc = Document(str(suppressed[0] / "report.docx"))
    assert len(doc.tables) >= 6
    for table in doc.tables:
        for row in table.rows[1:]:
            cells = [c.text for c in row.cells]
            values = cells if "(" in cells[0] and "," in cells[0] else cells[1:]
            if "What changed" in table.rows[0].cells[1].text:
                values = cells[2:]
            assert not [v for v in values if SMALL.search(re.sub(r"[Gg]rade \d", "", v))], cells
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "<5 patients had elevated liver enzymes" in text and "minimum cell count 5" in text


def test_terminal_summary_shows_the_suppressed_results(suppressed: tuple[Path, str]) -> None:
    output = " ".join(suppressed[1].split())
    assert "Excluded: no_study_drug <5, no_prior_tpo_ra <5" in output
    assert "<5 patients had elevated liver enzymes" in output
    assert "Small-cell suppression (min cell count 5" in output


def test_report_rerenders_at_the_saved_threshold_or_another(suppressed: tuple[Path, str], tmp_path: Path) -> None:
    import shutil

    out = tmp_path / "out"
    shutil.copytree(suppressed[0], out)
    before = json.loads((out / "results.json").read_text(encoding="utf-8"))
    result = runner.invoke(app, ["report", str(out), "-f", "html", "-q"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "results.json").read_text(encoding="utf-8")) == before
    assert not (out / "patients.csv").exists()
    # The store keeps the full numbers: without suppression everything comes back.
    result = runner.invoke(app, ["report", str(out), "-f", "html", "-q", "--min-cell-count", "0"])
    assert result.exit_code == 0, result.output
    full = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert [e["n"] for e in full["cohort"]["excluded"]] == [1, 1, 1, 1, 1]
    assert "suppression" not in full and (out / "patients.csv").exists()


def test_complementary_cells_close_every_sum() -> None:
    """CR 3 (hidden) + PR 10 = ORR 13 of 30: hiding PR, not NR and the ORR, keeps CR hidden."""
    cells = {"n": 30, "cr": 3, "pr": 10, "nr": 17, "ne": 0, "orr": 13}
    sums = [["n", "cr", "pr", "nr", "ne"], ["orr", "cr", "pr"], ["n", "orr", "nr", "ne"]]
    assert protect(cells, sums, 5, fixed=["n"]) == {"cr": "<5", "pr": "suppressed"}
    # 25 of 27 with a prior drug gives 2 without: the 25 is hidden (the 2 is no cell).
    assert protect({"N": 27, "k": 25, "x": 2}, [["N", "k", "x"]], 5, fixed=["N"]) == {"x": "<5", "k": "suppressed"}


def test_share_suppresses_the_sensitivity_rows() -> None:
    row = {"key": "protocol", "n": 27, "cr_n": 12, "cr_pct": 44.4, "cr_ci_low": 25.0, "cr_ci_high": 64.0,
           "pr_n": 3, "pr_pct": 11.1, "pr_ci_low": 2.0, "pr_ci_high": 29.0, "orr_n": 15, "orr_pct": 55.6,
           "orr_ci_low": 35.0, "orr_ci_high": 74.0, "categories": "CR 12; PR 3; NR 12; NE 0", "orr_of": "CR + PR"}
    out = suppress({"sensitivity": [row]}, 5)["sensitivity"][0]
    # PR 3 is hidden; CR with it (CR + PR = ORR); NR 12 and the ORR stay.
    assert (out["cr_n"], out["pr_n"], out["orr_n"]) == ("suppressed", "<5", 15)
    assert out["pr_pct"] is None and out["cr_pct"] is None and out["orr_pct"] == 55.6
    assert out["categories"] == "CR suppressed; PR <5; NR 12; NE 0"
