"""Sustained response windows (protocol section 5), one generic derivation for every rule.

A response rule (protocol file, `response_rules`) says which platelet counts meet its target
and whether bleeding voids a window; this module finds each patient's earliest onset.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from ctit.protocol import Protocol, ResponseRule


def meets_target(counts: ir.Table, rule: ResponseRule, protocol: Protocol) -> ir.BooleanValue:
    """Whether each count meets `rule`'s target (section 6).

    `count_at_least` compares the count with a per-patient column of that name (the CR
    threshold); `grade_improvement_from_nadir` asks for grade <= nadir grade - n, so a nadir
    grade below n can never be met.
    """
    target = rule.target
    if target.count_at_least is not None:
        return counts.value >= counts[target.count_at_least]
    improvement = int(protocol.parameter(target.grade_improvement_from_nadir))
    return counts.grade.notnull() & (counts.grade <= counts.nadir_grade - improvement)


def derive_response_onset(
    counts: ir.Table,
    transfusions: ir.Table,
    bleeding: ir.Table,
    rule: ResponseRule,
    protocol: Protocol,
) -> ir.Table:
    """Earliest onset t of a sustained response under `rule` (section 5).

    t is the day of a count in [1, onset_by_day]; u is the first count day on or after
    t + sustain_days, u <= followup_end_day; every count on days [t, u] meets the target;
    no counted transfusion on days [t - washout, u]; and, when the rule limits bleeding, no
    WHO grade above its maximum on days [t, u].

    `counts` holds the included patients' platelet counts on days [1, followup_end_day] with
    `grade` and the per-patient columns the target needs. Returns patient_id, onset_day,
    confirmed_day (u).
    """
    counts = counts.mutate(_meets=meets_target(counts, rule, protocol))
    by_day = dict(group_by="patient_id", order_by="day")
    # Range frames include every count of the same day, so one failing count on day t or u
    # fails that day whatever the row order.
    windows = counts.mutate(
        confirmed_day=counts.day.min().over(ibis.window(**by_day, range=(protocol.sustain_days, None))),
        first_unmet_day=ibis.cases((~counts._meets, counts.day), else_=ibis.null("int64"))
        .min()
        .over(ibis.window(**by_day, range=(0, None))),
    )
    candidates = windows.filter(
        windows.day.between(1, protocol.onset_by_day)
        & windows.confirmed_day.notnull()
        & (windows.confirmed_day <= protocol.followup_end_day)
        & (windows.first_unmet_day.isnull() | (windows.first_unmet_day > windows.confirmed_day))
    ).select("patient_id", onset_day=windows.day, confirmed_day=windows.confirmed_day).distinct()

    counted = transfusions.filter(transfusions["product"].isin(list(protocol.transfusion_products)))
    candidates = candidates.anti_join(
        counted,
        [
            candidates.patient_id == counted.patient_id,
            counted.day >= candidates.onset_day - protocol.transfusion_washout_days,
            counted.day <= candidates.confirmed_day,
        ],
    )
    if rule.max_bleeding_who_grade is not None:
        bleeds = bleeding.filter(bleeding.who_grade > rule.max_bleeding_who_grade)
        candidates = candidates.anti_join(
            bleeds,
            [
                candidates.patient_id == bleeds.patient_id,
                bleeds.day >= candidates.onset_day,
                bleeds.day <= candidates.confirmed_day,
            ],
        )
    first = candidates.mutate(
        _rank=ibis.row_number().over(group_by="patient_id", order_by=candidates.onset_day)
    )
    return first.filter(first._rank == 0).drop("_rank")
