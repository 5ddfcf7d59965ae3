"""Renderers: each turns the one `StudyResults` object into an output; none recomputes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ctit.results import StudyResults

# Formats `ctit analyze` writes by default; results.json and patients.csv always.
DEFAULT_FORMATS = ("html",)


def write_reports(results: "StudyResults", out: Path, formats: tuple[str, ...] = DEFAULT_FORMATS) -> list[Path]:
    """Write the contract's outputs and the requested report formats into `out`."""
    from ctit.reports.outputs import write_outputs

    written = write_outputs(results, out)
    if "html" in formats:
        from ctit.reports.html import write_html

        written.append(write_html(results, out))
    return written
