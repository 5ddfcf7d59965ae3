"""`ctit analyze` as a function: read, derive, compute, then write. Nothing is written
until everything has been computed, so bad input leaves no partial output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ctit.protocol import load_protocol
from ctit.results import StudyResults, analyze_study


def run_analysis(study_path: Path, out: Path, protocol_path: Path | str | None = None,
                 overrides: list[str] | None = None, *, formats: tuple[str, ...] = ("json", "csv", "html"),
                 con: Any = None) -> tuple[StudyResults, list[Path]]:
    from ctit.readers import read_study
    from ctit.reports.outputs import write_outputs

    protocol = load_protocol(protocol_path, overrides)
    study = read_study(Path(study_path))
    results = analyze_study(study, protocol, con)
    written = write_outputs(results, Path(out))
    if "html" in formats:
        from ctit.reports.html import write_html

        written.append(write_html(results, Path(out)))
    return results, written
