"""`ctit analyze --sensitivity`: the definition-sensitivity table on results.json and as a
section of report.html and report.docx, re-rendered by `ctit report`. The protocol's row is
the main analysis; the section shows the table's numbers and nothing else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ctit.cli import app
from test_report import close, html_tables, numbers

runner = CliRunner()
TITLE = "Sensitivity to the response definition"


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("sens")
    study, folder = base / "study", base / "out"
    assert runner.invoke(app, ["example", str(study)]).exit_code == 0
    result = runner.invoke(app, ["analyze", str(study), "--out", str(folder), "--sensitivity",
                                 "-f", "html,docx", "-q"])
    assert result.exit_code == 0, result.output
    return folder


@pytest.fixture(scope="module")
def res(out: Path) -> dict[str, Any]:
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


def check_rows(rows: list[list[str]], table: list[dict[str, Any]]) -> None:
    """Each rendered row against its definition's row of results.json, in order."""
    assert [r[0] for r in rows] == [d["definition"] for d in table]
    for cells, d in zip(rows, table):
        assert cells[1] == d["changed"]
        for cell, key in zip(cells[2:5], ("cr", "pr", "orr")):
            k, pct = numbers(cell)
            assert k == d[f"{key}_n"] and close(pct, d[f"{key}_pct"])
        lo, hi = numbers(cells[5])
        assert close(lo, d["orr_ci_low"]) and close(hi, d["orr_ci_high"])


def range_sentence(table: list[dict[str, Any]]) -> str:
    orr = [d["orr_pct"] for d in table]
    return f"the ORR ranged from {min(orr):.1f}% "


def test_protocol_row_is_the_main_response(res: dict[str, Any]) -> None:
    rows = res["sensitivity"]
    main = next(d for d in rows if d["key"] == "protocol")
    assert main["n"] == res["response"]["n"]
    for key in ("cr", "pr", "orr"):
        want = res["response"][key]
        assert (main[f"{key}_n"], main[f"{key}_ci_low"], main[f"{key}_ci_high"]) == (
            want["n"], want["ci95_low"], want["ci95_high"])
    assert {d["key"] for d in rows} >= {"library:iwg-itp-2009", "sustain_days=14", "cr_threshold=75"}


def test_html_section_shows_the_table(out: Path, res: dict[str, Any]) -> None:
    text = (out / "report.html").read_text(encoding="utf-8")
    assert f"<h2>{TITLE}</h2>" in text and "id='fig-tornado'" in text
    assert range_sentence(res["sensitivity"]) in text
    check_rows(html_tables(out / "report.html")["sensitivity"], res["sensitivity"])


def test_docx_section_shows_the_table(out: Path, res: dict[str, Any]) -> None:
    import docx

    doc = docx.Document(str(out / "report.docx"))
    paragraphs = [p.text for p in doc.paragraphs]
    at = paragraphs.index(TITLE)
    assert range_sentence(res["sensitivity"]) in paragraphs[at + 1]
    table = doc.tables[-1]
    check_rows([[c.text for c in row.cells] for row in table.rows[1:]], res["sensitivity"])
    assert any(p.startswith("Figure 8. Overall response rate by response definition") for p in paragraphs[at:])


def test_report_re_renders_the_section(out: Path, res: dict[str, Any], tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "report.html").unlink()
    result = runner.invoke(app, ["report", str(copy), "-f", "html", "-q"])
    assert result.exit_code == 0, result.output
    assert json.loads((copy / "results.json").read_text(encoding="utf-8"))["sensitivity"] == res["sensitivity"]
    check_rows(html_tables(copy / "report.html")["sensitivity"], res["sensitivity"])


def test_without_the_option_nothing_changes(tmp_path: Path) -> None:
    study = tmp_path / "study"
    assert runner.invoke(app, ["example", str(study)]).exit_code == 0
    result = runner.invoke(app, ["analyze", str(study), "--out", str(tmp_path / "o"), "-f", "html", "-q"])
    assert result.exit_code == 0, result.output
    assert "sensitivity" not in json.loads((tmp_path / "o" / "results.json").read_text(encoding="utf-8"))
    text = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    assert TITLE not in text and "fig-tornado" not in text
