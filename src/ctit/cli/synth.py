"""`ctit synth`: a synthetic canonical study, for benchmarks, tests and trying the tool."""

from __future__ import annotations

from pathlib import Path

import typer

from ctit.cli import app
from ctit.cli._common import console

FORMATS = ("csv", "parquet", "omop", "omop-parquet")


@app.command()
def synth(
    out: Path = typer.Argument(..., help="Study folder to write (created)."),
    patients: int = typer.Option(1000, "--patients", "-n", min=1, help="Number of patients."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed gives the same study."),
    format_: str = typer.Option("csv", "--format", "-f",
                                help="csv or parquet (canonical tables), omop (OMOP CDM 5.4 as CSV) or "
                                     "omop-parquet (OMOP CDM 5.4 as Parquet)."),
    untreated: float = typer.Option(None, "--untreated", min=0.0, max=1.0,
                                    help="Share of eligible patients given no ATRA, with the natural history "
                                         "(default 0.2 for omop formats, 0 otherwise)."),
    spontaneous_recovery: float = typer.Option(0.2, "--spontaneous-recovery", min=0.0, max=1.0,
                                               help="Share of untreated patients who recover without ATRA."),
) -> None:
    """Write a synthetic ATRA-for-CTIT study (every table of the data contract), or the same
    study as an OMOP CDM with treated and untreated patients (docs/omop.md)."""
    from ctit.synth import generate, write, write_omop_study

    if format_ not in FORMATS:
        raise typer.BadParameter(f"choose {', '.join(FORMATS[:-1])} or {FORMATS[-1]}", param_hint="--format")
    omop = format_.startswith("omop")
    share = untreated if untreated is not None else (0.2 if omop else 0.0)
    tables = generate(patients, seed, untreated_share=share, spontaneous_recovery=spontaneous_recovery)
    if omop:
        write_omop_study(tables, out, "parquet" if format_ == "omop-parquet" else "csv")
    else:
        write(tables, out, format_)
    rows = ", ".join(f"{name} {t.num_rows}" for name, t in tables.items())
    kind = "an OMOP CDM 5.4 of a synthetic study" if omop else "a synthetic study"
    console.print(f"Wrote {kind} to {out} ({format_}): {rows}", highlight=False)
