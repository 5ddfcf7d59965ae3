"""Optional baseline fields of the patients table (ECOG, stage, line of therapy, regimen, last
chemotherapy) are typed by the reader and shown in Table 1 when given (issue 10)."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest

from ctit.errors import InputError
from ctit.protocol import load_protocol
from ctit.readers.read import read_study
from ctit.reports import tables
from ctit.results import analyze_study

EXAMPLE = Path(str(resources.files("ctit").joinpath("examples", "atra-ctit")))


def _study(tmp_path: Path, **columns: dict[str, str]) -> Path:
    folder = tmp_path / "study"
    shutil.copytree(EXAMPLE, folder)
    patients = pd.read_csv(folder / "patients.csv", dtype=str, keep_default_na=False)
    for name, by_patient in columns.items():
        patients[name] = patients.patient_id.map(by_patient).fillna("")
    patients.to_csv(folder / "patients.csv", index=False)
    return folder


def _rows(results) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {r.cells[0]: (r.cells[1] if len(r.cells) > 1 else "") for r in tables.table1(results).rows}


def test_table1_shows_the_baseline_fields_given(tmp_path: Path) -> None:
    # Three included patients with ECOG 0, 1, 1; P10 (dates) last chemotherapy 2024-01-29, its
    # day 0 is 2024-03-11: 42 days before; P01 in days: day -42 -> 42 days; P02: -21 -> 21 days.
    folder = _study(tmp_path, ecog={"P01": "0", "P02": "1", "P10": "1"},
                    stage={"P01": "IV"}, last_chemotherapy_day={"P01": "-42", "P02": "-21"},
                    last_chemotherapy_date={"P10": "2024/01/29"})
    results = analyze_study(read_study(folder), load_protocol(None))
    n = int(results.cohort["included"])
    rows = _rows(results)
    assert rows["ECOG performance status, n (%)"] == ""
    assert rows["0"] == tables.fmt_n_pct(1, 100 / n) and rows["1"] == tables.fmt_n_pct(2, 200 / n)
    assert rows["IV"] == tables.fmt_n_pct(1, 100 / n)
    # Median (IQR) of 21, 42, 42: 42 (31.5-42), three patients with a value.
    assert rows["Days from last chemotherapy to day 0, median (IQR)"] == "42.0 (31.5\u201342.0) [n = 3]"
    assert "Line of therapy, n (%)" not in rows and "Chemotherapy regimen, n (%)" not in rows


def test_without_baseline_fields_table1_has_none(tmp_path: Path) -> None:
    rows = _rows(analyze_study(read_study(EXAMPLE), load_protocol(None)))
    assert not any(k.startswith(("ECOG", "Stage", "Line of therapy", "Days from last")) for k in rows)


@pytest.mark.parametrize("column, value, message", [
    ("ecog", "6", "ECOG performance status outside its range 0-5"),
    ("line_of_therapy", "0", "line of therapy outside its range 1-None"),
    ("last_chemotherapy_day", "3", "day of the last chemotherapy"),
])
def test_bad_baseline_values_are_located_errors(tmp_path: Path, column: str, value: str, message: str) -> None:
    folder = _study(tmp_path, **{column: {"P01": value}})
    with pytest.raises(InputError) as exc:
        read_study(folder)
    problems = [p for p in exc.value.problems if p.column == column]
    assert len(problems) == 1 and problems[0].row == 2 and message in problems[0].message
