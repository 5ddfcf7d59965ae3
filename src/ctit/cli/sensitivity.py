"""`ctit sensitivity STUDY --out DIR`: the study under the library's definitions and
one-at-a-time variations of the protocol's key parameters."""

from __future__ import annotations

from pathlib import Path

import typer

from ctit.cli import app
from ctit.cli._common import OVERRIDES, PROTOCOL, SOURCE, console, input_errors_exit


@app.command()
def sensitivity(
    study: Path = typer.Argument(..., help="Study folder of CSVs, or an .xlsx workbook."),
    out: Path = typer.Option(Path("sensitivity"), "--out", "-o", help="Output folder."),
    protocol: Path = PROTOCOL,
    set_: list[str] = OVERRIDES,
    source: str = SOURCE,
) -> None:
    """CR, PR and ORR with exact CIs under every definition (sensitivity.csv / .json) and a
    tornado plot of the ORR around the protocol's value."""
    from rich.table import Table

    from ctit.protocol import load_protocol
    from ctit.sensitivity import run_sensitivity, write_sensitivity
    from ctit.sources import read_source

    with input_errors_exit():
        base = load_protocol(protocol, set_ or [])
        st = read_source(study, source)
        table = run_sensitivity(st, base)
    written = write_sensitivity(table, out)
    t = Table(title="Response by definition", show_edge=False)
    for col in ("definition", "CR %", "PR %", "ORR % (exact CI)", "categories"):
        t.add_column(col)
    for _, r in table.iterrows():
        t.add_row(r.definition, f"{r.cr_pct:.1f}", f"{r.pr_pct:.1f}",
                  f"{r.orr_pct:.1f} ({r.orr_ci_low:.1f} - {r.orr_ci_high:.1f})", r.categories)
    console.print(t)
    console.print(f"Wrote to {out}: " + ", ".join(p.name for p in written), highlight=False)
