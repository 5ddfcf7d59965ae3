"""Renderers: each turns the one `StudyResults` object into an output; none recomputes.

`write_reports` writes the contract's outputs (results.json, patients.csv, always), the data
`ctit report` re-renders from (OUT/data, always) and the requested formats:
html (report.html), docx (report.docx), xlsx (listings.xlsx), figures (OUT/figures/*.png|svg).
Given suppressed results (`suppression.suppressed_results`, a minimum cell count) every
renderer reads that one object and no per-patient file is written.
Heavy libraries (matplotlib, python-docx, openpyxl) are imported only for the formats asked.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ctit.results import StudyResults

ALWAYS = ("json", "csv")
REPORT_FORMATS = ("html", "docx", "xlsx", "figures")
# Formats `ctit analyze` writes by default: all of them.
DEFAULT_FORMATS = REPORT_FORMATS


def parse_formats(values: Iterable[str] | None) -> tuple[str, ...]:
    """`--format` values (repeatable, or comma lists; 'all') as report formats in canonical order.

    json and csv are always written and accepted here for clarity; unknown names raise ValueError.
    """
    if not values:
        return DEFAULT_FORMATS
    asked = {v.strip().lower() for value in values for v in value.split(",") if v.strip()}
    if "all" in asked:
        return REPORT_FORMATS
    unknown = sorted(asked - set(REPORT_FORMATS) - set(ALWAYS))
    if unknown:
        raise ValueError(f"unknown format(s): {', '.join(unknown)}; choose from "
                         f"{', '.join(ALWAYS + REPORT_FORMATS)} or all")
    return tuple(f for f in REPORT_FORMATS if f in asked)


Step = Callable[[str], Any]


@contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Step]:
    """A rich progress bar on a terminal; a no-op otherwise. `step(label)` is a context
    manager around one unit of work."""
    if not enabled:
        yield lambda label: nullcontext()
        return
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  transient=True) as bar:
        task = bar.add_task("Writing reports", total=total)

        @contextmanager
        def step(label: str) -> Iterator[None]:
            bar.update(task, description=label)
            yield
            bar.advance(task)

        yield step


def write_reports(results: "StudyResults", out: Path, formats: tuple[str, ...] = DEFAULT_FORMATS,
                  progress: bool | None = None, pool: Any = None,
                  generated: datetime | None = None) -> list[Path]:
    """Write the contract's outputs, the re-render data and the requested formats into `out`.

    `results` as every output shows them: `suppression.suppressed_results` for small-cell
    suppression (then no per-patient file is written, and the store keeps the full results).

    `progress`: show a progress bar (default: only when stdout is a terminal). `pool`: figure
    workers (`figures.figure_pool`); the figures are then drawn while the rest is written.
    `generated`: the time the reports are stamped with (default `output.report_time()`).
    """
    from ctit.output import report_time
    from ctit.reports.outputs import write_outputs
    from ctit.reports.store import save_store

    from ctit.reports.suppression import full_results, min_cell_count

    generated = generated or report_time()
    # Every output renders from `results`; the store keeps the full results.
    full = full_results(results)
    withheld = min_cell_count(results) is not None
    out = Path(out)
    formats = tuple(formats)
    show = sys.stdout.isatty() if progress is None else progress
    if withheld:
        formats = tuple(f for f in formats if f != "xlsx")   # listings are per patient
    need_figures = any(f in formats for f in ("html", "docx", "figures"))
    need_png = "docx" in formats or "figures" in formats
    total = 2 + need_figures + sum(f in formats for f in ("html", "docx", "xlsx", "figures"))
    with _progress(show, total) as step:
        figures_ready: Callable[[], list] = list
        if need_figures:
            from ctit.reports.figures import start_figures

            figures_ready = start_figures(results, png=need_png, pool=pool)
        with step("results.json, patients.csv"):
            written = write_outputs(results, out)
        with step("data for `ctit report`"):
            save_store(full, out, generated=generated, min_cell_count=min_cell_count(results))
        if "xlsx" in formats:
            with step("listings.xlsx"):
                from ctit.reports.xlsx import write_xlsx
                written.append(write_xlsx(results, out, generated=generated))
        figures = []
        if need_figures:
            with step("figures"):
                figures = figures_ready()
        if "figures" in formats:
            with step("figures/*.png, *.svg"):
                from ctit.reports.figures import write_figures
                written += write_figures(figures, out)
        if "html" in formats:
            with step("report.html"):
                from ctit.reports.html import write_html
                written.append(write_html(results, out, figures, generated=generated))
        if "docx" in formats:
            with step("report.docx"):
                from ctit.reports.docx import write_docx
                written.append(write_docx(results, out, figures, generated=generated))
    return written
