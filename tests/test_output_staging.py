"""All-or-nothing output (ctit.output): a run either leaves the previous complete output or the
new complete output, never a mix; a second run into the same folder is refused; a folder of
someone else's files is never touched."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ctit.cli import app
from ctit.output import MARKER, output_lock

runner = CliRunner()
EXAMPLE = Path(str(resources.files("ctit").joinpath("examples", "atra-ctit")))
CONTRACT = {"results.json", "patients.csv", "unused_rows.csv", MARKER}


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def analyze(out: Path, *args: str) -> object:
    return runner.invoke(app, ["analyze", str(EXAMPLE), "--out", str(out), "-q", *args])


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def test_json_only_run_replaces_an_older_full_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "data").mkdir(parents=True)
    (out / "results.json").write_text("{}")            # an older ctit analysis folder
    for name in ("report.html", "report.docx", "listings.xlsx"):
        (out / name).write_text("old")
    (out / "figures").mkdir()
    (out / "figures" / "figure1_trajectories.png").write_text("old")

    result = analyze(out, "-f", "json")
    assert result.exit_code == 0, result.output
    files = set(snapshot(out))
    assert {f for f in files if not f.startswith("data/")} == CONTRACT
    assert json.loads((out / "results.json").read_text())["cohort"]["screened"] == 32
    assert leftovers(out) == []


def test_a_folder_of_other_files_is_refused_untouched(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.docx").write_text("do not delete")
    result = analyze(out, "-f", "json")
    assert result.exit_code == 2
    assert "not a ctit output" in result.output
    assert snapshot(out) == {"thesis.docx": b"do not delete"}
    assert leftovers(out) == []


def test_an_output_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_text("x")
    result = analyze(out, "-f", "json")
    assert result.exit_code == 2 and "not a folder" in result.output


def test_a_second_run_into_the_same_folder_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with output_lock(out):
        result = analyze(out, "-f", "json")
    assert result.exit_code == 2
    assert "another ctit run is writing" in result.output
    assert not out.exists()
    # The lock is released with its holder.
    assert analyze(out, "-f", "json").exit_code == 0


def test_a_failed_writer_leaves_the_previous_output_and_exits_1(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "out"
    assert analyze(out, "-f", "json").exit_code == 0
    before = snapshot(out)

    def disk_full(*_: object, **__: object) -> Path:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("ctit.reports.xlsx.write_xlsx", disk_full)
    result = analyze(out, "-f", "xlsx")
    assert result.exit_code == 1
    assert "No space left on device" in result.output and "unchanged" in result.output
    assert "Traceback" not in result.output
    assert snapshot(out) == before
    assert leftovers(out) == []


def test_an_unwritable_output_is_refused_before_the_analysis(tmp_path: Path, monkeypatch) -> None:
    import tempfile

    def analysis_must_not_run(*_: object, **__: object) -> None:
        raise AssertionError("the analysis ran although the output cannot be written")

    def read_only(*_: object, **__: object) -> str:
        raise PermissionError(errno.EACCES, "Permission denied")

    # ctit.pipeline first: imported after ctit.results were patched, it would bind the patched
    # function as its own, and the undo would leave it there for every later test.
    monkeypatch.setattr("ctit.pipeline.analyze_study", analysis_must_not_run)
    monkeypatch.setattr("ctit.results.analyze_study", analysis_must_not_run)
    monkeypatch.setattr(tempfile, "mkdtemp", read_only)
    result = analyze(tmp_path / "out", "-f", "json")
    assert result.exit_code == 2
    assert "Permission denied" in result.output and "Traceback" not in result.output


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_folder_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        result = analyze(out, "-f", "json")
    finally:
        out.chmod(0o755)
    assert result.exit_code == 2 and "not writable" in result.output


def test_report_rewrites_the_folder_whole(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert analyze(out, "-f", "xlsx").exit_code == 0
    result = runner.invoke(app, ["report", str(out), "-f", "json", "-q"])
    assert result.exit_code == 0, result.output
    files = set(snapshot(out))
    assert "listings.xlsx" not in files and CONTRACT <= files


# ------------------------------------------------------------- killed at any moment

def _run(out: Path, fmt: str) -> subprocess.Popen:
    env = dict(os.environ)
    return subprocess.Popen([sys.executable, "-c", "from ctit.cli import app; app()", "analyze", str(EXAMPLE), "--out", str(out), "-q",
                             "-f", fmt], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def _kill_when(proc: subprocess.Popen, out: Path, staged: str | None) -> None:
    """SIGKILL `proc` once its staging folder holds `staged` (None: at once)."""
    deadline = time.monotonic() + 120
    while staged is not None and proc.poll() is None and time.monotonic() < deadline:
        if any((p / staged).exists() for p in out.parent.glob(f".{out.name}.ctit-new-*")):
            break
        time.sleep(0.005)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _key(files: dict[str, bytes]) -> tuple[frozenset[str], bytes]:
    return frozenset(files), files.get("results.json", b"")


def test_a_killed_run_leaves_the_old_or_the_new_complete_output(tmp_path: Path) -> None:
    """A run killed at several points while writing: OUT is always one complete output."""
    out = tmp_path / "out"
    assert analyze(out, "-f", "json", "--set", "sustain_days=14").exit_code == 0
    old = _key(snapshot(out))

    seen = {}
    for staged in (None, "data/meta.json", "listings.xlsx", "figures"):
        for stale in out.parent.glob(f".{out.name}.ctit-new-*"):   # the previous kill's, so the
            shutil.rmtree(stale)                                   # wait below sees this run's
        _kill_when(_run(out, "xlsx,figures"), out, staged)
        seen[staged] = _key(snapshot(out))
    # The next run clears what the killed ones left and completes.
    assert _run(out, "xlsx,figures").wait() == 0
    new = _key(snapshot(out))
    assert new != old and {"listings.xlsx", "figures/figure2_trajectories.png"} <= new[0]
    assert leftovers(out) == []
    mixed = {staged: files for staged, files in seen.items() if files not in (old, new)}
    assert mixed == {}, "a killed run left a mix of outputs"


def test_a_lost_engine_connection_is_not_called_a_write_failure(tmp_path: Path) -> None:
    """A Spark driver that dies mid-run surfaces as ConnectionRefusedError (an OSError with an
    errno): it is not a failure to write OUT, so it is not reported as one; OUT is kept."""
    from ctit.output import OutputError, staged_output

    out = tmp_path / "out"
    with pytest.raises(ConnectionRefusedError):
        with staged_output(out, "analyze") as staging:
            (staging / "results.json").write_text("{}")
            raise ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
    assert not out.exists() and list(tmp_path.iterdir()) == []
    with pytest.raises(OutputError, match="No space left"):
        with staged_output(out, "analyze"):
            raise OSError(errno.ENOSPC, "No space left on device")
