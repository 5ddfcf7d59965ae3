"""`ctit synth`: a synthetic canonical study, for benchmarks, tests and trying the tool."""

from __future__ import annotations

from pathlib import Path

import typer

from ctit.cli import app
from ctit.cli._common import console


@app.command()
def synth(
    out: Path = typer.Argument(..., help="Study folder to write (created)."),
    patients: int = typer.Option(1000, "--patients", "-n", min=1, help="Number of patients."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed gives the same study."),
    format_: str = typer.Option("csv", "--format", "-f", help="csv or parquet."),
) -> None:
    """Write a synthetic ATRA-for-CTIT study (every table of the data contract)."""
    from ctit.synth import generate, write

    if format_ not in ("csv", "parquet"):
        raise typer.BadParameter("choose csv or parquet", param_hint="--format")
    tables = generate(patients, seed)
    write(tables, out, format_)
    rows = ", ".join(f"{name} {t.num_rows}" for name, t in tables.items())
    console.print(f"Wrote a synthetic study to {out} ({format_}): {rows}", highlight=False)
