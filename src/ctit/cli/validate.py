"""`ctit validate`: read a study and report what was found, or every input problem."""

from __future__ import annotations

from pathlib import Path

import typer

from ctit.cli import app
from ctit.cli._common import console, input_errors_exit, print_problems
from ctit.cli.export import STUDY_DRUG, TPO_RA, treatment_names


@app.command()
def validate(
    study: Path = typer.Argument(..., help="Study folder of CSV files, or an .xlsx workbook."),
    source: str = typer.Option("study", "--from", help="Input format: study (CSV folder or .xlsx) or sdtm."),
    study_drug: list[str] = STUDY_DRUG,
    tpo_ra: list[str] = TPO_RA,
) -> None:
    """Check a study against the data contract: tables, rows, patients and warnings.

    Exit code 0 when the study can be analysed (warnings allowed); 2 with every problem listed
    on stderr when it cannot.
    """
    from rich.markup import escape
    from rich.table import Table

    from ctit.sources import read_source

    with input_errors_exit(), treatment_names(source, study_drug, tpo_ra):
        s = read_source(study, source)

    console.print(f"[bold]{escape(s.source)}[/bold]", highlight=False, soft_wrap=True)
    table = Table()
    table.add_column("canonical table")
    table.add_column("rows", justify="right")
    table.add_column("patients", justify="right")
    for name, df in s.tables():
        table.add_row(escape(name), str(len(df)), str(df["patient_id"].nunique()))
    files = Table(title="Input files", title_justify="left")
    for column in ("file", "read as", "rows", "SHA-256"):
        files.add_column(column, justify="right" if column == "rows" else "left")
    for f in s.inputs:
        files.add_row(escape(f.name), escape(f.table), str(f.rows), f.sha256[:12])
    console.print(table)
    console.print(files)
    if s.warnings:
        print_problems(s.warnings, title=f"Warnings ({len(s.warnings)})")
    console.print(f"[green]OK[/green]: {len(s.patients)} patients; no input errors"
                  f"{f', {len(s.warnings)} warning(s)' if s.warnings else ''}.")
