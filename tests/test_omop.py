"""The OMOP CDM reader and writer (docs/omop.md): concept sets, units, day 0, bleeding,
transfusions, death; the Eunomia sample; the round trip through `ctit export omop`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from ctit.cli import app
from ctit.errors import InputError
from ctit.omop.reader import read_omop
from omop_builders import concept_rows, write_cdm

ORAL, TOPICAL = 4132161, 4263689


def _one_patient(tmp_path: Path, **extra: list[dict]) -> Path:
    """One woman born 1960-06-15: oral tretinoin from 2024-01-01 (day 0), a topical
    tretinoin cream before it, romiplostim through a clinical-drug descendant, hetrombopag
    by source value only, cisplatin under ATC L01; platelets in four units."""
    tables = dict(
        person=[{"person_id": 7, "gender_concept_id": 8532, "year_of_birth": 1960, "month_of_birth": 6,
                 "day_of_birth": 15, "person_source_value": "mrn-7"}],
        drug_exposure=[
            {"person_id": 7, "drug_concept_id": 903643, "drug_exposure_start_date": "2024-01-01",
             "drug_exposure_end_date": "2024-02-11", "route_concept_id": ORAL, "drug_source_value": "ATRA 10 mg"},
            {"person_id": 7, "drug_concept_id": 903643, "drug_exposure_start_date": "2023-11-01",
             "drug_exposure_end_date": "2023-11-30", "route_concept_id": TOPICAL, "drug_source_value": "Retin-A"},
            {"person_id": 7, "drug_concept_id": 9000001, "drug_exposure_start_date": "2023-12-01",
             "drug_exposure_end_date": "2023-12-20", "route_concept_id": 0, "drug_source_value": "Nplate"},
            {"person_id": 7, "drug_concept_id": 0, "drug_exposure_start_date": "2023-12-21",
             "drug_exposure_end_date": "2023-12-28", "route_concept_id": ORAL,
             "drug_source_value": "Hetrombopag 7.5 mg tablet"},
            {"person_id": 7, "drug_concept_id": 9000002, "drug_exposure_start_date": "2023-11-10",
             "drug_exposure_end_date": "2023-11-10", "route_concept_id": 0, "drug_source_value": "cisplatin"},
            {"person_id": 7, "drug_concept_id": 1112807, "drug_exposure_start_date": "2023-11-10",
             "drug_exposure_end_date": "2023-11-10", "route_concept_id": 0, "drug_source_value": "aspirin"},
        ],
        measurement=[
            {"person_id": 7, "measurement_concept_id": 3024929, "measurement_date": "2024-01-01",
             "value_as_number": 150000, "unit_concept_id": 8647, "unit_source_value": "/uL"},
            {"person_id": 7, "measurement_concept_id": 3024929, "measurement_date": "2024-01-02",
             "value_as_number": 15, "unit_concept_id": 32706, "unit_source_value": "10*4/uL"},
            {"person_id": 7, "measurement_concept_id": 3024929, "measurement_date": "2024-01-03",
             "value_as_number": 150, "unit_concept_id": 8848, "unit_source_value": "10*3/uL"},
            {"person_id": 7, "measurement_concept_id": 3024929, "measurement_date": "2024-01-04",
             "value_as_number": 150, "unit_concept_id": 0, "unit_source_value": "K/uL"},
            {"person_id": 7, "measurement_concept_id": 3024386, "measurement_date": "2024-01-04",
             "value_as_number": 10.2, "unit_concept_id": 8583, "unit_source_value": "fL"},
            {"person_id": 7, "measurement_concept_id": 3006923, "measurement_date": "2024-01-04",
             "value_as_number": 30, "unit_concept_id": 0, "unit_source_value": "U/L", "range_high": 35},
        ],
        concept=concept_rows([
            (9000001, "romiplostim 250 MCG Injection", "Drug", "RxNorm", "Clinical Drug", "x1"),
            (9000002, "cisplatin 1 MG/ML Injectable Solution", "Drug", "RxNorm", "Clinical Drug", "x2"),
            (1112807, "aspirin", "Drug", "RxNorm", "Ingredient", "1191")]),
        concept_ancestor=[{"ancestor_concept_id": a, "descendant_concept_id": d} for a, d in (
            (19032407, 9000001), (1397599, 9000002), (21601387, 1397599), (21601387, 9000002))],
    )
    tables.update(extra)
    return write_cdm(tmp_path / "cdm", **tables)


def test_units_concepts_and_day_zero(tmp_path: Path) -> None:
    s = read_omop(_one_patient(tmp_path))
    p = s.patients.iloc[0]
    assert (p.patient_id, p.sex, p.age_years) == ("7", "F", 63)   # 63 on 2024-01-01, born mid-1960
    plt = s.labs[s.labs.test == "PLT"].sort_values("day")
    # 150 000/uL, 15 x10^4/uL, 150 x10^3/uL and 150 K/uL (unit 0: the source value) are all 150 x10^9/L.
    assert plt.day.tolist() == [0, 1, 2, 3]
    assert plt.value.tolist() == pytest.approx([150, 150, 150, 150])
    assert set(plt.unit) == {"10^9/L"}
    # The mean platelet volume is excluded from the platelet set and in no other.
    assert len(s.labs) == 5
    alt = s.labs[s.labs.test == "ALT"].iloc[0]
    assert (alt.value, alt.unit, alt.uln) == (30, "U/L", 35)
    ex = s.exposures.set_index("drug")
    assert ex.loc["ATRA 10 mg", ["role", "drug_name", "start_day", "end_day"]].tolist() == [
        "study_drug", "tretinoin", 0, 41]
    assert ex.loc["Retin-A", "role"] == "other"                  # topical: not the study drug
    assert ex.loc["Nplate", ["role", "drug_name"]].tolist() == ["tpo_ra", "romiplostim"]
    assert ex.loc["Hetrombopag 7.5 mg tablet", ["role", "drug_name"]].tolist() == ["tpo_ra", "hetrombopag"]
    assert ex.loc["cisplatin", "role"] == "anticancer"            # through ATC L01
    assert "aspirin" not in ex.index                              # in no set: not read
    assert s.exposures.loc[s.exposures.drug == "Nplate", "start_day"].item() == -31


def test_an_override_file_beside_the_tables(tmp_path: Path) -> None:
    folder = _one_patient(tmp_path, drug_exposure=[
        {"person_id": 7, "drug_concept_id": 0, "drug_exposure_start_date": "2023-12-01",
         "drug_exposure_end_date": "2023-12-14", "drug_source_value": "TPO-3S 15000 U"}])
    (folder / "omop_concepts.yaml").write_text(
        "patient_id: person_source_value\n"
        "drugs:\n  tpo_ra:\n    - {drug: rhTPO, source_values: [tpo-3s]}\n")
    s = read_omop(folder)
    assert s.patients.patient_id.tolist() == ["mrn-7"]
    assert s.exposures[["drug_name", "role"]].values.tolist() == [["rhTPO", "tpo_ra"]]


def test_a_concept_that_is_not_what_the_set_expects_is_a_warning(tmp_path: Path) -> None:
    concepts = [c for c in concept_rows() if c["concept_id"] != 3024929]
    concepts.append({"concept_id": 3024929, "concept_name": "Hemoglobin", "domain_id": "Measurement",
                     "vocabulary_id": "LOINC", "concept_class_id": "Lab Test", "concept_code": "718-7"})
    s = read_omop(_one_patient(tmp_path, concept=concepts))
    text = [str(w) for w in s.warnings if "3024929" in str(w)]
    assert text and "'Hemoglobin'" in text[0] and "777-3" in text[0]


def test_bleeding_transfusions_and_death(tmp_path: Path) -> None:
    folder = _one_patient(
        tmp_path,
        condition_occurrence=[
            {"person_id": 7, "condition_concept_id": 4096682, "condition_start_date": "2024-01-05"},
            {"person_id": 7, "condition_concept_id": 79864, "condition_start_date": "2024-01-06"}],
        procedure_occurrence=[
            {"person_id": 7, "procedure_concept_id": 4024658, "procedure_date": "2024-01-03", "quantity": 1},
            {"person_id": 7, "procedure_concept_id": 0, "procedure_date": "2024-01-04",
             "procedure_source_value": "30233R1"}],
        death=[{"person_id": 7, "death_date": "2024-01-03"}],
    )
    s = read_omop(folder)
    # Death on day 2 ends follow-up: the later counts, bleeds and transfusion are not read.
    assert s.labs[s.labs.test == "PLT"].day.max() == 2
    assert s.patients.death_day.tolist() == [2]
    assert s.transfusions[["day", "product"]].values.tolist() == [[2, "platelets"]]
    assert s.bleeding.empty
    folder2 = _one_patient(
        tmp_path / "b",
        condition_occurrence=[
            {"person_id": 7, "condition_concept_id": 4096682, "condition_start_date": "2024-01-05"},
            {"person_id": 7, "condition_concept_id": 79864, "condition_start_date": "2024-01-06"}],
        procedure_occurrence=[{"person_id": 7, "procedure_concept_id": 0, "procedure_date": "2024-01-04",
                               "procedure_source_value": "30233R1"}])
    s = read_omop(folder2)
    # WHO grades from the mapping table: epistaxis 1, haematuria 2.
    assert s.bleeding.sort_values("day")[["day", "who_grade"]].values.tolist() == [[4, 1], [5, 2]]
    assert s.transfusions[["day", "product"]].values.tolist() == [[3, "platelets"]]


def test_a_bad_date_is_located(tmp_path: Path) -> None:
    folder = _one_patient(tmp_path)
    m = pd.read_csv(folder / "MEASUREMENT.csv", dtype=str)
    m.loc[2, "measurement_date"] = "2024-13-45"
    m.to_csv(folder / "MEASUREMENT.csv", index=False)
    with pytest.raises(InputError) as exc:
        read_omop(folder)
    p = exc.value.errors[0]
    assert (p.table, p.column, p.value) == ("MEASUREMENT", "measurement_date", "2024-13-45")
    assert "measurement_id 3" in p.message


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_malformed_csv_record_is_an_input_error_naming_its_row(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, newline: str) -> None:
    """A record with a field more than the header names, one with a quoted line break: the
    DuckDB sniffer once took such a record for another header, so every column read as
    missing; now the table, the file's row and the whole record are named, exit 2, from
    `validate` and `comparator` alike, with the CDM given by a relative path."""
    folder = _one_patient(tmp_path)
    text = (folder / "MEASUREMENT.csv").read_text(encoding="utf-8").splitlines()
    text[3] += ',"a\nnote"'
    (folder / "MEASUREMENT.csv").write_bytes((newline.join(text) + newline).encode())
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    with pytest.raises(InputError) as exc:
        read_omop(Path("../cdm"))
    [p] = exc.value.errors
    assert (p.table, p.row, p.value) == ("MEASUREMENT", 4, text[3])
    named = len(text[0].split(","))
    assert f"has {named + 1} fields where the header names {named}" in p.message
    for command in (["validate", "--from", "omop", "../cdm"], ["comparator", "../cdm", "--out", "out"]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 2 and "MEASUREMENT, row 4" in result.output, result.output


def test_column_names_are_read_in_any_case(tmp_path: Path) -> None:
    """PERSON_ID, as an Oracle or SQL Server export writes it, is person_id; a name given
    twice (in any case) is an input error naming it."""
    folder = _one_patient(tmp_path)
    lower = read_omop(folder).labs
    m = pd.read_csv(folder / "MEASUREMENT.csv", dtype=str)
    m.columns = [c.upper() for c in m.columns]
    m.to_csv(folder / "MEASUREMENT.csv", index=False)
    pd.testing.assert_frame_equal(read_omop(folder).labs, lower)
    m.columns = ["person_id" if c == "MEASUREMENT_DATE" else c for c in m.columns]
    m.to_csv(folder / "MEASUREMENT.csv", index=False)
    with pytest.raises(InputError) as exc:
        read_omop(folder)
    assert [(p.table, p.message) for p in exc.value.errors] == [
        ("MEASUREMENT", "MEASUREMENT.csv cannot be read as a table: column 'person_id' is named "
                        "twice (names are read in any case)")]


def test_eunomia_reads_and_explains_why_nobody_is_eligible(shared_data: Path, tmp_path: Path) -> None:
    eunomia = shared_data / "eunomia-synthea27nj-omop"
    s = read_omop(eunomia)
    assert len(s.patients) == 28
    plt = s.labs[s.labs.test == "PLT"]
    assert len(plt) == 107 and plt.value.between(152, 449).all()
    # ALT/AST have unit_concept_id 0 there: the unit comes from unit_source_value.
    assert set(s.labs[s.labs.test.isin(["ALT", "AST"])].unit) == {"U/L"}
    assert s.exposures.empty
    assert any("none of the 28 persons has a study-drug exposure" in str(w) for w in s.warnings)
    r = CliRunner().invoke(app, ["analyze", str(eunomia), "--from", "omop", "--out", str(tmp_path / "o"),
                                 "-f", "json", "-q"])
    assert r.exit_code == 0, r.output
    cohort = json.loads((tmp_path / "o" / "results.json").read_text())["cohort"]
    assert cohort["included"] == 0
    assert {e["reason"]: e["n"] for e in cohort["excluded"]}["no_study_drug"] == 28


def test_round_trip_through_omop_gives_the_same_results(tmp_path: Path) -> None:
    runner = CliRunner()
    example = tmp_path / "example"
    assert runner.invoke(app, ["example", str(example)]).exit_code == 0
    r = runner.invoke(app, ["analyze", str(example), "--out", str(tmp_path / "direct"), "-f", "json", "-q"])
    assert r.exit_code == 0, r.output
    a = json.loads((tmp_path / "direct" / "results.json").read_text())
    assert a["cohort"]["included"] == 27
    for fmt in ("csv", "parquet"):
        cdm, out = tmp_path / f"cdm-{fmt}", tmp_path / f"via-{fmt}"
        r = runner.invoke(app, ["export", "omop", str(example), str(cdm), "--format", fmt])
        assert r.exit_code == 0, r.output
        assert (cdm / f"PERSON.{fmt}").is_file() and (cdm / f"CONCEPT.{fmt}").is_file()
        r = runner.invoke(app, ["analyze", str(cdm), "--from", "omop", "--out", str(out), "-f", "json", "-q"])
        assert r.exit_code == 0, r.output
        b = json.loads((out / "results.json").read_text())
        assert {k: v for k, v in a.items() if k != "inputs"} == {k: v for k, v in b.items() if k != "inputs"}
        assert (tmp_path / "direct" / "patients.csv").read_text() == (out / "patients.csv").read_text()


def test_a_duckdb_file_reads_like_the_folder(tmp_path: Path) -> None:
    import duckdb

    folder = _one_patient(tmp_path)
    db = tmp_path / "cdm.duckdb"
    con = duckdb.connect(str(db))
    for f in folder.glob("*.csv"):
        con.execute(f"CREATE TABLE {f.stem.lower()} AS SELECT * FROM read_csv('{f}', header = true)")
    con.close()
    a, b = read_omop(folder), read_omop(db)
    for name in ("patients", "exposures", "labs"):
        cols = [c for c in getattr(a, name).columns if c != "source_table"]
        left = getattr(a, name)[cols].sort_values("source_row").reset_index(drop=True)
        right = getattr(b, name)[cols].sort_values("source_row").reset_index(drop=True)
        pd.testing.assert_frame_equal(left, right, check_dtype=False)
