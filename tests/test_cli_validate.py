"""`ctit validate`: summary and exit 0 on a good study; every problem on stderr and exit 2."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from ctit.cli import app

try:  # click >= 8.2 always separates stderr; older versions need to be asked
    runner = CliRunner(mix_stderr=False)
except TypeError:
    runner = CliRunner()


def study(tmp_path: Path, labs: str) -> Path:
    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "patients.csv").write_text("patient_id,sex\nP1,M\nP2,F\n")
    (folder / "exposures.csv").write_text("patient_id,drug,start_day\nP1,ATRA,0\nP2,ATRA,0\nP2,Foo,1\n")
    (folder / "labs.csv").write_text(labs)
    return folder


def test_validate_ok(tmp_path: Path) -> None:
    folder = study(tmp_path, "patient_id,day,test,value,unit\nP1,-1,PLT,40,10^9/L\nP2,0,PLT,30,G/L\n")
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 0, result.output
    assert "labs.csv" in result.stdout and "2 patients" in result.stdout
    assert "drug not in the dictionary" in result.stderr


def test_validate_bad_input_exit_2(tmp_path: Path) -> None:
    folder = study(tmp_path, "patient_id,day,test,value,unit\nP1,-1,PLT,<5,10^9/L\nP9,0,PLT,30,G/L\n")
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2
    assert "Input errors (2)" in result.stderr
    assert "labs, row 2, column 'value', value '<5'" in result.stderr
    assert "labs, row 3, column 'patient_id', value 'P9'" in result.stderr


def test_validate_missing_path_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "no such study folder" in result.stderr
