"""`ctit export omop` and `ctit comparator`: OMOP CDM out, and the natural-history comparator
(docs/omop.md, docs/comparator.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from ctit.cli import app
from ctit.cli._common import console, input_errors_exit
from ctit.cli.export import export_app


@export_app.command("omop")
def omop(
    study: Path = typer.Argument(..., help="Study to read."),
    out: Path = typer.Argument(..., help="Output folder for the OMOP CDM tables."),
    source: str = typer.Option("study", "--from", help="Input format: study, sdtm or omop."),
    fmt: str = typer.Option("csv", "--format", help="csv or parquet."),
    index_date: str = typer.Option("2024-01-01", "--index-date",
                                   help="Day-0 date for patients without patients.index_date (ISO date)."),
) -> None:
    """Write the study as OMOP CDM 5.4 tables with the vocabulary subset its concepts need."""
    from ctit.omop.writer import write_omop
    from ctit.sources import read_source

    if fmt not in ("csv", "parquet"):
        raise typer.BadParameter("choose csv or parquet", param_hint="--format")
    with input_errors_exit():
        s = read_source(study, source)
        written = write_omop(s, out, fmt=fmt, index_date=index_date)
    console.print(f"Wrote {len(written)} files to {out} (OMOP CDM 5.4, {fmt}); read back with "
                  f"ctit analyze {out} --from omop", highlight=False)
