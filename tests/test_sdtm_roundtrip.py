"""Round trip: example study -> `ctit export sdtm` -> `ctit analyze --from sdtm` = the direct analysis."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from ctit.cli import app

EXAMPLE = Path(__file__).resolve().parents[1] / "src" / "ctit" / "examples" / "atra-ctit"


def _comparable(results: dict) -> dict:  # type: ignore[type-arg]
    out = {k: v for k, v in results.items() if k not in ("inputs", "warnings")}
    out["protocol"] = {k: v for k, v in out["protocol"].items() if k not in ("source", "path")}
    # The order of reported terms with equal counts is not part of the contract.
    out["safety"] = sorted(out["safety"]["events"], key=lambda e: (e["source"], e["term"]))
    return out


def test_round_trip_gives_the_same_results(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["export", "sdtm", str(EXAMPLE), str(tmp_path / "sdtm")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "sdtm" / "lb.xpt").is_file() and (tmp_path / "sdtm" / "lb.csv").is_file()
    assert "2024-01-01" in (tmp_path / "sdtm" / "README.txt").read_text()
    # Only the .xpt files are read back (the reader prefers them over the CSV copies).
    r = runner.invoke(app, ["analyze", str(tmp_path / "sdtm"), "--from", "sdtm", "--out",
                            str(tmp_path / "via_sdtm"), "-q"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["analyze", str(EXAMPLE), "--out", str(tmp_path / "direct"), "-q"])
    assert r.exit_code == 0, r.output
    a = json.loads((tmp_path / "direct" / "results.json").read_text())
    b = json.loads((tmp_path / "via_sdtm" / "results.json").read_text())
    assert _comparable(a) == _comparable(b)
    pa = pd.read_csv(tmp_path / "direct" / "patients.csv", dtype=str)
    pb = pd.read_csv(tmp_path / "via_sdtm" / "patients.csv", dtype=str)
    # SDTM keys subjects by the study-unique USUBJID (STUDYID "CTIT" + "-" + the study's id);
    # every other value is identical.
    assert (pb.patient_id == "CTIT-" + pa.patient_id).all()
    pd.testing.assert_frame_equal(pa.drop(columns="patient_id"), pb.drop(columns="patient_id"))


def test_validate_from_sdtm(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["export", "sdtm", str(EXAMPLE), str(tmp_path / "s")]).exit_code == 0
    r = runner.invoke(app, ["validate", str(tmp_path / "s"), "--from", "sdtm"])
    assert r.exit_code == 0, r.output
    assert "32 patients" in r.output


def test_every_sdtm_row_is_used_or_listed(tmp_path: Path) -> None:
    """Row accounting per SDTM domain file: the rows the reader could not map (e.g. tests ctit
    does not know) and those no derivation uses are listed under their domain."""
    runner = CliRunner()
    assert runner.invoke(app, ["export", "sdtm", str(EXAMPLE), str(tmp_path / "sdtm")]).exit_code == 0
    out = tmp_path / "out"
    r = runner.invoke(app, ["analyze", str(tmp_path / "sdtm"), "--from", "sdtm", "--out", str(out), "-q", "-f", "json"])
    assert r.exit_code == 0, r.output
    results = json.loads((out / "results.json").read_text())
    unused = pd.read_csv(out / "unused_rows.csv")
    assert {f["table"] for f in results["inputs"]} >= {"DM", "EX", "LB"}
    for f in results["inputs"]:
        listed = unused[unused.table == f["table"]]
        assert f["rows_used"] + len(listed) == f["rows"], f["name"]
        assert not listed.source_row.duplicated().any()
    # The example's LB has tests ctit grades but no result uses (e.g. HGB of excluded patients).
    assert (unused.table == "LB").any()
