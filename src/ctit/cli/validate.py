"""`ctit validate`: read a study and report what was found, or every input problem."""

from __future__ import annotations

from pathlib import Path

import typer

from ctit.cli import app
from ctit.cli._common import console, input_errors_exit, print_problems


@app.command()
def validate(
    study: Path = typer.Argument(..., help="Study folder of CSV files, or an .xlsx workbook."),
    source: str = typer.Option("study", "--from", help="Input format: study (CSV folder or .xlsx) or sdtm."),
) -> None:
    """Check a study against the data contract: tables, rows, patients and warnings.

    Exit code 0 when the study can be analysed (warnings allowed); 2 with every problem listed
    on stderr when it cannot.
    """
    from rich.table import Table

    from ctit.sources import read_source

    with input_errors_exit():
        s = read_source(study, source)

    files = {i.table: i for i in s.inputs}
    table = Table(title=f"{s.source}", title_justify="left")
    table.add_column("table")
    table.add_column("file")
    table.add_column("rows", justify="right")
    table.add_column("patients", justify="right")
    for name, df in s.tables():
        f = files.get(name)
        table.add_row(name, f.name if f else "(absent)", str(len(df)),
                      str(df["patient_id"].nunique()))
    console.print(table)
    if s.warnings:
        print_problems(s.warnings, title=f"Warnings ({len(s.warnings)})")
    console.print(f"[green]OK[/green]: {len(s.patients)} patients; no input errors"
                  f"{f', {len(s.warnings)} warning(s)' if s.warnings else ''}.")
