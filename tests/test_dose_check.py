"""The recorded study-drug dose against the protocol's dose per m2 (data contract,
plausibility; protocol section 10), worked by hand.

Every case is 165 cm and 60 kg: Mosteller BSA sqrt(165 x 60 / 3600) = 1.658 m2, so the
protocol's 25 mg/m2 is 41.5 mg a day (planned 40 mg after rounding). The knowledge table's
bounds are 0.5-1.5 x usual and 4 x impossible: 20.7-62.2 mg usual, above 165.8 mg impossible.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from builders import Case, make_study
from ctit.cli import app
from ctit.errors import InputError
from ctit.protocol import load_protocol
from ctit.results import analyze_study

try:  # click >= 8.2 always separates stderr; older versions need to be asked
    runner = CliRunner(mix_stderr=False)
except TypeError:
    runner = CliRunner()

COUNTS = {-3: 20.0, 0: 20.0, 14: 60.0, 28: 90.0, 42: 120.0}


def _warnings(*cases: Case, **protocol: object) -> list[str]:
    results = analyze_study(make_study(*cases), replace(load_protocol(), **protocol))
    return [w for w in results.warnings if "study-drug dose" in w]


def test_the_planned_dose_and_rounding_are_plausible() -> None:
    # 40 mg is 0.96 x; 60 mg (a 10 mg capsule more than rounding gives) is 1.45 x.
    assert _warnings(Case("A", COUNTS, atra_dose_mg=40.0), Case("B", COUNTS, atra_dose_mg=60.0)) == []


def test_an_unusual_dose_is_a_warning_naming_the_row() -> None:
    # 70 mg = 42.2 mg/m2 = 1.69 x; 20 mg = 12.1 mg/m2 = 0.48 x (a halved dose and a bit).
    warnings = _warnings(Case("A", COUNTS, atra_dose_mg=70.0), Case("B", COUNTS, atra_dose_mg=20.0))
    assert len(warnings) == 2
    high, low = warnings
    # Exposures rows: A's TPO-RA (2), A's ATRA (3), B's TPO-RA (4), B's ATRA (5).
    assert high.startswith("exposures, row 3, column 'dose', value 70.0")
    assert "1.69 x the protocol's 25 mg/m2" in high and "42.2 mg/m2 of a 1.66 m2 body surface" in high
    assert low.startswith("exposures, row 5, column 'dose', value 20.0") and "0.48 x" in low


def test_the_protocol_dose_is_the_reference() -> None:
    # 70 mg is 1.69 x at 25 mg/m2 but 0.94 x at 45 mg/m2 (the APL dose).
    assert _warnings(Case("A", COUNTS, atra_dose_mg=70.0), dose_mg_per_m2=45.0) == []


def test_an_impossible_dose_stops_the_analysis() -> None:
    # 400 mg = 241 mg/m2 = 9.65 x: a course total or a wrong unit, never a daily dose.
    study = make_study(Case("A", COUNTS), Case("B", COUNTS, atra_dose_mg=400.0))
    with pytest.raises(InputError) as exc:
        analyze_study(study, load_protocol())
    (error,) = exc.value.errors
    assert str(error).startswith("exposures, row 5, column 'dose', value 400.0: study-drug dose 400 mg/day "
                                 "is 9.65 x")
    assert "impossible" in str(error)


def test_no_body_surface_no_check() -> None:
    assert _warnings(Case("A", COUNTS, atra_dose_mg=400.0, height_cm=None)) == []


def _example_with_dose(tmp_path: Path, dose: str) -> Path:
    folder = tmp_path / "study"
    assert runner.invoke(app, ["example", str(folder)]).exit_code == 0
    path = folder / "exposures.csv"
    lines = path.read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if ",study_drug," in line)
    fields = lines[first].split(",")
    fields[7] = dose
    lines[first] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    return folder


def test_validate_and_analyze_refuse_an_impossible_dose(tmp_path: Path) -> None:
    folder = _example_with_dose(tmp_path, "400")
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2, result.output
    assert "column 'dose', value 400.0: study-drug dose 400 mg/day" in result.stderr
    out = tmp_path / "out"
    result = runner.invoke(app, ["analyze", str(folder), "--out", str(out), "-f", "json", "-q"])
    assert result.exit_code == 2 and "nothing was written" in result.stderr
    assert not out.exists()
    # The same dose is plausible for a protocol of 100 mg/m2 (validate reads --set too).
    result = runner.invoke(app, ["validate", str(folder), "--set", "dose_mg_per_m2=100"])
    assert result.exit_code == 0, result.output
