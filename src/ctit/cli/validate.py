"""`ctit validate`: read a study and report what was found, or every input problem."""

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
    console,
    engine_connection,
    input_errors_exit,
    print_problems,
)
from ctit.cli.export import STUDY_DRUG, TPO_RA, treatment_names


@app.command()
def validate(
    study: Path = typer.Argument(..., help="Study folder of CSV files, or an .xlsx workbook."),
    source: str = SOURCE,
    protocol: Path = PROTOCOL,
    set_: list[str] = OVERRIDES,
    study_drug: list[str] = STUDY_DRUG,
    tpo_ra: list[str] = TPO_RA,
    engine: str = typer.Option("duckdb", "--engine", help=ENGINE_HELP),
    spark_conf: list[str] = typer.Option(None, "--spark-conf", help=SPARK_CONF_HELP),
) -> None:
    """Check a study against the data contract: tables, rows, patients and warnings.

    Exit code 0 when the study can be analysed (warnings allowed); 2 with every problem listed
    on stderr when it cannot. The recorded study-drug doses are checked against the protocol's
    dose per m2 (`--protocol`, `--set`), as `ctit analyze` checks them.
    """
    from rich.markup import escape
    from rich.table import Table

    from ctit.engine.derivations import check_doses
    from ctit.errors import raise_if_errors
    from ctit.protocol import load_protocol
    from ctit.sources import read_source

    con = engine_connection(engine, spark_conf)
    with input_errors_exit(), treatment_names(source, study_drug, tpo_ra):
        p = load_protocol(protocol, set_ or [])
        s = read_source(study, source, con)
        dose = check_doses(s, p, con)
        raise_if_errors([*s.warnings, *dose])
        s.warnings.extend(dose)
    counts = _counts(s, con)

    console.print(f"[bold]{escape(s.source)}[/bold]", highlight=False, soft_wrap=True)
    table = Table()
    table.add_column("canonical table")
    table.add_column("rows", justify="right")
    table.add_column("patients", justify="right")
    for name, (rows, patients) in counts.items():
        table.add_row(escape(name), str(rows), str(patients))
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


def _counts(study, con) -> dict[str, tuple[int, int]]:  # type: ignore[no-untyped-def]
    """Rows and patients per canonical table, counted by the engine (`--engine`)."""
    if con is None:
        return {name: (len(df), int(df["patient_id"].nunique())) for name, df in study.tables()}
    from ctit.engine.backend import study_tables

    out = {}
    for name, t in study_tables(con, study).items():
        row = t.aggregate(rows=t.count(), patients=t.patient_id.nunique()).to_pandas().iloc[0]
        out[name] = (int(row["rows"]), int(row["patients"]))
    return out
