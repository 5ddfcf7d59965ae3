"""Landmark platelet counts and their change from baseline (protocol section 7)."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir


def derive_landmarks(
    platelets: ir.Table, *, landmark_days: tuple[int, ...], window_days: int, followup_end_day: int
) -> ir.Table:
    """For each landmark day L, the count closest to L within +/- window_days; equal distance:
    the earlier day; same day: the lower count (section 7). Counts near a transfusion are kept.

    Returns one row per patient and landmark that has a count: patient_id, landmark_day,
    landmark_count_day, landmark_plt, landmark_source_row (the record).
    """
    days = ibis.memtable({"landmark_day": [int(d) for d in landmark_days]})
    usable = platelets.filter((platelets.day <= followup_end_day) & platelets.value.notnull())
    near = usable.cross_join(days)
    near = near.filter((near.day - near.landmark_day).abs() <= window_days)
    ranked = near.mutate(
        _rank=ibis.row_number().over(
            group_by=["patient_id", "landmark_day"],
            order_by=[(near.day - near.landmark_day).abs(), near.day, near.value, near.source_row],
        )
    )
    return ranked.filter(ranked._rank == 0).select(
        "patient_id", "landmark_day", landmark_count_day=ranked.day, landmark_plt=ranked.value,
        landmark_source_row=ranked.source_row,
    )


def pivot_landmarks(landmarks: ir.Table, *, landmark_days: tuple[int, ...]) -> ir.Table:
    """One row per patient with `plt_d{L}` for each landmark day L."""
    return landmarks.group_by("patient_id").aggregate(
        **{
            f"plt_d{d}": landmarks.landmark_plt.max(where=landmarks.landmark_day == d)
            for d in landmark_days
        }
    )
