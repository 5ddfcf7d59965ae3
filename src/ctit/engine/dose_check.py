"""The recorded study-drug dose against the protocol's dose per m2, as input problems (data
contract, plausibility; protocol section 10). The engine flags the records
(`ctit.engine.dose.derive_dose_checks`); this module only words them, so it imports no engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ctit import knowledge
from ctit.errors import Problem

if TYPE_CHECKING:
    import pandas as pd

# The plausible multiples of the protocol's dose per m2 (knowledge/plausible_ranges.csv).
DOSE_RANGE = ("exposures", "dose_per_m2")


def dose_limits() -> knowledge.PlausibleRange:
    """The plausible recorded dose per m2, as multiples of the protocol's (knowledge table)."""
    limits = knowledge.plausible_range(*DOSE_RANGE)
    assert limits is not None, "knowledge/plausible_ranges.csv lost its exposures/dose_per_m2 row"
    return limits


def dose_problems(checks: pd.DataFrame, mg_per_m2: float) -> list[Problem]:
    """The engine's flagged study-drug records (`derive_dose_checks`) as input problems, each
    naming the exposures row, the dose and how far it is from the protocol's dose per m2."""
    limits = dose_limits()
    problems = []
    for r in checks.sort_values("source_row").itertuples(index=False):
        if r.severity == "error":
            bound = (f"outside {limits.impossible_below:g}-{limits.impossible_above:g} x it is impossible: "
                     f"{limits.why}")
        else:
            bound = f"usual {limits.unusual_below:g}-{limits.unusual_above:g} x; check the dose and its unit"
        problems.append(Problem(
            "exposures",
            f"study-drug dose {r.dose:g} mg/day is {r.ratio:.2f} x the protocol's {mg_per_m2:g} mg/m2 for "
            f"patient {r.patient_id!r} ({r.dose_per_m2:.1f} mg/m2 of a {r.bsa_m2:.2f} m2 body surface); {bound}",
            int(r.source_row), "dose", float(r.dose), r.severity))
    return problems
