"""Nadir platelet count before the study drug (protocol section 3)."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir


def derive_nadir(platelets: ir.Table, *, lookback_days: int) -> ir.Table:
    """The lowest count in days [-lookback_days, 0] and its CTCAE grade (section 3).

    `platelets` carries a `grade` per count (section 2). Equal lowest counts: the higher
    grade, so that an own LLN cannot make the nadir look milder than it was; `nadir_source_row`
    names the record.
    """
    window = platelets.filter(platelets.day.between(-lookback_days, 0) & platelets.value.notnull())
    ranked = window.mutate(
        _rank=ibis.row_number().over(
            group_by="patient_id", order_by=[window.value.asc(), window.grade.desc(), window.day.desc(),
                                            window.source_row]
        )
    )
    return ranked.filter(ranked._rank == 0).select(
        "patient_id", nadir_day=ranked.day, nadir_plt=ranked.value, nadir_grade=ranked.grade,
        nadir_source_row=ranked.source_row,
    )
