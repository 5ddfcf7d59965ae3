"""`ctit synth --format omop` (docs/omop.md, "Synthetic OMOP"): the synthetic study as an
OMOP CDM reads back as the canonical one, and the comparator recovers the generator's
spontaneous-recovery rate among the untreated patients."""

from __future__ import annotations

import json
import math
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
def test_an_omop_study_derives_the_same_patients_on_spark(tmp_path: Path, spark_con) -> None:
    """The OMOP reader runs on DuckDB and hands the canonical tables to the derivations,
    which then run on Spark (docs/omop.md, "On Spark"): the same patients.csv."""
    from ctit.pipeline import run_analysis

    cdm = tmp_path / "cdm"
    _ok(["synth", str(cdm), "-n", "60", "--seed", "9", "--format", "omop"])
    run_analysis(cdm, tmp_path / "duckdb", None, [], source="omop", formats=(), con=None)
    run_analysis(cdm, tmp_path / "spark", None, [], source="omop", formats=(), con=spark_con)
    duck = (tmp_path / "duckdb" / "patients.csv").read_text()
    assert duck.count("\n") == 61
    assert duck == (tmp_path / "spark" / "patients.csv").read_text()
