"""`ctit synth`: the same seed gives the same study, every exclusion reason of protocol
section 4 appears, and the analysis runs on it."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ctit.cli import app
from ctit.protocol import EXCLUSION_REASONS
from ctit.synth import generate

runner = CliRunner()


def test_the_same_seed_gives_the_same_study_and_another_seed_another():
    a, b, c = generate(300, seed=7), generate(300, seed=7), generate(300, seed=8)
    assert all(a[name].equals(b[name]) for name in a)
    assert not a["labs"].equals(c["labs"])


def test_a_synthetic_study_is_analysed_with_every_exclusion_reason(tmp_path: Path):
    study, out = tmp_path / "study", tmp_path / "out"
    result = runner.invoke(app, ["synth", str(study), "--patients", "200", "--seed", "3"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["analyze", str(study), "--out", str(out), "-f", "json", "-q"])
    assert result.exit_code == 0, result.output
    cohort = json.loads((out / "results.json").read_text())["cohort"]
    assert cohort["screened"] == 200
    excluded = {e["reason"]: e["n"] for e in cohort["excluded"]}
    assert set(EXCLUSION_REASONS) <= {r for r, n in excluded.items() if n > 0}
    # About 23 lab rows a patient, as in the example study.
    labs = generate(200, seed=3)["labs"]
    assert 20 <= labs.num_rows / 200 <= 24


def test_engine_options_are_checked_before_anything_runs(tmp_path: Path):
    study = tmp_path / "study"
    runner.invoke(app, ["synth", str(study), "--patients", "20"])
    result = runner.invoke(app, ["analyze", str(study), "--out", str(tmp_path / "o"), "--engine", "oracle"])
    assert result.exit_code == 2 and not (tmp_path / "o").exists()
    result = runner.invoke(app, ["analyze", str(study), "--out", str(tmp_path / "o"),
                                 "--spark-conf", "spark.master=local[1]"])
    assert result.exit_code == 2 and not (tmp_path / "o").exists()
