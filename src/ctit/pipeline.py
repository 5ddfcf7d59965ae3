"""`ctit analyze` as a function: read, derive, compute, then write. Nothing is written
until everything has been computed, so bad input leaves no partial output, and the output
folder is replaced as a whole once complete (ctit.output)."""

from __future__ import annotations

import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from ctit.protocol import load_protocol
from ctit.results import StudyResults, analyze_study


def run_analysis(study_path: Path, out: Path, protocol_path: Path | str | None = None,
                 overrides: list[str] | None = None, *, source: str = "study",
                 formats: tuple[str, ...] | None = None, con: Any = None,
                 progress: bool | None = None, sensitivity: bool = False,
                 min_cell_count: int | None = None) -> tuple[StudyResults, list[Path]]:
    """Analyse the study at `study_path` (read with the `source` reader) into `out`; the
    results as the outputs show them, and the files written.

    `progress`: show what is being done (default: only when stdout is a terminal).
    `sensitivity`: also run the definition-sensitivity analysis (ctit.sensitivity) and report it.
    `min_cell_count`: small-cell suppression of every output (ctit.reports.suppression).
    """
    from ctit.output import relocate, staged_output

    protocol = load_protocol(protocol_path, overrides)
    # The output folder is locked and checked before the analysis; it is replaced only
    # once every file is written (ctit.output).
    with staged_output(Path(out), "analyze") as staging:
        results, written = _analyze_into(study_path, staging, protocol, source, formats, con, progress,
                                         sensitivity, min_cell_count)
    return results, relocate(written, staging, Path(out))


def _analyze_into(study_path: Path, out: Path, protocol: Any, source: str,
                  formats: tuple[str, ...] | None, con: Any,
                  progress: bool | None, sensitivity: bool = False,
                  min_cell_count: int | None = None) -> tuple[StudyResults, list[Path]]:
    from ctit.output import report_time
    from ctit.reports import DEFAULT_FORMATS, write_reports
    from ctit.reports.suppression import suppressed_results
    from ctit.sources import read_source

    show = sys.stdout.isatty() if progress is None else progress
    formats = DEFAULT_FORMATS if formats is None else formats
    # Figure workers start first (before any thread exists, as fork wants), so the plotting
    # stack loads on the other core while this one reads and derives.
    if any(f in formats for f in ("html", "docx", "figures")):
        from ctit.reports.figures import figure_pool

        workers = figure_pool()
    else:
        workers = nullcontext()
    with workers as pool:
        if show:
            from rich.console import Console

            status = Console().status(f"Reading {study_path}")
        else:
            status = nullcontext()
        # The spinner ends before the report's progress bar starts: rich shows one at a time.
        with status as spinner:
            started = time.perf_counter()
            study = read_source(Path(study_path), source, con)
            if spinner is not None:
                rows = sum(len(df) for _, df in study.tables())
                spinner.update(f"Deriving and testing ({len(study.patients)} patients, {rows} rows "
                               f"read and checked in {time.perf_counter() - started:.1f} s)")
            results = analyze_study(study, protocol, con)
            if sensitivity:
                from ctit.results import add_sensitivity

                if spinner is not None:
                    spinner.update("Sensitivity: the response under each definition")
                add_sensitivity(results, con)
            results = suppressed_results(results, min_cell_count)
            if spinner is not None:
                console_time = time.perf_counter() - started
                spinner.update(f"Writing ({console_time:.1f} s so far)")
        written = write_reports(results, Path(out), formats, progress=show, pool=pool,
                                generated=report_time(Path(study_path)))
    return results, written
