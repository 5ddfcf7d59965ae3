"""`ctit analyze`: from raw patient records to the study's Results, one command."""

from __future__ import annotations

from pathlib import Path

import typer

from ctit.cli import app
from ctit.cli._common import (
    ENGINE_HELP,
    OVERRIDES,
    PROTOCOL,
    SOURCE,
    SPARK_CONF_HELP,
    check_min_cell_count,
    console,
    engine_connection,
    input_errors_exit,
    print_written,
    set_report_style,
)
from ctit.cli.export import STUDY_DRUG, TPO_RA, treatment_names


@app.command()
def analyze(
    study: Path = typer.Argument(..., help="Study folder of CSVs, or an .xlsx workbook."),
    out: Path = typer.Option(Path("out"), "--out", "-o", help="Output folder."),
    protocol: Path = PROTOCOL,
    set_: list[str] = OVERRIDES,
    source: str = SOURCE,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No terminal summary."),
    p_values: str = typer.Option("ama", "--p-values",
                                 help="P-value style: ama (P < .001, journal style) or scientific (5.91 x 10^-6)."),
    min_subgroup_n: int = typer.Option(5, "--min-subgroup-n",
                                       help="Forest plot: leave out subgroup levels with fewer patients."),
    format_: list[str] = typer.Option(
        None, "--format", "-f",
        help="Report formats, repeatable or comma list: html, docx, xlsx, figures (or all; default all). "
             "results.json and patients.csv are always written."),
    study_drug: list[str] = STUDY_DRUG,
    tpo_ra: list[str] = TPO_RA,
    sensitivity: bool = typer.Option(
        False, "--sensitivity",
        help="Also report CR, PR and ORR under the library's definitions and one-at-a-time variations "
             "(as `ctit sensitivity`): a results.json key and a report section."),
    min_cell_count: int = typer.Option(
        None, "--min-cell-count",
        help="Small-cell suppression for outputs meant to leave the site: counts below N (OHDSI networks use 5) "
             "shown as <N in results.json, the reports and this summary; per-patient files are not written."),
    engine: str = typer.Option("duckdb", "--engine", help=ENGINE_HELP),
    spark_conf: list[str] = typer.Option(None, "--spark-conf", help=SPARK_CONF_HELP),
) -> None:
    """Screen, grade, derive responses, compute the statistics and write the outputs."""
    from ctit.pipeline import run_analysis
    from ctit.reports import parse_formats

    try:
        formats = parse_formats(format_)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--format") from exc
    check_min_cell_count(min_cell_count)
    set_report_style(p_values, min_subgroup_n)
    con = engine_connection(engine, spark_conf)
    with input_errors_exit(), treatment_names(source, study_drug, tpo_ra):
        results, written = run_analysis(study, out, protocol, set_ or [], source=source, formats=formats,
                                        con=con, sensitivity=sensitivity, min_cell_count=min_cell_count)
    if not quiet:
        from ctit.reports.terminal import render_summary

        # The results as the outputs show them (suppressed at the same minimum cell count).
        render_summary(results, console)
        print_written(out, written)
