"""Header detection: a title row above the header, merged title cells, `Patient ID`-style
names, and errors of one root cause reported once (issue 10)."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from ctit.errors import InputError
from ctit.readers.read import read_study

EXAMPLE = Path(str(resources.files("ctit").joinpath("examples", "atra-ctit")))
TABLES = ("patients", "exposures", "labs", "transfusions", "bleeding", "adverse_events")


def _workbook(path: Path, *, title: bool, rename: dict[str, str] | None = None) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for t in TABLES:
        df = pd.read_csv(EXAMPLE / f"{t}.csv", dtype=str, keep_default_na=False)
        sheet = book.create_sheet(t)
        if title:
            sheet.append([f"某医院 {t} 导出 2024-05-01"])
            sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(df.columns))
        sheet.append([(rename or {}).get(c, c) for c in df.columns])
        for row in df.itertuples(index=False):
            sheet.append([v if v != "" else None for v in row])
    book.save(path)
    return path


def test_title_row_above_the_header_is_found_and_reported(tmp_path: Path) -> None:
    plain = read_study(_workbook(tmp_path / "plain.xlsx", title=False))
    titled = read_study(_workbook(tmp_path / "titled.xlsx", title=True,
                                  rename={"patient_id": "Patient ID", "start_day": "Start Day"}))
    pd.testing.assert_frame_equal(plain.labs.drop(columns="source_row"), titled.labs.drop(columns="source_row"))
    assert list(titled.labs.source_row[:2]) == [3, 4]          # spreadsheet rows: title 1, header 2
    notes = [w for w in titled.warnings if w.table == "labs"]
    assert any("row 1 looks like a title" in w.message and "header seems to be row 2" in w.message
               and w.row == 1 for w in notes)
    renamed = [w.message for w in titled.warnings if w.table == "exposures" and "header cells" in w.message]
    assert renamed == ["header cells read as contract columns: 'Patient ID' as 'patient_id', "
                       "'Start Day' as 'start_day'"]


def test_one_root_cause_gives_one_error(tmp_path: Path) -> None:
    folder = tmp_path / "study"
    shutil.copytree(EXAMPLE, folder)
    patients = (folder / "patients.csv").read_text(encoding="utf-8")
    (folder / "patients.csv").write_text(patients.replace("patient_id,", "pid,", 1), encoding="utf-8")
    with pytest.raises(InputError) as exc:
        read_study(folder)
    unknown = [p for p in exc.value.problems if "unknown patient" in p.message]
    assert {p.table for p in unknown} == {"exposures", "labs", "transfusions", "bleeding", "adverse_events"}
    assert len(unknown) == 5
    labs = next(p for p in unknown if p.table == "labs")
    n_labs = len(pd.read_csv(EXAMPLE / "labs.csv"))
    assert f"{n_labs} rows" in labs.message and "no patient_id column" in labs.message
    assert any(p.table == "patients" and p.column == "patient_id" and "missing" in p.message
               for p in exc.value.problems)
