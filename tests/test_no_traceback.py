"""No Python traceback ever: bad options, bad protocol files and impossible values get a
message and exit code 2; an unexpected internal error gets one line naming the log file that
holds the details, and exit code 1."""

from __future__ import annotations

import csv
import math
import re
import shutil
from dataclasses import fields
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ctit.cli import app
from ctit.protocol import Protocol, ProtocolError, load_protocol, parameter_ranges

runner = CliRunner()
EXAMPLE = Path(str(resources.files("ctit").joinpath("examples", "atra-ctit")))


def _no_traceback(output: str) -> None:
    assert "Traceback" not in output and 'File "' not in output


# ------------------------------------------------------------- protocol values

@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "1e309", "nan", "inf"])
def test_non_finite_values_are_refused(value: str) -> None:
    with pytest.raises(ProtocolError, match="cr_threshold"):
        load_protocol(overrides=[f"cr_threshold={value}"])


def test_set_nan_on_the_command_line_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["analyze", str(EXAMPLE), "--out", str(tmp_path / "o"), "-q",
                                 "--set", "cr_threshold=.nan"])
    assert result.exit_code == 2 and "finite" in result.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("override, named", [
    ("cr_threshold=5000", "cr_threshold"),
    ("cr_threshold=100000", "cr_threshold"),
    ("followup_end_day=100000", "followup_end_day"),
    ("ci_level=1", "ci_level"),
    ("dose_mg_per_m2=2500", "dose_mg_per_m2"),
    ("pr_grade_improvement=5", "pr_grade_improvement"),
    ("landmark_days=[14, 1000000]", "landmark_days"),
])
def test_values_outside_their_documented_range_are_refused(override: str, named: str) -> None:
    with pytest.raises(ProtocolError, match=named):
        load_protocol(overrides=[override])


def test_every_numeric_parameter_has_a_range_and_the_bundled_values_lie_in_it() -> None:
    ranges = parameter_ranges()
    p = load_protocol()
    numeric = {f.name for f in fields(Protocol)
               if str(f.type) in ("int", "float", "tuple[int, ...]")}
    assert numeric == set(ranges)
    for name, r in ranges.items():
        values = getattr(p, name)
        for v in values if isinstance(values, tuple) else (values,):
            assert r.min <= v <= r.max and math.isfinite(v), name


def test_every_range_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "protocol.md").read_text(encoding="utf-8")
    for name in parameter_ranges():
        r = parameter_ranges()[name]
        assert f"| `{name}` | {r.min:g} | {r.max:g} |" in doc, f"{name}: not in the ranges table of docs/protocol.md"


@pytest.mark.parametrize("text, line, what", [
    ("name: x\ncr_threshold: !!python/object/apply:os.system [echo]\n", 2, "tags"),
    ("sustain_days: !!float 7\n", 1, "tags"),
    ("name: x\ncr_threshold: [1\nsustain_days: 7\n", 3, "YAML"),
    ("cr_threshold: 'open\n", 2, "YAML"),
])
def test_yaml_errors_and_tags_are_protocol_errors_naming_file_and_line(tmp_path: Path, text: str,
                                                                       line: int, what: str) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProtocolError, match=rf"mine\.yaml, line {line}: .*{what}"):
        load_protocol(path)
    result = runner.invoke(app, ["protocol", "show", "--protocol", str(path)])
    assert result.exit_code == 2 and "mine.yaml" in result.output
    _no_traceback(result.output)


def test_a_yaml_tag_in_set_is_refused() -> None:
    result = runner.invoke(app, ["protocol", "show", "--set", "cr_threshold=!!python/name:os.system"])
    assert result.exit_code == 2 and "tags" in result.output


# ------------------------------------------------------------- ctit dose

@pytest.mark.parametrize("height, weight", [("1.65", "60"), ("1e308", "60"), ("165", "650"),
                                            ("nan", "60"), ("165", "inf")])
def test_dose_refuses_impossible_height_or_weight(height: str, weight: str) -> None:
    result = runner.invoke(app, ["dose", "--height-cm", height, "--weight-kg", weight])
    assert result.exit_code == 2, result.output
    assert "impossible" in result.output and "Planned daily dose" not in result.output
    _no_traceback(result.output)


def test_dose_warns_about_an_unusual_weight_and_computes() -> None:
    # 165 cm, 25 kg: BSA sqrt(165 x 25 / 3600) = 1.0704 m2; 25 mg/m2 -> 26.8 mg -> 30 mg.
    result = runner.invoke(app, ["dose", "--height-cm", "165", "--weight-kg", "25"])
    assert result.exit_code == 0
    assert "unusual" in result.output and "Planned daily dose: 30 mg/day" in result.output


# ------------------------------------------------------------- impossible input values

def _study_with(tmp_path: Path, table: str, column: str, value: str) -> Path:
    study = tmp_path / "study"
    shutil.copytree(EXAMPLE, study, ignore=shutil.ignore_patterns("*.md", "expected.csv"))
    path = study / f"{table}.csv"
    rows = list(csv.reader(path.open(newline="", encoding="utf-8")))
    rows[1][rows[0].index(column)] = value
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return study


@pytest.mark.parametrize("table, column, value", [("labs", "day", "1e20"),
                                                  ("patients", "height_cm", "1e308")])
def test_impossible_values_give_a_message_not_a_traceback(tmp_path: Path, table: str, column: str,
                                                          value: str) -> None:
    study = _study_with(tmp_path, table, column, value)
    result = runner.invoke(app, ["analyze", str(study), "--out", str(tmp_path / "o"), "-q", "-f", "json"])
    assert result.exit_code in (1, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    _no_traceback(result.output)
    assert not (tmp_path / "o").exists()


def test_markup_in_a_value_does_not_hide_the_error_listing(tmp_path: Path) -> None:
    study = _study_with(tmp_path, "labs", "patient_id", "[/x] [bold]")
    result = runner.invoke(app, ["validate", str(study)])
    assert result.exit_code == 2
    assert "[/x] [bold]" in result.output
    _no_traceback(result.output)


# ------------------------------------------------------------- unexpected errors

def test_an_internal_error_is_one_line_and_a_log_file(tmp_path: Path, monkeypatch) -> None:
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("something the code did not expect [/x]")

    monkeypatch.setattr("ctit.pipeline.analyze_study", broken)
    result = runner.invoke(app, ["analyze", str(EXAMPLE), "--out", str(tmp_path / "o"), "-q", "-f", "json"])
    assert result.exit_code == 1
    _no_traceback(result.output)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "internal error" in lines[0] and "[/x]" in lines[0]
    log = Path(re.search(r"details in (\S+\.log)", lines[0]).group(1))
    assert "Traceback" in log.read_text() and "RuntimeError" in log.read_text()
    assert not (tmp_path / "o").exists()
