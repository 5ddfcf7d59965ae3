"""docs/input.md, "Every problem, with an example message": every documented row is produced.

One case per row of the two tables (errors, then warnings); a row whose example has variants
in parentheses gets one more case per variant (ids `<check>--<variant>`). Each case builds the
smallest study that triggers the row (the valid base study of test_readers plus one bad cell,
or a workbook where the row is about sheets), reads it with `read_study`, and asserts the
problem's table, row, column, value and severity, and its message: the documented text as a
regex, its variable parts (names, numbers, dates, '...') matched by patterns.

A documented message the reader does not print fails here: mend the doc or the reader.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import pytest

from ctit.errors import InputError, Problem
from ctit.readers.read import read_study
from test_readers import EXPOSURES, LABS, PATIENTS, make_study
from test_readers_trust import make_not_a_file

ANY = object()  # the problem's value is not checked (the documented example shows none)

# A study in dates: day 0 of each patient is their ATRA start date (exposures row 2, 3).
D_PATIENTS = "patient_id,sex,age_years\nP1,M,60\nP2,F,55\n"
D_EXPOSURES = ("patient_id,drug,start_date,end_date,dose,dose_unit\n"
               "P1,ATRA,2024-01-01,2024-02-10,40,mg\nP2,ATRA,2024-01-01,2024-02-10,40,mg\n")
D_LABS = "patient_id,date,test,value,unit\nP1,2023-12-31,PLT,40,10^9/L\nP2,2023-12-31,PLT,35,10^9/L\n"


def dated(tmp_path: Path, **tables: str | None) -> Path:
    texts: dict[str, str | None] = {"patients": D_PATIENTS, "exposures": D_EXPOSURES, "labs": D_LABS}
    texts.update(tables)
    return make_study(tmp_path, **texts)


def workbook(tmp_path: Path, sheets: dict[str, str | None]) -> Path:
    """An .xlsx with one sheet per name: CSV text written cell by cell, None an empty sheet."""
    import csv
    import io

    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, text in sheets.items():
        sheet = book.create_sheet(name)
        for row in csv.reader(io.StringIO(text or "")):
            sheet.append([float(c) if re.fullmatch(r"-?\d+(\.\d+)?", c) else c for c in row])
    path = tmp_path / "study.xlsx"
    book.save(path)
    return path


def base_sheets(**extra: str | None) -> dict[str, str | None]:
    return {"patients": PATIENTS, "exposures": EXPOSURES, "labs": LABS, **extra}


def far_future() -> str:
    """A date three years from today: more than a year after it."""
    return (pd.Timestamp.today().normalize() + pd.DateOffset(years=3)).date().isoformat()


def later_year() -> str:
    """The documented "<today + 1 year>": the last plausible date."""
    return (pd.Timestamp.today().normalize() + pd.DateOffset(years=1)).date().isoformat()


@dataclass(frozen=True)
class Case:
    build: Callable[[Path], Path]
    table: str
    row: int | None
    column: str | None
    value: Any
    message: str | Callable[[Path], str]  # a regex matched in full; a callable gets the study path
    severity: str = "error"


def case(check: str, *args: Any, xfail: str | None = None, marks: tuple = (), **kw: Any) -> Any:
    marks = marks + ((pytest.mark.xfail(strict=True, reason=xfail),) if xfail else ())
    return pytest.param(Case(*args, **kw), id=check, marks=marks)


def esc(text: str) -> str:
    return re.escape(text)


# --- builders of the error cases ------------------------------------------------------------

def _two_files(tmp_path: Path) -> Path:
    folder = make_study(tmp_path)
    (folder / "Labs.csv").write_text(LABS, encoding="utf-8")
    return folder


def _not_utf8(tmp_path: Path) -> Path:
    folder = make_study(tmp_path)
    data = LABS.encode("utf-8") + "P1,1,PLT,41,10^9/L,caf\xe9\n".encode("latin-1")
    (folder / "labs.csv").write_bytes(data)
    return folder


def _not_utf8_message(folder: Path) -> str:
    byte = (folder / "labs.csv").read_bytes().index(b"\xe9")
    return esc(f"labs.csv is not UTF-8 text (byte {byte}); save it as 'CSV UTF-8'")


def _not_a_file(kind: str) -> Callable[[Path], Path]:
    def build(tmp_path: Path) -> Path:
        folder = make_study(tmp_path)
        make_not_a_file(folder, kind)
        return folder
    return build


def _empty_labs(tmp_path: Path) -> Path:
    folder = make_study(tmp_path)
    (folder / "labs.csv").write_bytes(b"")
    return folder


def _sheet_named_close(tmp_path: Path) -> Path:
    return workbook(tmp_path, base_sheets(**{
        "Adverse events": "patient_id,term,grade,start_day\nP1,Nausea,2,3\n"}))


def _file_named_close(tmp_path: Path) -> Path:
    folder = make_study(tmp_path, labs=None)
    (folder / "lab.csv").write_text(LABS, encoding="utf-8")
    return folder


def _database_table_close(tmp_path: Path) -> Path:
    from ctit.engine.local import duckdb_connect

    path = tmp_path / "study.duckdb"
    con = duckdb_connect(path)
    try:
        con.execute("CREATE TABLE patients AS SELECT 'P1' AS patient_id")
        con.execute("CREATE TABLE exposures AS SELECT 'P1' AS patient_id, 'ATRA' AS drug, 0 AS start_day")
        con.execute("CREATE TABLE lab AS SELECT 'P1' AS patient_id, -1 AS day, 'PLT' AS test, "
                    "40 AS value, '10^9/L' AS unit")
    finally:
        con.close()
    return path


def _no_day0(tmp_path: Path) -> Path:
    # P3 has a study-drug record, undated (its own error: no start), and two dated labs.
    return dated(
        tmp_path,
        patients=D_PATIENTS + "P3,F,50\n",
        exposures=D_EXPOSURES + "P3,ATRA,,,40,mg\n",
        labs=D_LABS.replace("P2,2023-12-31", "P3,2024-01-02") + "P3,2024-01-03,PLT,30,10^9/L\n",
    )


ERRORS = [
    case("missing required table", lambda p: make_study(p, labs=None),
         "labs", None, None, None,
         lambda folder: esc(f"required table is missing (no labs.csv in {folder})")),
    case("missing required column",
         lambda p: make_study(p, labs="patient_id,day,value,unit\nP1,-1,40,10^9/L\n"),
         "labs", 1, "test", None, esc("required column is missing")),
    case("missing day/date column",
         lambda p: make_study(p, labs="patient_id,test,value,unit\nP1,PLT,40,10^9/L\n"),
         "labs", 1, "day", None, esc("required column is missing: give 'day' or 'date'")),
    case("required cell empty", lambda p: make_study(p, labs=LABS + "P1,0,PLT,,10^9/L\n"),
         "labs", 4, "value", None, esc("required value is missing")),
    case("no day or date in a row", lambda p: make_study(p, labs=LABS + "P1,,PLT,41,10^9/L\n"),
         "labs", 4, "day", None, esc("required: give day or date")),
    case("unknown patient", lambda p: make_study(p, labs=LABS + "P9,0,PLT,41,10^9/L\n"),
         "labs", 4, "patient_id", "P9",
         esc("unknown patient: this patient_id is not in the patients table")),
    case("duplicate patient_id", lambda p: make_study(p, patients=PATIENTS + "P1,M,61,171,71\n"),
         "patients", 4, "patient_id", "P1", r"duplicate patient_id \(first at row 2\)"),
    case("not a number", lambda p: make_study(p, labs=LABS + "P1,0,PLT,4O,10^9/L\n"),
         "labs", 4, "value", "4O",
         esc("not a number (use a decimal point, no units or thousands separators in the cell)")),
    case("censored value", lambda p: make_study(p, labs=LABS + "P1,0,PLT,<5,10^9/L\n"),
         "labs", 4, "value", "<5",
         esc("not a number: a censored value such as '<5' must be replaced by a number or the row "
             "removed (the tool cannot decide what it means)")),
    case("not a whole number",
         lambda p: make_study(p, bleeding="patient_id,day,who_grade\nP1,2,1\nP1,3,2.5\n"),
         "bleeding", 3, "who_grade", "2.5", esc("WHO bleeding grade must be a whole number")),
    case("missing unit (PLT/ALT/AST)", lambda p: make_study(p, labs=LABS + "P1,0,PLT,41,\n"),
         "labs", 4, "unit", None, r"unit is required for PLT; accepted: 10\^9/L, .*"),
    case("unknown unit (PLT/ALT/AST)", lambda p: make_study(p, labs=LABS + "P1,0,ALT,30,mg/dL\n"),
         "labs", 4, "unit", "mg/dL", esc("unknown unit for ALT; accepted: U/L, IU/L, ukat/L")),
    case("unit column absent",
         lambda p: make_study(p, labs="patient_id,day,test,value\nP1,-1,PLT,40\nP2,-1,PLT,35\n"),
         "labs", 1, "unit", None, esc("column 'unit' is missing; it is required for PLT")),
    case("negative value", lambda p: make_study(p, labs=LABS + "P1,0,PLT,-3,10^9/L\n"),
         "labs", 4, "value", "-3", esc("negative value; it must be 0 or more")),
    case("platelets out of range", lambda p: make_study(p, labs=LABS + "P1,0,PLT,45000,10^9/L\n"),
         "labs", 4, "value", "45000",
         esc("platelet count 45000 x10^9/L after conversion from 10^9/L is outside 0-2000 x10^9/L; "
             "check the unit")),
    case("grade out of range--WHO bleeding",
         lambda p: make_study(p, bleeding="patient_id,day,who_grade\nP1,2,5\n"),
         "bleeding", 2, "who_grade", "5", esc("WHO bleeding grade outside its range 0-4")),
    case("grade out of range--CTCAE",
         lambda p: make_study(p, adverse_events="patient_id,term,grade,start_day\nP1,Nausea,6,3\n"),
         "adverse_events", 2, "grade", "6", esc("CTCAE grade outside its range 1-5")),
    case("unknown lab test", lambda p: make_study(p, labs=LABS + "P1,0,CRP,5,mg/L\n"),
         "labs", 4, "test", "CRP",
         esc("unknown lab test; known tests: PLT, ANC, WBC, LYMPH, ALT, AST, ALP, GGT, TBIL, HGB, "
             "CREAT, K (names such as 'platelet count' and LOINC codes such as 777-3 are accepted; "
             "see docs/input.md). Remove rows of tests the analysis does not use.")),
    case("role not allowed",
         lambda p: make_study(p, exposures="patient_id,drug,start_day,role\nP1,ATRA,0,study drug\n"
                              "P2,ATRA,0,study_drug\n"),
         "exposures", 2, "role", "study drug",
         esc("role must be one of: study_drug, tpo_ra, anticancer, other")),
    case("sex not allowed", lambda p: make_study(p, patients="patient_id,sex\nP1,2\nP2,F\n"),
         "patients", 2, "sex", "2", esc("sex must be one of: M, F, U")),
    case("other fixed sets--product",
         lambda p: make_study(p, transfusions="patient_id,day,product\nP1,3,PRBC\n"),
         "transfusions", 2, "product", "PRBC",
         esc("product must be one of: platelets, rbc, plasma, other")),
    case("other fixed sets--serious",
         lambda p: make_study(p, adverse_events="patient_id,term,grade,start_day,serious\n"
                              "P1,Nausea,2,3,maybe\n"),
         "adverse_events", 2, "serious", "maybe", esc("serious must be one of: yes, no")),
    case("other fixed sets--related",
         lambda p: make_study(p, adverse_events="patient_id,term,grade,start_day,related\n"
                              "P1,Nausea,2,3,maybe\n"),
         "adverse_events", 2, "related", "maybe", esc("related must be one of: yes, no")),
    case("days and dates mixed",
         lambda p: make_study(p, labs="patient_id,day,date,test,value,unit\n"
                              "P1,-1,,PLT,40,10^9/L\nP1,,2024-01-05,PLT,41,10^9/L\n"
                              "P2,-1,,PLT,35,10^9/L\n"),
         "labs", 3, "date", "2024-01-05",
         esc("patient 'P1' mixes days and dates: this cell gives a date, 3 other cell(s) give days "
             "(first: exposures row 2, column 'start_day'); use one kind for all of a patient's "
             "records")),
    case("day and date in one row",
         lambda p: make_study(p, labs="patient_id,day,date,test,value,unit\n"
                              "P1,-1,2024-01-05,PLT,40,10^9/L\nP2,-1,,PLT,35,10^9/L\n"),
         "labs", 2, "date", "2024-01-05", esc("both day and date are given; give one")),
    case("unparseable date",
         lambda p: dated(p, labs=D_LABS.replace("2023-12-31,PLT,40", "10/01/2024,PLT,40")),
         "labs", 2, "date", "10/01/2024",
         esc("not an ISO 8601 date (YYYY-MM-DD, e.g. 2024-03-05; 2024/03/05, 2024.03.05 and "
             "2024年3月5日 are read too)")),
    case("no day 0 for dates (the patient has study-drug records, none dated)", _no_day0, "labs", 3, "date", "2024-01-02",
         esc("patient 'P3' has 2 dated cell(s) but no day 0 (first shown): give "
             "patients.index_date or a dated study-drug record (exposures start_date with role "
             "study_drug)")),
    case("study drug not on day 0",
         lambda p: make_study(p, exposures=EXPOSURES.replace("P2,ATRA,0,", "P2,ATRA,2,")),
         "exposures", 3, "start_day", "2",
         esc("the first study-drug record of patient 'P2' starts on day 2; days count from the "
             "first study-drug dose, so it must start on day 0 (protocol section 1)")),
    case("end before start", lambda p: make_study(p, exposures=EXPOSURES + "P1,ondansetron,10,5,8,mg\n"),
         "exposures", 4, "end_day", "5", esc("ends on day 5, before its start on day 10")),
    case("row longer than header",
         lambda p: make_study(p, labs="patient_id,day,test,value,unit,lln\n"
                              + "".join(f"P1,{d},PLT,40,10^9/L,150\n" for d in range(-1, 4))
                              + "P2,-1,PLT,35,10^9/L,150,x\n"),
         "labs", 7, None, "x",
         esc("the row has 7 cells but the header has 6 columns; check for an unquoted comma")),
    case("repeated column",
         lambda p: make_study(p, labs="patient_id,day,test,value,unit,value\n"
                              "P1,-1,PLT,40,10^9/L,41\nP2,-1,PLT,35,10^9/L,36\n"),
         "labs", 1, "value", None,
         esc("column name appears twice (column 6 repeats it); only the first is read")),
    case("empty required table", _empty_labs, "labs", 1, None, None,
         esc("the table is empty: it needs a header row")),
    case("file not UTF-8", _not_utf8, "labs", None, None, None, _not_utf8_message),
    case("two files for a table", _two_files, "labs", None, None, None,
         esc("two files for the table: Labs.csv and labs.csv")),
    case("name close to a table--sheet", _sheet_named_close, "adverse_events", None, None,
         "Adverse events",
         esc("sheet 'Adverse events' is not a contract table name; did you mean adverse_events? "
             "Rename it to 'adverse_events' (as written it would not be read, and adverse_events "
             "would be absent)")),
    case("name close to a table--file", _file_named_close, "labs", None, None, "lab.csv",
         esc("lab.csv is not a contract table name; did you mean labs? Rename it to 'labs' (as "
             "written it would not be read, and labs would be absent)")),
    case("name close to a table--database table", _database_table_close, "labs", None, None, "lab",
         esc("table 'lab' is not a contract table name; did you mean labs? Rename it to 'labs' "
             "(as written it would not be read, and labs would be absent)")),
    case("table path not a readable file", _not_a_file("folder"), "transfusions", None, None,
         "transfusions.csv",
         esc("transfusions.csv is a folder, not a file; the transfusions table must be a readable file")),
    case("table path not a readable file--pipe", _not_a_file("pipe"), "transfusions", None, None,
         "transfusions.csv",
         esc("transfusions.csv is not a regular file (a pipe, socket or device); the transfusions "
             "table must be a readable file")),
    case("table path not a readable file--symlink loop", _not_a_file("symlink_loop"),
         "transfusions", None, None, "transfusions.csv",
         esc("transfusions.csv cannot be opened (Too many levels of symbolic links); the "
             "transfusions table must be a readable file")),
    case("table path not a readable file--no permission", _not_a_file("no_permission"),
         "transfusions", None, None, "transfusions.csv",
         esc("transfusions.csv cannot be read (no permission); the transfusions table must be a "
             "readable file"),
         marks=(pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file without permission"),)),
    case("patient ids differ only in case",
         lambda p: make_study(p, patients="patient_id,sex\nH001,M\nP1,M\nh001,F\nP2,F\n"),
         "patients", 4, "patient_id", "h001",
         esc("patient_id differs only in upper/lower case from another patient's: H001 at row 2; "
             "ids must differ by more than case")),
    case("control character in a cell",
         lambda p: make_study(p, adverse_events="patient_id,term,grade,start_day\nP1,Nau\x0bsea,2,3\n"),
         "adverse_events", 2, "term", "Nau\\x0bsea",
         esc("the cell holds a control character (shown as \\xNN; a tab, line break or other "
             "invisible character); remove it")),
    case("control character in a cell--DEL in another column",
         lambda p: make_study(p, labs=LABS + "P1,0,PLT,41,10^9/L\x7f\n"),
         "labs", 4, "unit", "10^9/L\\x7f",
         esc("the cell holds a control character (shown as \\xNN; a tab, line break or other "
             "invisible character); remove it")),
    case("misspelt study drug or TPO-RA",
         lambda p: make_study(p, exposures=EXPOSURES + "P1,Avatrombopg,-30,-20,20,mg\n"),
         "exposures", 4, "drug", "Avatrombopg",
         esc("drug not in the dictionary and no role given; did you mean avatrombopag? Correct "
             "the name or give a role column")),
    case("study-drug dose unit",
         lambda p: make_study(p, exposures=EXPOSURES.replace("P2,ATRA,0,41,40,mg", "P2,ATRA,0,41,2,tablets")),
         "exposures", 3, "dose_unit", "tablets",
         esc("unknown dose unit for the study drug; give the dose in mg (g and ug are converted)")),
    # "impossible study-drug dose per m2" is checked at analysis (ctit validate --protocol,
    # ctit analyze), not by the readers: tests/test_dose_check.py covers it.
    case("impossible age, height, weight",
         lambda p: make_study(p, patients=PATIENTS + "P3,M,250,170,70\n"),
         "patients", 4, "age_years", "250",
         r"age_years is impossible \(possible 0-120 year; no recorded human age exceeds 122 years; .*\)"),
    case("impossible lab value", lambda p: make_study(p, labs=LABS + "P1,0,HGB,950,g/L\n"),
         "labs", 4, "value", "950",
         r"HGB g/L after conversion is impossible \(possible 10-300 g/L; .*\)"),
    case("date outside the study period",
         lambda p: dated(p, labs=D_LABS + "P1,1900-01-05,PLT,41,10^9/L\n"),
         "labs", 4, "date", "1900-01-05",
         lambda _: esc(f"date outside the plausible study period 1990-01-01 to {later_year()} (")
         + r".*\)"),
    case("date outside the study period--after today + 1 year",
         lambda p: dated(p, exposures=D_EXPOSURES + f"P1,ondansetron,{far_future()},,8,mg\n"),
         "exposures", 4, "start_date", ANY,
         lambda _: esc(f"date outside the plausible study period 1900-01-01 to {later_year()} (")
         + r".*\)"),
    case("day far out of range", lambda p: make_study(p, labs=LABS + "P1,1e20,PLT,41,10^9/L\n"),
         "labs", 4, "day", "1e20", esc("day is far too large (more than 9.0072e+15)")),
    case("day far out of range--beyond 36525", lambda p: make_study(p, labs=LABS + "P1,40000,PLT,41,10^9/L\n"),
         "labs", 4, "day", "40000", r"day is impossible \(possible -36525-36525 day; .*\)"),
    case("record after death",
         lambda p: make_study(p, labs=LABS + "P1,5,PLT,41,10^9/L\nP1,20,PLT,42,10^9/L\n",
                              adverse_events="patient_id,term,grade,start_day\nP1,Sepsis,5,12\n"),
         "labs", 5, "day", "20",
         esc("record on day 20 is after the patient's death on day 12 (grade-5 adverse event, "
             "adverse_events row 2); death ends follow-up")),
    case("record after death--patients.death_day",
         lambda p: make_study(p, patients="patient_id,death_day\nP1,12\nP2,\n",
                              labs=LABS + "P1,5,PLT,41,10^9/L\nP1,20,PLT,42,10^9/L\n"),
         "labs", 5, "day", "20",
         esc("record on day 20 is after the patient's death on day 12 (patients death_day, row 2); "
             "death ends follow-up")),
]


# --- the warning cases ---------------------------------------------------------------------

def _not_read(tmp_path: Path) -> Path:
    folder = make_study(tmp_path)
    (folder / "notes.csv").write_text("note\nfollow up\n", encoding="utf-8")
    return folder


def _empty_optional_csv(tmp_path: Path) -> Path:
    folder = make_study(tmp_path)
    (folder / "bleeding.csv").write_bytes(b"")
    return folder


WARNINGS = [
    case("unknown drugs (one warning for all)",
         lambda p: make_study(p, exposures=EXPOSURES + "P1,Foo,1,2,1,mg\nP2,Foo,1,2,1,mg\nP1,Bar,1,2,1,mg\n"),
         "exposures", 4, "drug", "Foo",
         esc("drug not in the dictionary, role 'other' assumed for 2 names: Foo (2 rows); Bar (1 row); "
             "for each, add a role column to classify it"), severity="warning"),
    case("unusual age, height, weight", lambda p: make_study(p, patients=PATIENTS + "P3,F,15,160,50\n"),
         "patients", 4, "age_years", "15", esc("age_years is unusual (usual 18-100 year); check it"),
         severity="warning"),
    # "unusual study-drug dose per m2" is checked at analysis (listed in results.json
    # `warnings`), not by the readers: tests/test_dose_check.py covers it.
    case("unusual lab value", lambda p: make_study(p, labs=LABS + "P1,0,ANC,150,10^9/L\n"),
         "labs", 4, "value", "150",
         esc("ANC 10^9/L after conversion is unusual (usual 0-100 10^9/L); check it"), severity="warning"),
    case("date outside the study period--other tables, 1900-1989",
         lambda p: dated(p, exposures=D_EXPOSURES + "P1,ondansetron,1985-01-01,,8,mg\n"),
         "exposures", 4, "start_date", "1985-01-01",
         lambda _: esc(f"date before or after the usual study period 1990-01-01 to {later_year()}; check it"),
         severity="warning"),
    case("file, sheet or table not read", _not_read, "notes", None, None, None,
         esc("notes.csv is not a contract table (patients, exposures, labs, transfusions, bleeding, "
             "adverse_events); it is not read"), severity="warning"),
    case("role differs from dictionary",
         lambda p: make_study(p, exposures="patient_id,drug,start_day,role\nP1,ATRA,0,\nP2,ATRA,0,\n"
                              "P1,interleukin-11,1,\nP1,interleukin-11,2,tpo_ra\n"),
         "exposures", 5, "role", "tpo_ra",
         esc("role 'tpo_ra' differs from the drug dictionary's 'other' for interleukin-11; the "
             "table's role is used"), severity="warning"),
    case("unit unknown, optional test", lambda p: make_study(p, labs=LABS + "P1,0,HGB,120,mmol/mol\n"),
         "labs", 4, "unit", "mmol/mol",
         esc("1 HGB row with an unknown unit (first shown); values kept as written, unit left empty; "
             "accepted units: g/L, g/dL, mmol/L"), severity="warning"),
    case("index_date disagrees",
         lambda p: dated(p, patients="patient_id,index_date\nP1,2024-03-01\nP2,\n",
                         exposures="patient_id,drug,start_date,end_date,dose,dose_unit\n"
                         "P1,ondansetron,2024-03-04,2024-03-05,8,mg\n"
                         "P2,ATRA,2024-01-01,2024-02-10,40,mg\n"
                         "P1,ATRA,2024-03-03,2024-04-10,40,mg\n",
                         labs=D_LABS.replace("P1,2023-12-31", "P1,2024-03-02")),
         "patients", 2, "index_date", "2024-03-01",
         esc("index_date disagrees with the first dated study-drug dose (2024-03-03, exposures row "
             "4); day 0 is the study-drug date"), severity="warning"),
    case("column without header",
         lambda p: make_study(p, labs="patient_id,day,test,value,unit,lln,\nP1,-1,PLT,40,10^9/L,150,a\n"
                              "P2,-1,PLT,35,10^9/L,150,\n"),
         "labs", 1, "unnamed_7", None, esc("column 7 has values but no header; kept as 'unnamed_7'"),
         severity="warning"),
    case("dated rows, no study-drug record",
         lambda p: make_study(p, patients=PATIENTS + "PX1,F,50,160,60\n",
                              labs="patient_id,day,date,test,value,unit\nP1,-1,,PLT,40,10^9/L\n"
                              "P2,-1,,PLT,35,10^9/L\nPX1,,2024-05-01,PLT,40,10^9/L\n"
                              "PX1,,2024-05-02,PLT,41,10^9/L\nPX1,,2024-05-03,PLT,42,10^9/L\n"),
         "labs", 4, "date", "2024-05-01",
         esc("patient 'PX1' has no study-drug record, so their 3 dated cell(s) have no day 0 (first "
             "shown) and their days are left empty; the analysis excludes the patient as "
             "no_study_drug and lists these rows as unused"), severity="warning"),
    case("empty optional table", lambda p: workbook(p, base_sheets(bleeding=None)),
         "bleeding", None, None, None,
         esc("sheet 'bleeding' is empty (no header row, no records); bleeding is optional, so it is "
             "read as no records, as if absent"), severity="warning"),
    case("empty optional table--CSV", _empty_optional_csv, "bleeding", None, None, None,
         esc("bleeding.csv is empty (no header row, no records); bleeding is optional, so it is "
             "read as no records, as if absent"), severity="warning"),
]


def _problems(path: Path, severity: str) -> list[Problem]:
    """Every problem of reading `path`: errors must stop the read; a warning must not."""
    if severity == "error":
        with pytest.raises(InputError) as exc:
            read_study(path)
        return exc.value.problems
    return read_study(path).warnings


def _check(c: Case, tmp_path: Path) -> None:
    path = c.build(tmp_path)
    problems = _problems(path, c.severity)
    listing = "\n".join(f"[{p.severity}] {p}" for p in problems)
    hits = [p for p in problems if (p.table, p.row, p.column, p.severity)
            == (c.table, c.row, c.column, c.severity) and (c.value is ANY or p.value == c.value)]
    assert hits, f"no {c.severity} at {c.table}/{c.row}/{c.column}/{c.value!r}; got:\n{listing}"
    pattern = c.message(path) if callable(c.message) else c.message
    matching = [p for p in hits if re.fullmatch(pattern, p.message)]
    assert matching, f"message {pattern!r} not printed; at that place:\n" + \
        "\n".join(p.message for p in hits)


@pytest.mark.parametrize("c", ERRORS)
def test_documented_error(c: Case, tmp_path: Path) -> None:
    _check(c, tmp_path)


@pytest.mark.parametrize("c", WARNINGS)
def test_documented_warning(c: Case, tmp_path: Path) -> None:
    _check(c, tmp_path)


# --- the doc and this file stay in step ----------------------------------------------------

DOC = Path(__file__).resolve().parents[1] / "docs" / "input.md"
# Checked by the analysis, not the readers (tests/test_dose_check.py).
AT_ANALYSIS = {"impossible study-drug dose per m2", "unusual study-drug dose per m2"}


def _documented_checks() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Every problem, with an example message", 1)[1].split("## A lone labs file", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "`" in line]
    return [row.split("|")[1].strip() for row in rows]


def test_every_documented_row_has_a_case() -> None:
    documented = _documented_checks()
    covered = {p.id.split("--")[0] for p in ERRORS + WARNINGS}
    assert len(documented) == len(set(documented))
    assert set(documented) - covered - AT_ANALYSIS == set()
    assert covered - set(documented) == set()
