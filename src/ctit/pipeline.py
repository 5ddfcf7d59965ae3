"""`ctit analyze` as a function: read, derive, compute, then write. Nothing is written
until everything has been computed, so bad input leaves no partial output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ctit.protocol import load_protocol
from ctit.results import StudyResults, analyze_study


def run_analysis(study_path: Path, out: Path, protocol_path: Path | str | None = None,
                 overrides: list[str] | None = None, *, source: str = "study",
                 formats: tuple[str, ...] | None = None, con: Any = None) -> tuple[StudyResults, list[Path]]:
    """Analyse the study at `study_path` (read with the `source` reader) into `out`."""
    from ctit.reports import DEFAULT_FORMATS, write_reports
    from ctit.sources import read_source

    protocol = load_protocol(protocol_path, overrides)
    study = read_source(Path(study_path), source)
    results = analyze_study(study, protocol, con)
    written = write_reports(results, Path(out), DEFAULT_FORMATS if formats is None else formats)
    return results, written
