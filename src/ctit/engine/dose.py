"""Planned dose from body surface area (protocol section 10)."""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from ctit import knowledge

# Products such as 25 x 1.8 land a hair below a half in binary; nudging by far less than
# any clinically meaningful milligram makes "halves up" hold as written.
_HALF_UP_GUARD = 1e-9


def mosteller_bsa(height_cm: ir.NumericValue, weight_kg: ir.NumericValue) -> ir.NumericValue:
    """Body surface area in m2, Mosteller: sqrt(height_cm x weight_kg / 3600)."""
    return (height_cm * weight_kg / 3600.0).sqrt()


def round_half_up(x: ir.NumericValue, step: float) -> ir.NumericValue:
    """Round to the nearest multiple of `step`, halves up (45 -> 50 with step 10)."""
    return ((x / step) + 0.5 + _HALF_UP_GUARD).floor() * step


def planned_daily_dose(height_cm: ir.NumericValue, weight_kg: ir.NumericValue,
                       mg_per_m2: float, rounding_mg: float) -> ir.NumericValue:
    """Planned daily dose: mg_per_m2 x BSA, rounded to the nearest `rounding_mg`, halves up."""
    return round_half_up(mosteller_bsa(height_cm, weight_kg) * mg_per_m2, rounding_mg)


@dataclass(frozen=True)
class DoseCalculation:
    bsa_m2: float
    unrounded_mg: float
    planned_mg: float


def planned_dose(height_cm: float, weight_kg: float, mg_per_m2: float, rounding_mg: float) -> DoseCalculation:
    """The same rule for one person, evaluated by the same expressions (for `ctit dose`)."""
    h, w = ibis.literal(float(height_cm)), ibis.literal(float(weight_kg))
    bsa = mosteller_bsa(h, w)
    row = ibis.memtable({"x": [0]}).select(
        bsa=bsa, unrounded=bsa * mg_per_m2,
        planned=planned_daily_dose(h, w, mg_per_m2, rounding_mg),
    ).to_pyarrow().to_pylist()[0]
    return DoseCalculation(row["bsa"], row["unrounded"], float(row["planned"]))


def derive_dose_checks(exposures: ir.Table, patients: ir.Table, *, mg_per_m2: float,
                       limits: "knowledge.PlausibleRange") -> ir.Table:
    """Study-drug records whose recorded daily dose per m2 of body surface (Mosteller) is
    outside `limits`, as a multiple of the protocol's `mg_per_m2` (section 10): beyond the
    impossible bounds 'error', else 'warning' (data contract, plausibility).

    Only doses in mg are judged (the reader converts g and ug); a patient without height or
    weight has no body surface and so no check.
    """
    drug = exposures.filter((exposures.role == "study_drug") & (exposures.dose_unit == "mg")
                            & exposures.dose.notnull())
    body = patients.select("patient_id", bsa_m2=mosteller_bsa(patients.height_cm, patients.weight_kg))
    rec = drug.join(body.filter(body.bsa_m2 > 0), "patient_id")
    rec = rec.mutate(dose_per_m2=rec.dose / rec.bsa_m2)
    rec = rec.mutate(ratio=rec.dose_per_m2 / mg_per_m2)
    severity = ibis.cases(
        (~rec.ratio.between(limits.impossible_below, limits.impossible_above), "error"),
        (~rec.ratio.between(limits.unusual_below, limits.unusual_above), "warning"),
        else_=ibis.null("string"),
    )
    rec = rec.mutate(severity=severity)
    return rec.filter(rec.severity.notnull()).select(
        "source_row", "patient_id", "dose", "bsa_m2", "dose_per_m2", "ratio", "severity")


def plausible_ranges(table: str = "patients") -> dict[str, "knowledge.PlausibleRange"]:
    """The plausible ranges of a table's measurements, by column (knowledge/plausible_ranges.csv)."""
    return knowledge.plausible_ranges(table)
