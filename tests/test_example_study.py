"""The bundled example study (src/ctit/examples/atra-ctit) and `ctit example`."""

from __future__ import annotations

import csv
import math
import re
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ctit.cli import app

EXAMPLE = resources.files("ctit").joinpath("examples", "atra-ctit")
TABLES = ("patients", "exposures", "labs", "transfusions", "bleeding", "adverse_events")

# Data contract: required columns, and the time columns (one of each pair per row).
REQUIRED = {
    "patients": {"patient_id"},
    "exposures": {"patient_id", "drug"},
    "labs": {"patient_id", "test", "value", "unit"},
    "transfusions": {"patient_id", "product"},
    "bleeding": {"patient_id", "who_grade"},
    "adverse_events": {"patient_id", "term", "grade"},
}
TIME_PAIRS = {
    "patients": [],
    "exposures": [("start_day", "start_date"), ("end_day", "end_date")],
    "labs": [("day", "date")],
    "transfusions": [("day", "date")],
    "bleeding": [("day", "date")],
    "adverse_events": [("start_day", "start_date"), ("end_day", "end_date")],
}
# Time pairs that must be filled (an end may be open).
TIME_REQUIRED = {"exposures": "start", "labs": "day", "transfusions": "day", "bleeding": "day",
                 "adverse_events": "start"}
EXPECTED_COLUMNS = ["patient_id", "included", "first_exclusion_reason", "baseline_plt", "nadir_plt",
                    "nadir_grade", "cr_threshold", "best_response", "response_onset_day", "plt_d14",
                    "plt_d28", "plt_d42", "liver_max_grade"]
EXCLUSION_REASONS = {"no_study_drug", "no_prior_tpo_ra", "no_baseline_platelets",
                     "baseline_not_grade_2_plus", "no_post_baseline_platelets"}


def read_bundled(name: str) -> tuple[list[str], list[dict[str, str]]]:
    with EXAMPLE.joinpath(name).open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


@pytest.fixture(scope="module")
def patient_ids() -> list[str]:
    _, rows = read_bundled("patients.csv")
    return [r["patient_id"] for r in rows]


def test_bundled_files_present() -> None:
    names = {p.name for p in EXAMPLE.iterdir()}
    assert {f"{t}.csv" for t in TABLES} | {"SCENARIOS.md", "expected.csv"} <= names


def test_patients_table(patient_ids: list[str]) -> None:
    assert len(patient_ids) == len(set(patient_ids)) == 32
    assert all(re.fullmatch(r"P\d{2}", p) for p in patient_ids)


@pytest.mark.parametrize("table", TABLES)
def test_table_has_contract_columns_and_known_patients(table: str, patient_ids: list[str]) -> None:
    header, rows = read_bundled(f"{table}.csv")
    assert REQUIRED[table] <= set(header)
    assert rows
    for i, row in enumerate(rows, start=2):
        assert row["patient_id"] in patient_ids, f"{table}.csv row {i}"
        assert None not in row, f"{table}.csv row {i} has more cells than the header"
        for column in REQUIRED[table]:
            assert row[column].strip(), f"{table}.csv row {i}: empty {column}"


@pytest.mark.parametrize("table", [t for t in TABLES if TIME_PAIRS[t]])
def test_each_row_gives_a_day_or_a_date_and_patients_do_not_mix(table: str) -> None:
    _, rows = read_bundled(f"{table}.csv")
    kinds: dict[str, set[str]] = {}
    for i, row in enumerate(rows, start=2):
        for day_col, date_col in TIME_PAIRS[table]:
            day, date = row.get(day_col, ""), row.get(date_col, "")
            assert not (day and date), f"{table}.csv row {i}: both {day_col} and {date_col}"
            if day:
                int(day)
                kinds.setdefault(row["patient_id"], set()).add("day")
            elif date:
                assert re.fullmatch(r"\d{4}-\d{2}-\d{2}(T[\d:]+)?", date), f"{table}.csv row {i}"
                kinds.setdefault(row["patient_id"], set()).add("date")
            elif day_col.startswith(TIME_REQUIRED[table]):
                pytest.fail(f"{table}.csv row {i}: neither {day_col} nor {date_col}")
    assert all(len(k) == 1 for k in kinds.values()), kinds


def test_study_drug_dose_follows_body_surface_area() -> None:
    """First ATRA record: 25 mg/m2 x Mosteller BSA, rounded to 10 mg, halves up."""
    _, patients = read_bundled("patients.csv")
    _, exposures = read_bundled("exposures.csv")
    first: dict[str, dict[str, str]] = {}
    for row in exposures:
        if row["drug"] == "ATRA" and row["patient_id"] not in first:
            first[row["patient_id"]] = row
    assert len(first) == 31  # P05 never started ATRA
    for p in patients:
        if p["patient_id"] not in first:
            continue
        bsa = math.sqrt(float(p["height_cm"]) * float(p["weight_kg"]) / 3600)
        planned = math.floor(bsa * 25 / 10 + 0.5 + 1e-9) * 10
        assert float(first[p["patient_id"]]["dose"]) == planned, p["patient_id"]


def test_expected_outcomes_table(patient_ids: list[str]) -> None:
    header, rows = read_bundled("expected.csv")
    assert header == EXPECTED_COLUMNS
    assert [r["patient_id"] for r in rows] == patient_ids
    for r in rows:
        assert r["included"] in ("true", "false")
        if r["included"] == "true":
            assert r["first_exclusion_reason"] == ""
            assert r["best_response"] in ("CR", "PR", "NR")
            assert (r["response_onset_day"] != "") == (r["best_response"] != "NR")
        else:
            assert r["first_exclusion_reason"] in EXCLUSION_REASONS
            assert r["best_response"] == ""
    reasons = {r["first_exclusion_reason"] for r in rows} - {""}
    assert reasons == EXCLUSION_REASONS


def test_scenarios_describe_every_patient(patient_ids: list[str]) -> None:
    text = EXAMPLE.joinpath("SCENARIOS.md").read_text(encoding="utf-8")
    described = re.findall(r"^\*\*(P\d{2})\*\*", text, flags=re.M)
    assert described == patient_ids


def test_ctit_example_writes_the_study(tmp_path: Path) -> None:
    target = tmp_path / "new" / "study"
    result = CliRunner().invoke(app, ["example", str(target)])
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in target.iterdir())
    assert written == sorted([f"{t}.csv" for t in TABLES] + ["README.md"])
    for t in TABLES:
        assert (target / f"{t}.csv").read_bytes() == EXAMPLE.joinpath(f"{t}.csv").read_bytes()
    assert (target / "README.md").read_bytes() == EXAMPLE.joinpath("SCENARIOS.md").read_bytes()


def test_ctit_example_refuses_a_non_empty_folder_without_force(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    result = CliRunner().invoke(app, ["example", str(tmp_path)])
    assert result.exit_code == 2
    assert not (tmp_path / "patients.csv").exists()

    result = CliRunner().invoke(app, ["example", str(tmp_path), "--force"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "patients.csv").exists()
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_ctit_example_into_an_existing_empty_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["example", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "labs.csv").exists()


def test_written_study_reads_without_problems(tmp_path: Path) -> None:
    from ctit.readers import read_study

    assert CliRunner().invoke(app, ["example", str(tmp_path)]).exit_code == 0
    study = read_study(tmp_path)
    assert len(study.patients) == 32
    assert study.warnings == []
