"""`ctit analyze` as a user runs it: the bundled example study, end to end.

The example's patients were written as clinical scenarios and their outcomes worked out by
hand (src/ctit/examples/atra-ctit/SCENARIOS.md, expected.csv); the engine must agree.
"""

from __future__ import annotations

import csv
import json
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ctit.cli import app

runner = CliRunner()
EXAMPLE = Path(str(resources.files("ctit").joinpath("examples", "atra-ctit")))


@pytest.fixture(scope="module")
def analysed(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("out")
    result = runner.invoke(app, ["analyze", str(EXAMPLE), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return {r["patient_id"]: r for r in csv.DictReader(fh)}


def _same(expected: str, got: str) -> bool:
    if expected == got:
        return True
    try:
        return float(expected) == float(got)
    except ValueError:
        return expected.lower() == got.lower()


def test_every_patient_matches_the_hand_worked_outcome(analysed):
    expected = _rows(EXAMPLE / "expected.csv")
    got = _rows(analysed / "patients.csv")
    assert set(got) == set(expected)
    mismatches = []
    for pid, exp in expected.items():
        row = dict(got[pid], first_exclusion_reason=got[pid]["exclusion_reasons"].split(";")[0])
        for column, value in exp.items():
            if column != "patient_id" and not _same(value, row[column]):
                mismatches.append((pid, column, value, row[column]))
    assert mismatches == []


def test_results_json_agrees_with_patients_csv(analysed):
    results = json.loads((analysed / "results.json").read_text())
    patients = _rows(analysed / "patients.csv")
    included = [p for p in patients.values() if p["included"] == "true"]
    assert results["cohort"]["screened"] == len(patients)
    assert results["cohort"]["included"] == len(included)
    excluded = {e["reason"]: e["n"] for e in results["cohort"]["excluded"]}
    for reason, n in excluded.items():
        assert n == sum(p["exclusion_reasons"].split(";")[0] == reason for p in patients.values())
    for key in ("cr", "pr", "nr"):
        assert results["response"][key]["n"] == sum(p["best_response"] == key.upper() for p in included)
    orr = results["response"]["orr"]
    assert orr["n"] == results["response"]["cr"]["n"] + results["response"]["pr"]["n"]
    assert orr["pct"] == pytest.approx(100 * orr["n"] / len(included))
    assert orr["ci95_low"] < orr["pct"] < orr["ci95_high"]
    cr_days = sorted(float(p["time_to_cr"]) for p in included if p["time_to_cr"])
    assert results["time_to_cr"]["n"] == len(cr_days)
    assert results["time_to_cr"]["min"] == cr_days[0] and results["time_to_cr"]["max"] == cr_days[-1]
    for mark in results["landmarks"]:
        changes = [float(p[f"change_d{mark['day']}"]) for p in included if p[f"change_d{mark['day']}"]]
        assert mark["n_pairs"] == len(changes)
        assert mark["min_change"] == min(changes) and mark["max_change"] == max(changes)
        assert 0 < mark["p_value"] < 0.05


def test_results_json_has_the_contract_keys(analysed):
    results = json.loads((analysed / "results.json").read_text())
    assert {"protocol", "cohort", "baseline_platelets", "landmarks", "response", "time_to_cr", "safety",
            "inputs", "warnings"} <= set(results)
    assert results["protocol"]["version"]
    assert results["protocol"]["sustain_days"] == 7
    assert set(results["baseline_platelets"]) == {"n", "median", "min", "max", "q1", "q3"}
    for key in ("cr", "pr", "nr", "ne", "orr"):
        assert set(results["response"][key]) == {"n", "pct", "ci95_low", "ci95_high"}
    assert set(results["time_to_cr"]) == {"n", "median", "min", "max", "km_median", "km_ci95_low", "km_ci95_high"}
    for event in results["safety"]["events"]:
        assert event["source"] in ("lab", "reported")
        grades = ("1", "2", "3", "4") if event["source"] == "lab" else ("1", "2", "3", "4", "5")
        assert tuple(event["by_grade"]) == grades
        assert event["n_any"] == sum(event["by_grade"].values())


def test_every_input_row_is_used_or_listed(analysed):
    results = json.loads((analysed / "results.json").read_text())
    with (analysed / "unused_rows.csv").open(newline="") as fh:
        unused = list(csv.DictReader(fh))
    for f in results["inputs"]:
        listed = [u for u in unused if u["table"] == f["table"]]
        assert f["rows_used"] + len(listed) == f["rows"]
        assert len({u["source_row"] for u in listed}) == len(listed)
        assert all(u["reason"] for u in listed)
        assert len(f["sha256"]) == 64


def test_patients_csv_columns_are_the_contract(analysed):
    header = (analysed / "patients.csv").read_text().splitlines()[0].split(",")
    assert header == ["patient_id", "included", "exclusion_reasons", "baseline_plt", "nadir_plt", "nadir_grade",
                      "cr_threshold", "best_response", "response_onset_day", "time_to_cr", "plt_d14", "plt_d28",
                      "plt_d42", "change_d14", "change_d28", "change_d42", "liver_max_grade",
                      "planned_daily_dose_mg", "treatment_days"]


def test_terminal_summary_reads_like_the_abstract(analysed):
    result = runner.invoke(app, ["analyze", str(EXAMPLE), "--out", str(analysed)])
    text = " ".join(result.output.split())
    assert "CR was achieved in" in text and "The ORR was" in text and "baseline median platelet count" in text


def test_set_overrides_reach_the_results(tmp_path):
    result = runner.invoke(app, ["analyze", str(EXAMPLE), "--out", str(tmp_path), "-q",
                                 "--set", "sustain_days=14", "--set", "landmark_days=[14,28]"])
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["protocol"]["sustain_days"] == 14
    assert [m["day"] for m in results["landmarks"]] == [14, 28]
    assert "plt_d42" not in (tmp_path / "patients.csv").read_text().splitlines()[0]


def test_unknown_protocol_parameter_is_refused(tmp_path):
    result = runner.invoke(app, ["analyze", str(EXAMPLE), "--out", str(tmp_path / "o"), "--set", "sustian_days=9"])
    assert result.exit_code == 2
    assert "sustian_days" in result.output
    assert not (tmp_path / "o").exists()


def test_bad_input_stops_before_any_output(tmp_path):
    study = tmp_path / "study"
    study.mkdir()
    for f in EXAMPLE.glob("*.csv"):
        if f.name != "expected.csv":
            (study / f.name).write_text(f.read_text())
    labs = (study / "labs.csv").read_text().splitlines()
    header = labs[0].split(",")
    first = labs[1].split(",")
    first[header.index("value")] = "twelve"
    labs[1] = ",".join(first)
    (study / "labs.csv").write_text("\n".join(labs) + "\n")
    out = tmp_path / "out"
    result = runner.invoke(app, ["analyze", str(study), "--out", str(out)])
    assert result.exit_code == 2
    assert "labs" in result.output and "row 2" in result.output and "twelve" in result.output
    assert not out.exists()


def test_protocol_show_lists_every_parameter():
    result = runner.invoke(app, ["protocol", "show", "--yaml", "--set", "cr_threshold=90"])
    assert result.exit_code == 0, result.output
    assert "cr_threshold: 90.0" in result.output
    assert "transfusion_washout_days: 7" in result.output
