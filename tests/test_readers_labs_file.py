"""`read_labs_file`: a lone labs table for `ctit grade` (CSV or the workbook sheet "labs")."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctit.errors import InputError
from ctit.readers import read_labs_file


def write(tmp_path: Path, text: str, name: str = "labs.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_days_units_and_baseline_value(tmp_path: Path) -> None:
    path = write(tmp_path, "Patient_ID , Day,Test,Value,Unit,ULN,baseline_value\n"
                           "P1,0,PLT,45000,/uL,,\n"
                           "P1,3,ALT,1.2,ukat/L,0.7,0.5\n")
    labs, warnings = read_labs_file(path)
    assert warnings == []
    assert list(labs.columns)[-1] == "baseline_value"
    assert "date" not in labs.columns
    assert labs["day"].tolist() == [0, 3]
    assert labs["value"].tolist() == pytest.approx([45.0, 72.0])
    assert labs.loc[1, "uln"] == pytest.approx(42.0)
    assert labs.loc[1, "baseline_value"] == pytest.approx(30.0)


def test_dates_kept_as_given(tmp_path: Path) -> None:
    path = write(tmp_path, "patient_id,date,test,value,unit\n"
                           "P1,2024-03-01T08:00,PLT,80,10^9/L\n")
    labs, _ = read_labs_file(path)
    assert labs["date"].tolist() == ["2024-03-01"]
    assert labs["day"].isna().all()


def test_errors_raise_with_location(tmp_path: Path) -> None:
    path = write(tmp_path, "patient_id,day,test,value,unit\nP1,0,PLT,<5,10^9/L\n")
    with pytest.raises(InputError) as exc:
        read_labs_file(path)
    (p,) = exc.value.errors
    assert (p.table, p.row, p.column, p.value) == ("labs", 2, "value", "<5")


def test_xlsx_sheet_labs(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Labs"
    sheet.append(["patient_id", "day", "test", "value", "unit"])
    sheet.append(["P1", 0, "PLT", 45.0, "K/uL"])
    path = tmp_path / "labs.xlsx"
    book.save(path)
    labs, _ = read_labs_file(path)
    assert labs["value"].tolist() == [45.0]
    assert labs["source_row"].tolist() == [2]
