"""Bleeding before the study drug (baseline characteristics)."""

from __future__ import annotations

import ibis.expr.types as ir


def derive_baseline_bleeding(bleeding: ir.Table, *, lookback_days: int) -> ir.Table:
    """Per patient: the worst WHO bleeding grade assessed on days [-lookback_days, 0], and how
    many assessments there were. Patients without an assessment in the window get no row."""
    window = bleeding.filter(bleeding.day.between(-lookback_days, 0) & bleeding.who_grade.notnull())
    return window.group_by("patient_id").aggregate(
        baseline_bleeding_grade=window.who_grade.max(),
        baseline_bleeding_assessments=window.count(),
    )
