"""Screen failures and empty optional tables: read with a warning, not stopped.

- A screened patient with no study-drug record whose rows use dates has no day 0 (protocol
  section 4.1: "no study drug means no day 0"): the rows are kept with an empty day, one
  warning names the patient, and the analysis excludes them as `no_study_drug`.
- An entirely empty file or sheet of an optional table reads like an absent table.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ctit.cli import app
from ctit.errors import InputError, Problem
from ctit.readers import read_study

PATIENTS = "patient_id,sex\nP1,M\nP2,F\nP3,F\n"
EXPOSURES = "patient_id,drug,start_day,start_date\nP1,ATRA,0,\nP2,ATRA,,2024-03-01\n"
LABS = ("patient_id,day,date,test,value,unit\nP1,-1,,PLT,40,10^9/L\nP2,,2024-02-29,PLT,35,10^9/L\n"
        "P3,,2024-05-01,PLT,30,10^9/L\nP3,,2024-05-03,PLT,32,10^9/L\n")


def make_study(tmp_path: Path, **tables: str | bytes | None) -> Path:
    texts: dict[str, str | bytes | None] = {"patients": PATIENTS, "exposures": EXPOSURES,
                                            "labs": LABS}
    texts.update(tables)
    folder = tmp_path / "study"
    folder.mkdir(exist_ok=True)
    for name, text in texts.items():
        if isinstance(text, bytes):
            (folder / f"{name}.csv").write_bytes(text)
        elif text is not None:
            (folder / f"{name}.csv").write_text(text, encoding="utf-8")
    return folder


def only(problems: list[Problem], table: str, severity: str = "warning") -> Problem:
    hits = [p for p in problems if p.table == table and p.severity == severity]
    assert len(hits) == 1, "\n".join(map(str, problems))
    return hits[0]


# --- a screened patient without study drug -------------------------------------------------

def test_dated_rows_without_study_drug_warn_and_keep_an_empty_day(tmp_path: Path) -> None:
    folder = make_study(
        tmp_path,
        exposures=EXPOSURES + "P3,romiplostim,,2024-04-10\n",
        bleeding="patient_id,date,who_grade\nP3,2024-05-02,1\n")
    study = read_study(folder)
    (w,) = study.warnings
    assert (w.table, w.row, w.column, w.value) == ("exposures", 4, "start_date", "2024-04-10")
    assert "patient 'P3' has no study-drug record" in w.message
    assert "4 dated cell(s) have no day 0" in w.message
    assert "no_study_drug" in w.message and "unused" in w.message
    labs = study.labs.set_index("source_row")
    assert labs.loc[2, "day"] == -1 and labs.loc[3, "day"] == -1     # P2: day 0 = 2024-03-01
    assert labs.loc[[4, 5], "day"].isna().all()                      # P3: kept, no day
    assert len(study.labs) == 4
    p3 = study.exposures[study.exposures["patient_id"] == "P3"]
    assert p3["role"].tolist() == ["tpo_ra"] and p3["start_day"].isna().all()
    assert study.bleeding["day"].isna().all()


def test_one_warning_per_patient_without_study_drug(tmp_path: Path) -> None:
    folder = make_study(tmp_path, patients=PATIENTS + "P4,M\n",
                        labs=LABS + "P4,,2024-06-01,PLT,20,10^9/L\n")
    warnings = read_study(folder).warnings
    assert len(warnings) == 2, "\n".join(map(str, warnings))
    assert "'P3'" in warnings[0].message and (warnings[0].row, warnings[0].value) == (4, "2024-05-01")
    assert "'P4'" in warnings[1].message and warnings[1].row == 6


def test_index_date_gives_day_0_without_study_drug(tmp_path: Path) -> None:
    folder = make_study(tmp_path, patients="patient_id,index_date\nP1,\nP2,\nP3,2024-05-01\n")
    study = read_study(folder)
    assert study.warnings == []
    assert study.labs["day"].tolist()[2:] == [0, 2]


def test_study_drug_without_a_dated_record_is_still_an_error(tmp_path: Path) -> None:
    # P3 has a study-drug record, but it gives no date: a data gap, not a screen failure.
    folder = make_study(tmp_path, exposures=EXPOSURES + "P3,ATRA,,\n")
    with pytest.raises(InputError) as exc:
        read_study(folder)
    errors = exc.value.errors
    assert any(p.table == "exposures" and p.row == 4 and "required" in p.message for p in errors)
    p = next(p for p in errors if "no day 0" in p.message)
    assert (p.table, p.row, p.value) == ("labs", 4, "2024-05-01")
    assert "'P3'" in p.message and "index_date" in p.message and "2 dated" in p.message


def test_without_exposures_table_no_day_0_stays_an_error(tmp_path: Path) -> None:
    folder = make_study(tmp_path, exposures=None)
    with pytest.raises(InputError) as exc:
        read_study(folder)
    assert any("no day 0" in p.message and p.severity == "error" for p in exc.value.problems)


def test_analyze_excludes_a_dated_patient_without_study_drug(tmp_path: Path) -> None:
    runner = CliRunner()
    study = tmp_path / "study"
    result = runner.invoke(app, ["example", str(study)])
    assert result.exit_code == 0, result.output
    header = (study / "patients.csv").read_text().splitlines()[0].split(",")
    with (study / "patients.csv").open("a") as fh:
        fh.write(",".join({"patient_id": "PX1", "sex": "F"}.get(c, "") for c in header) + "\n")
    n_labs = len((study / "labs.csv").read_text().splitlines())
    header = (study / "labs.csv").read_text().splitlines()[0].split(",")
    with (study / "labs.csv").open("a") as fh:
        for date, value in (("2024-05-01", "40"), ("2024-05-03", "45")):
            row = {"patient_id": "PX1", "date": date, "test": "PLT", "value": value,
                   "unit": "10^9/L"}
            fh.write(",".join(row.get(c, "") for c in header) + "\n")
    header = (study / "exposures.csv").read_text().splitlines()[0].split(",")
    with (study / "exposures.csv").open("a") as fh:
        row = {"patient_id": "PX1", "drug": "romiplostim", "role": "tpo_ra",
               "start_date": "2024-04-10", "end_date": "2024-04-30"}
        fh.write(",".join(row.get(c, "") for c in header) + "\n")

    out = tmp_path / "out"
    result = runner.invoke(app, ["analyze", str(study), "--out", str(out), "-q", "-f", "html"])
    assert result.exit_code == 0, result.output
    with (out / "patients.csv").open() as fh:
        px1 = next(r for r in csv.DictReader(fh) if r["patient_id"] == "PX1")
    assert px1["included"] == "false" and px1["exclusion_reasons"] == "no_study_drug"
    with (out / "unused_rows.csv").open() as fh:
        unused = {(r["table"], int(r["source_row"])): r["reason"] for r in csv.DictReader(fh)}
    for row in (n_labs + 1, n_labs + 2):
        assert "no study-drug record" in unused[("labs", row)]
    results = json.loads((out / "results.json").read_text())
    assert any("patient 'PX1' has no study-drug record" in w for w in results["warnings"])
    assert {"reason": "no_study_drug", "n": 2} in results["cohort"]["excluded"]


# --- entirely empty optional tables ---------------------------------------------------------

@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b"\n\n", b",,\n"])
def test_empty_optional_csv_reads_as_absent(tmp_path: Path, content: bytes) -> None:
    folder = make_study(tmp_path, labs=LABS.replace("P3,,2024-05-01", "P1,0,")
                        .replace("P3,,2024-05-03", "P1,1,"), bleeding=content)
    study = read_study(folder)
    w = only(study.warnings, "bleeding")
    assert w.message.startswith("bleeding.csv is empty") and "read as no records" in w.message
    assert study.bleeding.empty and list(study.bleeding.columns)[:3] == ["patient_id", "day",
                                                                         "who_grade"]
    (f,) = [i for i in study.inputs if i.table == "bleeding"]
    assert (f.name, f.rows) == ("bleeding.csv", 0)


def test_empty_required_csv_is_an_error(tmp_path: Path) -> None:
    folder = make_study(tmp_path, exposures=b"")
    with pytest.raises(InputError) as exc:
        read_study(folder)
    p = only(exc.value.problems, "exposures", "error")
    assert p.row == 1 and "empty" in p.message


def _workbook(tmp_path: Path, empty: str, blank_rows: int = 0) -> Path:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    book.remove(book.active)
    sheets = {"patients": [["patient_id"], ["P1"]],
              "exposures": [["patient_id", "drug", "start_day"], ["P1", "ATRA", 0]],
              "labs": [["patient_id", "day", "test", "value", "unit"], ["P1", -1, "PLT", 40, "10^9/L"]],
              "Bleeding": [["patient_id", "day", "who_grade"], ["P1", 3, 1]]}
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        if name != empty:
            for r in rows:
                sheet.append(r)
        else:
            for k in range(blank_rows):
                sheet.cell(row=k + 1, column=1, value=None).number_format = "0.00"
    path = tmp_path / "study.xlsx"
    book.save(path)
    return path


@pytest.mark.parametrize("blank_rows", [0, 3])
def test_empty_optional_sheet_reads_as_absent(tmp_path: Path, blank_rows: int) -> None:
    study = read_study(_workbook(tmp_path, "Bleeding", blank_rows))
    w = only(study.warnings, "bleeding")
    assert w.message.startswith("sheet 'Bleeding' is empty") and "optional" in w.message
    assert "read as no records" in w.message
    assert study.bleeding.empty
    assert [(i.table, i.rows) for i in study.inputs][-1] == ("bleeding", 0)


def test_empty_required_sheet_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as exc:
        read_study(_workbook(tmp_path, "labs"))
    p = only(exc.value.problems, "labs", "error")
    assert p.row == 1 and "empty" in p.message


def test_empty_optional_table_in_validate(tmp_path: Path) -> None:
    path = _workbook(tmp_path, "Bleeding")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "sheet 'Bleeding' is empty" in result.output
