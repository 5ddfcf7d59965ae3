"""Baseline values (protocol sections 3 and 9)."""

from __future__ import annotations

from typing import Literal

import ibis
import ibis.expr.types as ir


def derive_baseline(
    measurements: ir.Table,
    *,
    lookback_days: int,
    ties: Literal["lower", "higher"],
    by: tuple[str, ...] = ("patient_id", "test"),
    keep: tuple[str, ...] = (),
) -> ir.Table:
    """The last value in days [-lookback_days, 0] per `by` group; on the same day, the lower
    (platelets, section 3) or the higher (enzymes, section 9) value wins.

    Returns one row per group that has one: `by` columns, `baseline_day`, `baseline_value`,
    and `baseline_<name>` for each column in `keep` (e.g. the grade of that count). Rows that
    carry `source_row` break exact ties by it, so the chosen record is always the same one.
    """
    window = measurements.filter(
        measurements.day.between(-lookback_days, 0) & measurements.value.notnull()
    )
    value_order = window.value.asc() if ties == "lower" else window.value.desc()
    ranked = window.mutate(
        _rank=ibis.row_number().over(group_by=list(by), order_by=[window.day.desc(), value_order,
                                                                      *_row_order(window)])
    )
    return ranked.filter(ranked._rank == 0).select(
        *by,
        baseline_day=ranked.day,
        baseline_value=ranked.value,
        **{f"baseline_{name}": ranked[name] for name in keep},
    )


def _row_order(t: ir.Table) -> list[ir.Value]:
    return [t.source_row] if "source_row" in t.columns else []
