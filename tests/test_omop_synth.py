"""`ctit synth --format omop` (docs/omop.md, "Synthetic OMOP"): the synthetic study as an
OMOP CDM reads back as the canonical one, and the comparator recovers the generator's
spontaneous-recovery rate among the untreated patients."""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path

import pyarrow.compute as pc
import pytest
from typer.testing import CliRunner

from ctit.cli import app
from ctit.synth import generate

runner = CliRunner()


def _ok(args: list[str]) -> None:
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output


def test_a_synthetic_omop_study_reads_as_the_canonical_one(tmp_path: Path) -> None:
    canon, cdm = tmp_path / "canon", tmp_path / "cdm"
    _ok(["synth", str(canon), "-n", "120", "--seed", "4", "--untreated", "0.2"])
    _ok(["synth", str(cdm), "-n", "120", "--seed", "4", "--format", "omop"])
    assert (cdm / "PERSON.csv").is_file() and (cdm / "CONCEPT_ANCESTOR.csv").is_file()
    _ok(["analyze", str(canon), "--out", str(tmp_path / "a"), "-f", "json", "-q"])
    _ok(["analyze", str(cdm), "--from", "omop", "--out", str(tmp_path / "b"), "-f", "json", "-q"])
    a = json.loads((tmp_path / "a" / "results.json").read_text())
    b = json.loads((tmp_path / "b" / "results.json").read_text())
    # person_source_value carries the patient id: the same patients, row for row.
    assert (tmp_path / "a" / "patients.csv").read_text() == (tmp_path / "b" / "patients.csv").read_text()
    assert {k: v for k, v in a.items() if k != "inputs"} == {k: v for k, v in b.items() if k != "inputs"}
    # About a fifth of the eligible patients were given no ATRA.
    excluded = {e["reason"]: e["n"] for e in a["cohort"]["excluded"]}
    assert excluded["no_study_drug"] >= 15


def test_untreated_patients_leave_the_treated_ones_as_they_were() -> None:
    plain, mixed = generate(100, seed=2), generate(100, seed=2, untreated_share=0.3)
    treated = pc.unique(mixed["exposures"].filter(pc.equal(mixed["exposures"]["role"], "study_drug"))["patient_id"])
    assert 50 <= len(treated) < 80
    for name in ("labs", "exposures"):
        keep = [t.filter(pc.is_in(t["patient_id"], treated)) for t in (plain[name], mixed[name])]
        assert keep[0].equals(keep[1])


def test_the_comparator_recovers_the_spontaneous_recovery_rate(tmp_path: Path) -> None:
    rate, cdm, out = 0.3, tmp_path / "cdm", tmp_path / "out"
    _ok(["synth", str(cdm), "-n", "400", "--seed", "11", "--format", "omop-parquet",
         "--untreated", "0.5", "--spontaneous-recovery", str(rate)])
    _ok(["comparator", str(cdm), "--out", str(out)])
    summary = json.loads((out / "comparison.json").read_text())
    screening = summary["comparator"]["screening"]
    # Every untreated patient has refractory CTIT: an episode each, nobody screened out.
    assert all(e["n"] == 0 for e in screening["excluded"])
    k = screening["episodes"]
    assert k == screening["screened_without_study_drug"] == summary["comparator"]["cohort"]["included"]
    assert 150 <= k <= 230
    # The sustained-response rate estimates the recovery rate: within 3 standard errors.
    orr = summary["comparator"]["response"]["orr"]["n"] / k
    assert abs(orr - rate) <= 3 * math.sqrt(rate * (1 - rate) / k)
    # The treated arm (ATRA, about 60% recover) is analysed beside it, apart from it.
    assert summary["treated"]["response"]["orr"]["n"] / summary["treated"]["cohort"]["included"] > 0.45


@pytest.mark.spark
def test_a_cdm_in_the_spark_catalogue_reads_as_its_files_do_on_duckdb(
        tmp_path: Path, spark_con, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--from omop DATABASE --engine spark` (docs/omop.md, "On Spark"): the reader's queries
    run on Spark over the tables of a catalogue database and give, row for row, the canonical
    tables DuckDB gives from the same CDM's files."""
    import pandas.testing as pdt

    from ctit.omop.reader import read_omop

    cdm = tmp_path / "cdm"
    _ok(["synth", str(cdm), "-n", "60", "--seed", "9", "--format", "omop"])
    # A catalogue database has no folder to hold the concept-set override: the variable does.
    monkeypatch.setenv("CTIT_OMOP_CONCEPTS", str(cdm / "omop_concepts.yaml"))
    database = f"cdm_{uuid.uuid4().hex[:8]}"
    spark = spark_con._session
    spark.sql(f"CREATE DATABASE {database}")
    for f in cdm.glob("*.csv"):
        spark.sql(f"CREATE TABLE {database}.{f.stem.lower()} USING csv OPTIONS (path '{f}', header 'true')")
    on_spark, on_duckdb = read_omop(Path(database), con=spark_con), read_omop(cdm)
    assert on_spark.source.startswith(f"OMOP CDM database {database}")
    duck = dict(on_duckdb.tables())
    for name, frame in on_spark.tables():
        pdt.assert_frame_equal(frame.reset_index(drop=True), duck[name].reset_index(drop=True))
    with pytest.raises(FileNotFoundError, match="neither a local path nor a database"):
        read_omop(tmp_path / "absent", con=spark_con)


@pytest.mark.spark
def test_spark_reads_a_cdm_csv_file_as_duckdb_does(tmp_path: Path, spark_con) -> None:
    """A CDM folder on Spark is read by Spark (a cluster reads it where it lies), in the same
    CSV dialect as DuckDB: doubled quotes, a quoted line break, an empty cell; a malformed
    record is an input error on both."""
    from ctit.omop.cdm import open_cdm

    (tmp_path / "CONCEPT.csv").write_text(
        'concept_id,concept_name\n3024929,"Platelets ""PLT"" [#/volume] in Blood"\n'
        '2,"two\nlines"\n3,\n', encoding="utf-8")
    rows = [open_cdm(tmp_path, con).tables["concept"].to_pyarrow().to_pylist() for con in (spark_con, None)]
    assert rows[0] == rows[1] == [
        {"concept_id": "3024929", "concept_name": 'Platelets "PLT" [#/volume] in Blood'},
        {"concept_id": "2", "concept_name": "two\nlines"},
        {"concept_id": "3", "concept_name": None}]
    # A malformed record fails the query that reads it; `reading` makes it an input error.
    from ctit.errors import InputError
    from ctit.omop.cdm import reading

    (tmp_path / "CONCEPT.csv").write_text("concept_id,concept_name\n1,one\n2,two,extra\n", encoding="utf-8")
    for con in (spark_con, None):
        cdm = open_cdm(tmp_path, con)
        with pytest.raises(InputError) as exc, reading(cdm):
            cdm.tables["concept"].to_pyarrow()
        [p] = exc.value.errors
        assert (p.table, p.value) == ("CONCEPT", "2,two,extra")
        assert p.message.startswith("CONCEPT.csv cannot be read as a table: a record")
