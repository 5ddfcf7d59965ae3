"""Reader checks of issue 9: every input row accounted for, every surprise an error, and values
a hospital export cannot plausibly hold refused with the row that holds them.

Each test is a reproducer that passed silently (or crashed) before these checks.
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from ctit.errors import InputError
from ctit.readers import read_study
from test_readers import EXPOSURES, LABS, PATIENTS, find, make_study, problems_of


# --- 1. whole sheets whatever their <dimension> tag ---------------------------------------

def _understate_dimension(path: Path, sheet: str, ref: str) -> None:
    """Rewrite a sheet's <dimension> tag, as tools that write .xlsx by hand often get it wrong."""
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        names = {}
        # Sheet names -> part names via workbook.xml order (openpyxl writes sheetN in order).
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == f"xl/worksheets/{sheet}.xml":
                text = data.decode("utf-8")
                text, n = re.subn(r'<dimension ref="[^"]*"\s*/>', f'<dimension ref="{ref}"/>', text)
                assert n == 1
                data = text.encode("utf-8")
                names[item.filename] = True
            dst.writestr(item, data)
        assert names, "sheet part not found"
    tmp.replace(path)


def test_xlsx_with_understated_dimension_reads_every_row(tmp_path: Path) -> None:
    # 12 platelet counts for P1, but the labs sheet claims to end at row 3 (A1:E3).
    labs = pd.DataFrame({"patient_id": ["P1"] * 11 + ["P2"], "day": list(range(-1, 10)) + [-1],
                         "test": "PLT", "value": [40.0] * 11 + [35.0], "unit": "10^9/L"})
    book = tmp_path / "study.xlsx"
    from io import StringIO
    with pd.ExcelWriter(book, engine="openpyxl") as xw:
        pd.read_csv(StringIO(PATIENTS)).to_excel(xw, sheet_name="patients", index=False)
        pd.read_csv(StringIO(EXPOSURES)).to_excel(xw, sheet_name="exposures", index=False)
        labs.to_excel(xw, sheet_name="labs", index=False)
    _understate_dimension(book, "sheet3", "A1:E3")
    study = read_study(book)
    assert len(study.labs) == 12
    assert study.labs["source_row"].tolist() == list(range(2, 14))


# --- 2. a table path that is not a regular readable file ----------------------------------

def make_not_a_file(folder: Path, kind: str) -> None:
    """Make the study's transfusions.csv a path that is not a readable regular file: a
    folder, a pipe, a symlink to itself, or a file without read permission."""
    target = folder / "transfusions.csv"
    if kind == "folder":
        target.mkdir()
    elif kind == "pipe":
        os.mkfifo(target)
    elif kind == "symlink_loop":
        target.symlink_to(target)
    else:
        target.write_text("patient_id,day,product\nP1,3,platelets\n", encoding="utf-8")
        target.chmod(0)


@pytest.mark.parametrize("kind", ["folder", "pipe", "symlink_loop"])
def test_table_path_that_is_not_a_file_is_an_error(tmp_path: Path, kind: str) -> None:
    folder = make_study(tmp_path)
    make_not_a_file(folder, kind)
    p = find(problems_of(folder), "transfusions", None, None)
    assert "transfusions.csv" in p.message and "readable file" in p.message


# --- 3. names close to a contract table ---------------------------------------------------

@pytest.mark.parametrize("name,meant", [("adverse-events.csv", "adverse_events"),
                                        ("lab.csv", "labs"), ("Patient.csv", "patients")])
def test_file_named_close_to_a_table_is_an_error(tmp_path: Path, name: str, meant: str) -> None:
    folder = make_study(tmp_path, **{meant: None})
    (folder / name).write_text("patient_id\nP1\n", encoding="utf-8")
    problems = problems_of(folder)
    hits = [p for p in problems if f"did you mean {meant}" in p.message]
    assert len(hits) == 1 and hits[0].table == meant and hits[0].severity == "error"


def test_sheet_named_adverse_events_with_a_space_is_an_error(tmp_path: Path) -> None:
    from io import StringIO
    book = tmp_path / "study.xlsx"
    with pd.ExcelWriter(book, engine="openpyxl") as xw:
        for name, text in (("patients", PATIENTS), ("exposures", EXPOSURES), ("labs", LABS)):
            pd.read_csv(StringIO(text)).to_excel(xw, sheet_name=name, index=False)
        pd.DataFrame({"patient_id": ["P1"], "term": ["Nausea"], "grade": [2],
                      "start_day": [3]}).to_excel(xw, sheet_name="Adverse events", index=False)
    with pytest.raises(InputError) as exc:
        read_study(book)
    (p,) = [p for p in exc.value.errors if "did you mean" in p.message]
    assert p.table == "adverse_events" and p.value == "Adverse events"


def test_unrelated_file_names_stay_warnings(tmp_path: Path) -> None:
    folder = make_study(tmp_path)
    (folder / "notes.csv").write_text("a\n1\n", encoding="utf-8")
    # A near name of a table that another file provides is not a lost table.
    (folder / "lab.csv").write_text("a\n1\n", encoding="utf-8")
    study = read_study(folder)
    assert sorted(w.table for w in study.warnings) == ["lab", "notes"]


# --- 4. drugs: a typo of a decisive drug is an error; others one warning ------------------

def test_misspelt_tpo_ra_is_an_error_with_did_you_mean(tmp_path: Path) -> None:
    folder = make_study(tmp_path, exposures=EXPOSURES + "P1,Avatrombopg,-30,-20,20,mg\n")
    p = find(problems_of(folder), "exposures", 4, "drug", "Avatrombopg")
    assert "did you mean avatrombopag" in p.message


def test_common_concomitant_medicines_are_known(tmp_path: Path) -> None:
    folder = make_study(tmp_path, exposures=EXPOSURES + "P1,ondansetron,0,3,8,mg\n"
                        "P1,esomeprazole,0,3,40,mg\nP2,对乙酰氨基酚,1,1,500,mg\n")
    study = read_study(folder)
    assert study.warnings == []
    assert study.exposures["role"].tolist()[2:] == ["other"] * 3


# --- 5. patient ids that differ only in case ----------------------------------------------

def test_patient_ids_differing_only_in_case_are_an_error(tmp_path: Path) -> None:
    folder = make_study(tmp_path, patients=PATIENTS + "p1,M,61,171,71\n")
    p = find(problems_of(folder), "patients", 4, "patient_id", "p1")
    assert "P1 at row 2" in p.message


# --- 6. control characters ----------------------------------------------------------------

def test_control_character_in_a_text_cell_is_a_row_precise_error(tmp_path: Path) -> None:
    folder = make_study(tmp_path, adverse_events="patient_id,term,grade,start_day\n"
                        "P1,Nau\x0bsea,2,3\nP2,Rash,1,4\n")
    p = find(problems_of(folder), "adverse_events", 2, "term")
    assert p.value == "Nau\\x0bsea" and "control character" in p.message


# --- 7. plausibility ----------------------------------------------------------------------

@pytest.mark.parametrize("column,value,severity", [
    ("age_years", "250", "error"), ("height_cm", "1.6", "error"), ("weight_kg", "650", "error"),
    ("height_cm", "1e308", "error"), ("age_years", "15", "warning"), ("weight_kg", "210", "warning"),
])
def test_patient_measurements_outside_plausible_ranges(tmp_path: Path, column: str, value: str,
                                                       severity: str) -> None:
    frame = pd.DataFrame({"patient_id": ["P1", "P2"], "sex": ["M", "F"], "age_years": ["60", "55"],
                          "height_cm": ["170", "160"], "weight_kg": ["70", "60"]})
    frame.loc[1, column] = value
    folder = make_study(tmp_path, patients=frame.to_csv(index=False))
    if severity == "error":
        p = find(problems_of(folder), "patients", 3, column, value)
        assert "impossible" in p.message
    else:
        p = find(read_study(folder).warnings, "patients", 3, column, value, severity="warning")
        assert "unusual" in p.message


def test_study_drug_dose_in_grams_is_converted_and_unknown_unit_refused(tmp_path: Path) -> None:
    ok = make_study(tmp_path, exposures="patient_id,drug,start_day,end_day,dose,dose_unit\n"
                    "P1,ATRA,0,41,0.04,g\nP2,ATRA,0,41,40000,ug\n")
    study = read_study(ok)
    assert study.exposures["dose"].tolist() == pytest.approx([40.0, 40.0])
    assert study.exposures["dose_unit"].tolist() == ["mg", "mg"]
    (tmp_path / "b").mkdir()
    bad = make_study(tmp_path / "b", exposures="patient_id,drug,start_day,end_day,dose,dose_unit\n"
                     "P1,ATRA,0,41,40,mg\nP2,ATRA,0,41,40,tablets\n")
    find(problems_of(bad), "exposures", 3, "dose_unit", "tablets")


@pytest.mark.parametrize("date", ["1900-01-05", "2099-03-01"])
def test_dates_outside_the_plausible_study_period_are_errors(tmp_path: Path, date: str) -> None:
    folder = make_study(
        tmp_path, exposures="patient_id,drug,start_date,end_date\nP1,ATRA,2024-03-01,2024-04-10\n"
        "P2,ATRA,2024-03-01,2024-04-10\n",
        labs=f"patient_id,date,test,value,unit\nP1,2024-02-29,PLT,40,10^9/L\nP2,{date},PLT,35,10^9/L\n")
    p = find(problems_of(folder), "labs", 3, "date", date)
    assert "plausible study period" in p.message


def test_a_day_of_1e20_is_a_row_precise_error(tmp_path: Path) -> None:
    folder = make_study(tmp_path, labs=LABS + "P1,1e20,PLT,50,10^9/L\n")
    find(problems_of(folder), "labs", 4, "day", "1e20")


def test_impossible_lab_value_is_an_error(tmp_path: Path) -> None:
    folder = make_study(tmp_path, labs=LABS + "P1,2,HGB,950,g/L\n")
    p = find(problems_of(folder), "labs", 4, "value", "950")
    assert "HGB" in p.message and "impossible" in p.message


def test_records_after_a_grade_5_event_are_errors(tmp_path: Path) -> None:
    folder = make_study(
        tmp_path, labs=LABS + "P1,10,PLT,60,10^9/L\nP1,20,PLT,80,10^9/L\n",
        adverse_events="patient_id,term,grade,start_day\nP1,Sepsis,5,12\n")
    problems = problems_of(folder)
    p = find(problems, "labs", 5, "day")
    assert "death on day 12" in p.message and "adverse_events row 2" in p.message
    assert [q.row for q in problems if q.severity == "error"] == [5]


def test_records_after_a_death_date_are_errors(tmp_path: Path) -> None:
    folder = make_study(
        tmp_path, patients="patient_id,death_date\nP1,2024-03-20\nP2,\n",
        exposures="patient_id,drug,start_date,end_date\nP1,ATRA,2024-03-01,2024-03-15\n"
        "P2,ATRA,2024-03-01,2024-04-10\n",
        labs="patient_id,date,test,value,unit\nP1,2024-02-29,PLT,40,10^9/L\nP1,2024-03-25,PLT,90,10^9/L\n"
        "P2,2024-03-25,PLT,90,10^9/L\n")
    p = find(problems_of(folder), "labs", 3, "day")
    assert "death on day 19" in p.message and "patients death_date, row 2" in p.message


def test_database_table_named_close_to_a_table_is_an_error(tmp_path: Path) -> None:
    import duckdb
    from io import StringIO

    db = tmp_path / "study.duckdb"
    con = duckdb.connect(str(db))
    for name, text in (("patients", PATIENTS), ("exposures", EXPOSURES), ("labs", LABS)):
        frame = pd.read_csv(StringIO(text), dtype=str)  # noqa: F841 (read by the SQL below)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
    con.execute("CREATE TABLE bleedings (patient_id VARCHAR, day INTEGER, who_grade INTEGER)")
    con.close()
    with pytest.raises(InputError) as exc:
        read_study(db)
    (p,) = [p for p in exc.value.errors if "did you mean bleeding" in p.message]
    assert p.value == "bleedings"
