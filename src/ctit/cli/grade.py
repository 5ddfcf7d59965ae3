"""`ctit grade`: CTCAE grades (v5.0 by default, v6.0 with --ctcae 6.0) of every row of a labs table (docs/grading.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from ctit.cli import app
from ctit.cli._common import (
    ENGINE_HELP,
    OVERRIDES,
    PROTOCOL,
    SPARK_CONF_HELP,
    console,
    engine_connection,
    input_errors_exit,
    print_problems,
)

GRADE_COLUMNS = ("term", "direction", "grade", "grade_reason")


@app.command()
def grade(
    labs_file: Path = typer.Argument(..., metavar="LABS", help="Labs table: CSV, or an .xlsx "
                                     "workbook with a sheet 'labs'."),
    out: Path = typer.Option(..., "--out", help="CSV to write: every input row with term, "
                             "direction, grade and grade_reason."),
    protocol: Path = PROTOCOL,
    set_: list[str] = OVERRIDES,
    ctcae: str = typer.Option(None, "--ctcae", help="CTCAE version: 5.0 or 6.0 (default: the "
                              "protocol's ctcae_version; same as --set ctcae_version=...)."),
    engine: str = typer.Option("duckdb", "--engine", help=ENGINE_HELP),
    spark_conf: list[str] = typer.Option(None, "--spark-conf", help=SPARK_CONF_HELP),
) -> None:
    """Grade lab values by CTCAE (the protocol's version, v5.0 unless --ctcae 6.0), one output row per term a test has (potassium: two).

    Missing limits use the protocol defaults (default_platelet_lln, default_enzyme_uln). An
    optional `baseline_value` column is used as given; without it the baseline is derived per
    patient and test: the last value in days [-enzyme_baseline_lookback_days, 0], on the same
    day the higher (protocol section 9). A value that cannot be graded gets an empty grade and
    the reason.
    """
    import pandas as pd
    from rich.markup import escape

    from ctit.engine.analysis import grading_limits
    from ctit.engine.backend import connect, table
    from ctit.engine.grading import derive_lab_grades, load_criteria, with_baseline
    from ctit.protocol import load_protocol
    from ctit.readers import read_labs_file

    with input_errors_exit():
        p = load_protocol(protocol, list(set_ or []) + ([f"ctcae_version={ctcae}"] if ctcae else []))
        labs, warnings = read_labs_file(labs_file)
    print_problems(warnings, title=f"Warnings ({len(warnings)})")

    con = engine_connection(engine, spark_conf) or connect()
    given_baseline = "baseline_value" in labs.columns
    source = table(con, "ctit_grade_labs", labs)
    if not given_baseline:
        if labs["day"].isna().all() and len(labs):
            console.print("[yellow]note[/yellow] the file gives dates, not study days, so no "
                          "baseline can be derived (day 0 is unknown); baseline-dependent terms "
                          "use the baseline-normal branch. Add a `baseline_value` column to "
                          "change that.", highlight=False)
        source = with_baseline(source, p.enzyme_baseline_lookback_days)
    criteria = load_criteria(p.ctcae_version)
    graded = derive_lab_grades(source, criteria, **grading_limits(p)).to_pandas()

    columns = list(labs.columns) + (["baseline_value"] if not given_baseline else [])
    result = graded[columns + list(GRADE_COLUMNS)].copy()
    result["grade"] = result["grade"].astype("Int64")
    # Input order; potassium's two rows as L then H, like admiral's ATOXGRL then ATOXGRH.
    order = result["direction"].map({"L": 0, "H": 1})
    result = (result.assign(_order=order)
              .sort_values(["source_row", "_order"], kind="stable", na_position="first")
              .drop(columns="_order"))
    out.parent.mkdir(parents=True, exist_ok=True)
    result.to_csv(out, index=False)

    gradable = result["grade"].notna()
    console.print(escape(f"Graded {int(gradable.sum())} of {len(result)} term rows "
                         f"from {len(labs)} lab rows (CTCAE v{criteria.version}) -> {out}"), highlight=False)
    if (~gradable).any():
        reasons = result.loc[~gradable, "grade_reason"].value_counts()
        for reason, n in reasons.items():
            console.print(escape(f"  not graded: {n} x {reason}"), highlight=False)
    worst = result[gradable & (result["grade"] >= 1)]
    if len(worst):
        summary = pd.crosstab(worst["term"], worst["grade"])
        for term, counts in summary.iterrows():
            by_grade = ", ".join(f"grade {g}: {n}" for g, n in counts.items() if n)
            console.print(escape(f"  {term}: {by_grade}"), highlight=False)
