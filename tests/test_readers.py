"""`read_study`: the CSV folder and workbook readers against the data contract.

Each bad-input class of the contract ("Bad input") has a test asserting that the problem
names table, row (as in the file, header = row 1), column and value.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from ctit.errors import InputError, Problem
from ctit.readers import read_study
from ctit.study import CANONICAL_COLUMNS

PATIENTS = "patient_id,sex,age_years,height_cm,weight_kg\nP1,M,60,170,70\nP2,F,55,160,60\n"
EXPOSURES = "patient_id,drug,start_day,end_day,dose,dose_unit\nP1,ATRA,0,41,40,mg\nP2,ATRA,0,41,40,mg\n"
LABS = "patient_id,day,test,value,unit\nP1,-1,PLT,40,10^9/L\nP2,-1,PLT,35,10^9/L\n"


def make_study(tmp_path: Path, **tables: str | None) -> Path:
    """A study folder: the minimal valid tables, overridden (or removed with None) by name."""
    texts: dict[str, str | None] = {"patients": PATIENTS, "exposures": EXPOSURES, "labs": LABS}
    texts.update(tables)
    folder = tmp_path / "study"
    folder.mkdir(exist_ok=True)
    for name, text in texts.items():
        if text is not None:
            (folder / f"{name}.csv").write_text(text, encoding="utf-8")
    return folder


def problems_of(folder: Path) -> list[Problem]:
    with pytest.raises(InputError) as exc:
        read_study(folder)
    return exc.value.problems


def find(problems: list[Problem], table: str, row: int | None, column: str | None,
         value: object = None, *, severity: str = "error") -> Problem:
    """The one problem at this location; fails with the full listing otherwise."""
    hits = [p for p in problems if (p.table, p.row, p.column, p.severity) ==
            (table, row, column, severity) and (value is None or p.value == value)]
    assert len(hits) == 1, "\n".join(str(p) for p in problems)
    return hits[0]


# --- a valid study ------------------------------------------------------------------------

def test_minimal_study_reads(tmp_path: Path) -> None:
    study = read_study(make_study(tmp_path))
    assert study.warnings == []
    assert study.patients["patient_id"].tolist() == ["P1", "P2"]
    assert study.exposures["drug_name"].tolist() == ["tretinoin", "tretinoin"]
    assert study.exposures["role"].tolist() == ["study_drug", "study_drug"]
    assert study.labs["source_row"].tolist() == [2, 3]
    for name, df in study.tables():
        assert list(df.columns[: len(CANONICAL_COLUMNS[name])]) == list(CANONICAL_COLUMNS[name])
        assert {c: str(t) for c, t in df.dtypes.items() if c in CANONICAL_COLUMNS[name]} == \
            {c: str(pd.Series(dtype=t).dtype) for c, t in CANONICAL_COLUMNS[name].items()}
    assert len(study.transfusions) == 0 and len(study.bleeding) == 0
    assert study.source.startswith("CSV folder")


def test_inputs_provenance(tmp_path: Path) -> None:
    folder = make_study(tmp_path)
    study = read_study(folder)
    by_table = {i.table: i for i in study.inputs}
    assert [i.table for i in study.inputs] == ["patients", "exposures", "labs"]
    assert by_table["labs"].name == "labs.csv"
    assert by_table["labs"].rows == 2
    assert by_table["labs"].sha256 == hashlib.sha256((folder / "labs.csv").read_bytes()).hexdigest()


def test_headers_case_insensitive_bom_and_extra_columns_kept(tmp_path: Path) -> None:
    folder = make_study(
        tmp_path,
        patients="\ufeff Patient_ID ,SEX,Hospital\nP1,m,Ward 3\nP2,F,Ward 4\n",
        labs="PATIENT_ID,Day,TEST,Value,UNIT,Comment\nP1,-1,plt,40,10^9/L,fasting\n"
             "P2,-1,Platelet Count,35,10^9/l,\n",
    )
    study = read_study(folder)
    assert study.patients["sex"].tolist() == ["M", "F"]
    assert list(study.patients.columns)[-1] == "hospital"
    assert study.patients["hospital"].tolist() == ["Ward 3", "Ward 4"]
    assert list(study.labs.columns)[-1] == "comment"
    assert study.labs["test"].tolist() == ["PLT", "PLT"]
    assert study.labs["test_as_written"].tolist() == ["plt", "Platelet Count"]


def test_blank_lines_keep_file_row_numbers(tmp_path: Path) -> None:
    folder = make_study(tmp_path, labs="patient_id,day,test,value,unit\n\nP1,-1,PLT,40,10^9/L\n"
                                       ",,,,\nP2,-1,PLT,x,10^9/L\n")
    p = find(problems_of(folder), "labs", 5, "value", "x")
    assert "not a number" in p.message


# --- units ---------------------------------------------------------------------------------

def test_unit_conversions(tmp_path: Path) -> None:
    folder = make_study(tmp_path, labs=(
        "patient_id,day,test,value,unit,lln,uln\n"
        "P1,1,PLT,45000,/uL,150000,400000\n"
        "P1,2,PLT,45,G/L,,\n"
        "P1,3,PLT,45,K/uL,,\n"
        "P1,4,777-3,45,10^3/µL,,\n"
        "P1,5,ALT,1.5,ukat/L,0.1,0.7\n"
        "P1,6,SGOT,80,IU/L,,40\n"
        "P2,1,TBIL,1,mg/dL,,\n"))
    labs = read_study(folder).labs
    assert labs["value"].tolist() == pytest.approx([45, 45, 45, 45, 90, 80, 17.104])
    assert labs["unit"].tolist() == ["10^9/L"] * 4 + ["U/L", "U/L", "umol/L"]
    assert labs.loc[0, "lln"] == pytest.approx(150) and labs.loc[0, "uln"] == pytest.approx(400)
    assert labs.loc[4, "lln"] == pytest.approx(6) and labs.loc[4, "uln"] == pytest.approx(42)
    assert labs["value_as_written"].tolist() == pytest.approx([45000, 45, 45, 45, 1.5, 80, 1])
    assert labs["unit_as_written"].tolist()[0] == "/uL"
    assert labs["test"].tolist()[3] == "PLT" and labs["test"].tolist()[5] == "AST"


def test_unknown_unit_of_optional_test_is_a_warning(tmp_path: Path) -> None:
    folder = make_study(tmp_path, labs=LABS + "P1,2,HGB,9,mmol/mol\nP1,3,HGB,9,mmol/mol\n"
                                              "P1,3,CREAT,70,\n")
    study = read_study(folder)
    w = find(study.warnings, "labs", 4, "unit", "mmol/mol", severity="warning")
    assert "2 HGB rows" in w.message and "g/L" in w.message
    find(study.warnings, "labs", 6, "unit", severity="warning")
    hgb = study.labs[study.labs["test"] == "HGB"]
    assert hgb["value"].tolist() == [9, 9] and hgb["unit"].isna().all()
    assert len(study.labs) == 5  # nothing dropped


@pytest.mark.parametrize(("unit", "start"), [("", "unit is required for PLT"),
                                              ("cells", "unknown unit for PLT")])
def test_plt_needs_a_known_unit(tmp_path: Path, unit: str, start: str) -> None:
    folder = make_study(tmp_path, labs=LABS + f"P1,2,PLT,40,{unit}\n")
    p = find(problems_of(folder), "labs", 4, "unit", unit or None)
    assert p.message.startswith(start) and "K/uL" in p.message


def test_alt_unknown_unit(tmp_path: Path) -> None:
    folder = make_study(tmp_path, labs=LABS + "P1,2,ALT,40,mg/dL\n")
    p = find(problems_of(folder), "labs", 4, "unit", "mg/dL")
    assert "unknown unit for ALT" in p.message and "ukat/L" in p.message


def test_unit_column_missing_with_plt(tmp_path: Path) -> None:
    folder = make_study(tmp_path, labs="patient_id,day,test,value\nP1,-1,PLT,40\n")
    p = find(problems_of(folder), "labs", 1, "unit")
    assert "required for PLT" in p.message


def test_platelets_outside_range_after_conversion(tmp_path: Path) -> None:
    folder = make_study(tmp_path, labs=LABS + "P1,2,PLT,45000,10^9/L\n")
    p = find(problems_of(folder), "labs", 4, "value", "45000")
    assert "outside 0-2000" in p.message and "check the unit" in p.message


# --- bad-input classes -----------------------------------------------------------------------

@pytest.mark.parametrize("table", ["patients", "exposures", "labs"])
def test_missing_required_table(tmp_path: Path, table: str) -> None:
    p = find(problems_of(make_study(tmp_path, **{table: None})), table, None, None)
    assert "required table is missing" in p.message and f"{table}.csv" in p.message


def test_missing_required_column(tmp_path: Path) -> None:
    folder = make_study(tmp_path, exposures="patient_id,start_day\nP1,0\n",
                        labs="patient_id,test,value,unit\nP1,PLT,40,10^9/L\n")
    problems = problems_of(folder)
    assert "required column is missing" in find(problems, "exposures", 1, "drug").message
    assert "'day' or 'date'" in find(problems, "labs", 1, "day").message


def test_unknown_patient(tmp_path: Path) -> None:
    folder = make_study(tmp_path, labs=LABS + "P9,1,PLT,40,10^9/L\n")
    p = find(problems_of(folder), "labs", 4, "patient_id", "P9")
    assert "unknown patient" in p.message


def test_duplicate_patient_id(tmp_path: Path) -> None:
    folder = make_study(tmp_path, patients=PATIENTS + "P1,F,50,150,50\n")
    p = find(problems_of(folder), "patients", 4, "patient_id", "P1")
    assert "duplicate patient_id (first at row 2)" in p.message


def test_value_not_a_number(tmp_path: Path) -> None:
    folder = make_study(tmp_path, patients=PATIENTS + "P3,M,sixty,170,70\n",
                        labs=LABS + "P1,2,PLT,4O,10^9/L\n")
    problems = problems_of(folder)
    assert "not a number" in find(problems, "patients", 4, "age_years", "sixty").message
    assert "not a number" in find(problems, "labs", 4, "value", "4O").message


def test_censored_value_is_not_a_number(tmp_path: Path) -> None:
    folder = make_study(tmp_path, labs=LABS + "P1,2,PLT,<5,10^9/L\n")
    p = find(problems_of(folder), "labs", 4, "value", "<5")
    assert "censored value" in p.message


def test_missing_lab_value(tmp_path: Path) -> None:
    folder = make_study(tmp_path, labs=LABS + "P1,2,PLT,,10^9/L\n")
    assert "required value is missing" in find(problems_of(folder), "labs", 4, "value").message


def test_negative_values(tmp_path: Path) -> None:
    folder = make_study(tmp_path, labs=LABS + "P1,2,PLT,-3,10^9/L\n",
                        transfusions="patient_id,day,product,units\nP1,3,platelets,-1\n")
    problems = problems_of(folder)
    assert "negative" in find(problems, "labs", 4, "value", "-3").message
    assert "negative" in find(problems, "transfusions", 2, "units", "-1").message


def test_grades_outside_range(tmp_path: Path) -> None:
    folder = make_study(
        tmp_path,
        bleeding="patient_id,day,who_grade\nP1,3,5\nP1,4,2.5\n",
        adverse_events="patient_id,term,grade,start_day\nP1,Nausea,0\nP1,Rash,6,2\nP2,Fatigue,2,1\n",
    )
    problems = problems_of(folder)
    assert "outside its range 0-4" in find(problems, "bleeding", 2, "who_grade", "5").message
    assert "whole number" in find(problems, "bleeding", 3, "who_grade", "2.5").message
    assert "outside its range 1-5" in find(problems, "adverse_events", 2, "grade", "0").message
    assert "outside its range 1-5" in find(problems, "adverse_events", 3, "grade", "6").message
    # row 2 also lacks a start: reported on its own
    assert "start_day or start_date" in find(problems, "adverse_events", 2, "start_day").message


def test_days_and_dates_mixed_for_one_patient(tmp_path: Path) -> None:
    folder = make_study(tmp_path, labs="patient_id,day,date,test,value,unit\n"
                                       "P1,-1,,PLT,40,10^9/L\n"
                                       "P1,,2024-01-05,PLT,50,10^9/L\n"
                                       "P2,-1,,PLT,35,10^9/L\n")
    p = find(problems_of(folder), "labs", 3, "date", "2024-01-05")
    assert "mixes days and dates" in p.message and "'P1'" in p.message


def test_day_and_date_in_one_row(tmp_path: Path) -> None:
    folder = make_study(tmp_path, labs="patient_id,day,date,test,value,unit\n"
                                       "P1,-1,2024-01-05,PLT,40,10^9/L\nP2,-1,,PLT,35,10^9/L\n")
    p = find(problems_of(folder), "labs", 2, "date", "2024-01-05")
    assert "both day and date" in p.message


def test_end_before_start(tmp_path: Path) -> None:
    folder = make_study(tmp_path, exposures=EXPOSURES + "P1,rhTPO,10,5,,\n")
    p = find(problems_of(folder), "exposures", 4, "end_day", "5")
    assert "before its start on day 10" in p.message


def test_end_before_start_with_dates(tmp_path: Path) -> None:
    folder = make_study(
        tmp_path,
        exposures="patient_id,drug,start_date,end_date\nP1,ATRA,2024-01-10,2024-01-09\n"
                  "P2,ATRA,2024-01-10,\n",
        labs="patient_id,date,test,value,unit\nP1,2024-01-09,PLT,40,10^9/L\n")
    p = find(problems_of(folder), "exposures", 2, "end_date", "2024-01-09")
    assert "ends on day -1" in p.message


def test_unparseable_date(tmp_path: Path) -> None:
    folder = make_study(tmp_path,
                        exposures="patient_id,drug,start_date\nP1,ATRA,2024-01-10\nP2,ATRA,2024-01-10\n",
                        labs="patient_id,date,test,value,unit\nP1,10/01/2024,PLT,40,10^9/L\n"
                             "P2,2024-02-30,PLT,40,10^9/L\n")
    problems = problems_of(folder)
    assert "ISO 8601" in find(problems, "labs", 2, "date", "10/01/2024").message
    assert "ISO 8601" in find(problems, "labs", 3, "date", "2024-02-30").message


def test_unknown_lab_test(tmp_path: Path) -> None:
    folder = make_study(tmp_path, labs=LABS + "P1,2,CRP,5,mg/L\n")
    p = find(problems_of(folder), "labs", 4, "test", "CRP")
    assert "unknown lab test" in p.message and "PLT" in p.message and "777-3" in p.message


def test_role_outside_allowed_set(tmp_path: Path) -> None:
    folder = make_study(tmp_path, exposures="patient_id,drug,role,start_day\n"
                                            "P1,ATRA,study drug,0\nP2,ATRA,,0\n")
    p = find(problems_of(folder), "exposures", 2, "role", "study drug")
    assert "study_drug, tpo_ra, anticancer, other" in p.message


def test_sex_outside_mfu(tmp_path: Path) -> None:
    # A numeric code (GB/T 2261 uses 2 for female, other systems 0/1) is not guessed.
    folder = make_study(tmp_path, patients="patient_id,sex\nP1,2\nP2,F\n")
    p = find(problems_of(folder), "patients", 2, "sex", "2")
    assert "M, F, U" in p.message


def test_days_first_study_drug_not_on_day_0(tmp_path: Path) -> None:
    folder = make_study(tmp_path, exposures=EXPOSURES.replace("P2,ATRA,0", "P2,ATRA,2"))
    p = find(problems_of(folder), "exposures", 3, "start_day", "2")
    assert "must start on day 0" in p.message


def test_dates_without_day_0(tmp_path: Path) -> None:
    # P3 has a study-drug record but no usable date for it: a data gap, an error. (A patient
    # with no study-drug record at all is a screen failure: tests/test_readers_screen_failure.py.)
    folder = make_study(
        tmp_path,
        exposures="patient_id,drug,start_day,start_date\nP1,ATRA,0,\nP2,ATRA,0,\n"
                  "P3,ATRA,,2024-01-0x\n",
        patients=PATIENTS + "P3,M,60,170,70\n")
    (folder / "labs.csv").write_text("patient_id,day,date,test,value,unit\nP1,-1,,PLT,40,10^9/L\n"
                                     "P3,,2024-01-02,PLT,40,10^9/L\nP3,,2024-01-03,PLT,40,10^9/L\n")
    problems = problems_of(folder)
    find(problems, "exposures", 4, "start_date", "2024-01-0x")
    p = find(problems, "labs", 3, "date", "2024-01-02")
    assert "no day 0" in p.message and "index_date" in p.message and "2 dated" in p.message


def test_all_errors_collected(tmp_path: Path) -> None:
    folder = make_study(tmp_path, patients=PATIENTS + "P2,X,,,\n",
                        labs=LABS + "P9,1,PLT,40,10^9/L\nP1,2,PLT,abc,10^9/L\nP1,2,XYZ,1,\n")
    problems = [p for p in problems_of(folder) if p.severity == "error"]
    assert len(problems) == 5, "\n".join(map(str, problems))


# --- days and dates ----------------------------------------------------------------------------

def test_dates_count_from_first_dated_study_drug_dose(tmp_path: Path) -> None:
    folder = make_study(
        tmp_path,
        patients="patient_id,index_date\nP1,2024-03-01\nP2,2024-02-01\n",
        exposures="patient_id,drug,start_date,end_date\n"
                  "P1,ATRA,2024-03-05T09:30:00,2024-04-15\n"
                  "P1,cisplatin,2024-02-10,2024-02-10\n"
                  "P1,ATRA,2024-03-03,2024-03-04\n"
                  "P2,rhTPO,2024-02-03,\n",
        labs="patient_id,date,test,value,unit\nP1,2024-03-02 08:00,PLT,40,10^9/L\n"
             "P2,2024-02-01,PLT,40,10^9/L\n",
        bleeding="patient_id,date,who_grade\nP1,2024-03-13,1\n",
    )
    study = read_study(folder)
    ex = study.exposures
    assert ex["start_day"].tolist() == [2, -22, 0, 2]   # P1 day 0 = 2024-03-03; P2 = index_date
    assert ex["end_day"].tolist()[:3] == [43, -22, 1]
    assert pd.isna(ex["end_day"].iloc[3])
    assert study.labs["day"].tolist() == [-1, 0]
    assert study.bleeding["day"].tolist() == [10]
    assert study.exposures["start_date"].tolist()[0] == "2024-03-05T09:30:00"  # kept as given
    w = find(study.warnings, "patients", 2, "index_date", "2024-03-01", severity="warning")
    assert "2024-03-03" in w.message and "exposures row 4" in w.message


def test_patients_may_differ_in_days_or_dates(tmp_path: Path) -> None:
    folder = make_study(
        tmp_path,
        exposures="patient_id,drug,start_day,start_date\nP1,ATRA,0,\nP2,ATRA,,2024-05-01\n",
        labs="patient_id,day,date,test,value,unit\nP1,7,,PLT,40,10^9/L\nP2,,2024-05-08,PLT,40,10^9/L\n",
    )
    assert read_study(folder).labs["day"].tolist() == [7, 7]


# --- drugs ---------------------------------------------------------------------------------------

def test_unknown_drugs_listed_in_one_warning(tmp_path: Path) -> None:
    # Concomitant medicines are normal in an export: one warning lists them all (issue 9).
    folder = make_study(tmp_path, exposures=EXPOSURES + "P1,Foo,3,,,\nP2,foo,3,,,\nP1,Bar,3,,,\n")
    study = read_study(folder)
    assert study.exposures["role"].tolist()[2:] == ["other"] * 3
    assert study.exposures["drug_name"].tolist()[2:] == ["Foo", "foo", "Bar"]
    (w,) = study.warnings
    assert (w.table, w.row, w.column) == ("exposures", 4, "drug")
    assert "Foo (2 rows)" in w.message and "Bar (1 row)" in w.message


def test_role_column_wins_over_dictionary(tmp_path: Path) -> None:
    folder = make_study(tmp_path, exposures="patient_id,drug,role,start_day\n"
                                            "P1,ATRA,,0\nP2,ATRA,,0\nP1,Foo,tpo_ra,3\nP1,IL-11,TPO_RA,3\n")
    study = read_study(folder)
    assert study.exposures["role"].tolist() == ["study_drug", "study_drug", "tpo_ra", "tpo_ra"]
    (w,) = study.warnings
    assert (w.row, w.column, w.value) == (5, "role", "tpo_ra") and "'other'" in w.message


# --- workbook ------------------------------------------------------------------------------------

def test_xlsx_workbook_equals_csv_folder(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    import csv
    import datetime as dt

    texts = {
        "patients": "patient_id,sex,height_cm,weight_kg,index_date\nP1,M,170,70,\nP2,F,160.5,60,\n",
        "exposures": "patient_id,drug,start_date,end_date,dose\nP1,ATRA,2024-01-10,2024-02-20,40\n"
                     "P2,ATRA,2024-01-12,,30\n",
        "labs": "patient_id,date,test,value,unit,uln\nP1,2024-01-09,PLT,40,10^9/L,\n"
                "P2,2024-01-12,ALT,0.5,ukat/L,0.7\n",
        "bleeding": "patient_id,date,who_grade,site\nP2,2024-01-15,1,gum\n",
    }
    csv_study = read_study(make_study(tmp_path, **texts))

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, text in texts.items():
        sheet = book.create_sheet(name.capitalize())
        for i, row in enumerate(csv.reader(text.splitlines())):
            cells: list[object] = []
            for cell in row:
                if i > 0 and cell[:2] == "20":   # Excel holds dates as dates...
                    cells.append(dt.datetime.fromisoformat(cell))
                else:                            # ...and numbers as numbers
                    try:
                        cells.append(float(cell) if i > 0 and cell else (cell or None))
                    except ValueError:
                        cells.append(cell)
            sheet.append(cells)
    path = tmp_path / "book.xlsx"
    book.save(path)
    xlsx_study = read_study(path)

    for name, df in csv_study.tables():
        pd.testing.assert_frame_equal(getattr(xlsx_study, name), df, check_dtype=True)
    assert [i.name for i in xlsx_study.inputs][0] == "book.xlsx#Patients"
    assert xlsx_study.inputs[0].sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert xlsx_study.source.startswith("Excel workbook")


def test_xlsx_problem_rows_are_sheet_rows(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in {"patients": [["patient_id"], ["P1"]],
                       "exposures": [["patient_id", "drug", "start_day"], ["P1", "ATRA", 0]],
                       "labs": [["patient_id", "day", "test", "value", "unit"],
                                ["P1", -1, "PLT", 40, "10^9/L"], [None], ["P1", 2, "PLT", "n/a", "10^9/L"]]
                       }.items():
        sheet = book.create_sheet(name)
        for r in rows:
            sheet.append(r)
    path = tmp_path / "book.xlsx"
    book.save(path)
    with pytest.raises(InputError) as exc:
        read_study(path)
    find(exc.value.problems, "labs", 4, "value", "n/a")


# --- file-level problems ----------------------------------------------------------------------

def test_file_level_problems(tmp_path: Path) -> None:
    folder = make_study(tmp_path, labs="", transfusions="patient_id,day,product\nP1,3,platelets,x\n")
    (folder / "bleeding.csv").write_bytes("patient_id,day,who_grade,site\nP1,3,1,gencive café\n"
                                          .encode("latin-1"))
    problems = problems_of(folder)
    assert "empty" in find(problems, "labs", 1, None).message
    assert "unquoted comma" in find(problems, "transfusions", 2, None, "x").message
    assert "not UTF-8" in find(problems, "bleeding", None, None).message
    assert len([p for p in problems if p.severity == "error"]) == 3, "\n".join(map(str, problems))


def test_other_files_are_warned_not_read(tmp_path: Path) -> None:
    folder = make_study(tmp_path)
    (folder / "notes.csv").write_text("a,b\n1,2\n")
    (folder / "README.txt").write_text("hello")
    (w,) = read_study(folder).warnings
    assert w.table == "notes" and "not a contract table" in w.message
