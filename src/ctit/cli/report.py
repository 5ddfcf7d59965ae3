"""`ctit report OUT`: re-render the reports of an earlier `ctit analyze` without re-analysis."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from ctit.cli import app
from ctit.cli._common import (
    check_min_cell_count,
    err_console,
    print_output_error,
    print_written,
    set_report_style,
)

EXIT_NO_DATA = 2


@app.command()
def report(
    out: Path = typer.Argument(..., help="Output folder of an earlier `ctit analyze` (has results.json and data/)."),
    format_: list[str] = typer.Option(
        None, "--format", "-f",
        help="Report formats, repeatable or comma list: html, docx, xlsx, figures (or all; default all)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Do not list the written files."),
    p_values: str = typer.Option("ama", "--p-values",
                                 help="P-value style: ama (P < .001, journal style) or scientific (5.91 x 10^-6)."),
    min_subgroup_n: int = typer.Option(5, "--min-subgroup-n",
                                       help="Forest plot: leave out subgroup levels with fewer patients."),
    min_cell_count: int = typer.Option(
        None, "--min-cell-count",
        help="Small-cell suppression: counts below N shown as <N, no per-patient file (default: as the analysis "
             "was written; 0 for none)."),
) -> None:
    """Rebuild report.html, report.docx, listings.xlsx and the figures from OUT's saved results."""
    from ctit.reports import parse_formats, write_reports
    from ctit.reports.store import StoreError, load_results, saved_min_cell_count, saved_time
    from ctit.reports.suppression import suppressed_results

    try:
        formats = parse_formats(format_)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--format") from exc
    threshold = saved_min_cell_count(out) if min_cell_count is None else min_cell_count or None
    check_min_cell_count(threshold)
    set_report_style(p_values, min_subgroup_n)
    from ctit.output import OutputError, relocate, staged_output
    from ctit.reports.figures import figure_pool

    # Workers first: they load the plotting stack while the saved results are read.
    with figure_pool() as pool:
        try:
            # Everything is re-written into a staging folder that replaces OUT when complete.
            with staged_output(out, "report") as staging:
                results = suppressed_results(load_results(out), threshold)
                written = write_reports(results, staging, formats, pool=pool, generated=saved_time(out))
                written = relocate(written, staging, out)
        except StoreError as exc:
            err_console.print(f"[red]error[/red] {escape(str(exc))}", highlight=False)
            raise typer.Exit(EXIT_NO_DATA)
        except OutputError as exc:
            print_output_error(exc)
    if not quiet:
        print_written(out, written)
