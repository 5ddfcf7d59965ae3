"""`ctit dose`: body surface area and the planned daily ATRA dose (protocol section 10)."""

from __future__ import annotations

from pathlib import Path

import typer

from ctit.cli import app
from rich.markup import escape

from ctit.cli._common import (
    EXIT_INPUT,
    OVERRIDES,
    PROTOCOL,
    console,
    err_console,
    input_errors_exit,
)


@app.command()
def dose(
    height_cm: float = typer.Option(..., "--height-cm", help="Height in cm."),
    weight_kg: float = typer.Option(..., "--weight-kg", help="Weight in kg."),
    protocol: Path = PROTOCOL,
    set_: list[str] = OVERRIDES,
) -> None:
    """Body surface area (Mosteller) and the planned daily dose, showing the rounding."""
    from ctit.engine.dose import planned_dose, plausible_ranges
    from ctit.protocol import load_protocol

    with input_errors_exit():
        p = load_protocol(protocol, set_)
    # Plausible values come from knowledge/plausible_ranges.csv: a height in metres is refused.
    ranges = plausible_ranges("patients")
    verdicts = [ranges[c].judge(v) for c, v in (("height_cm", height_cm), ("weight_kg", weight_kg))]
    for verdict in filter(None, verdicts):
        severity, _, message = verdict.partition(": ")
        style = "red" if severity == "error" else "yellow"
        err_console.print(f"[{style}]{severity}[/{style}] {escape(message)}", highlight=False, soft_wrap=True)
    if any(v and v.startswith("error") for v in verdicts):
        raise typer.Exit(EXIT_INPUT)
    d = planned_dose(height_cm, weight_kg, p.dose_mg_per_m2, p.dose_rounding_mg)
    console.print(f"Body surface area (Mosteller): sqrt({height_cm:g} x {weight_kg:g} / 3600) = "
                  f"{d.bsa_m2:.4f} m2")
    console.print(f"Unrounded dose: {p.dose_mg_per_m2:g} mg/m2 x {d.bsa_m2:.4f} m2 = {d.unrounded_mg:.2f} mg/day")
    console.print(f"Planned daily dose: {d.planned_mg:g} mg/day "
                  f"(rounded to the nearest {p.dose_rounding_mg:g} mg, halves up)")
