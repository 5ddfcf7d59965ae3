"""Response windows (protocol section 5), one generic derivation for every rule.

A response rule (protocol file, `response_rules`) says which platelet counts meet its target,
how a response is confirmed (a sustained window, or two qualifying counts some days apart),
the transfusion-free period before onset, the onset's time limit and whether bleeding voids
a window; this module finds each patient's earliest onset under any rule.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from ctit.protocol import Protocol, ResponseRule, Target


def meets_target(counts: ir.Table, target: Target | ResponseRule, protocol: Protocol) -> ir.BooleanValue:
    """Whether each count meets the target (section 6), composed from its parts.

    `count_at_least` compares the count with a per-patient column (the CR threshold) or a
    number; `times_baseline_at_least` / `rise_from_baseline_at_least` with the section-3
    baseline count (`baseline_plt`); `grade_improvement_from_nadir` asks for grade <= nadir
    grade - n, so a nadir grade below n can never be met. A missing value never meets.
    """
    if isinstance(target, ResponseRule):
        target = target.target
    if target.kind in ("any_of", "all_of"):
        parts = [meets_target(counts, t, protocol).fill_null(False) for t in target.parts]
        out = parts[0]
        for part in parts[1:]:
            out = (out | part) if target.kind == "any_of" else (out & part)
        return out
    if target.kind == "count_at_least":
        limit = counts[target.value] if isinstance(target.value, str) else ibis.literal(float(target.value))
        return counts.value >= limit
    if target.kind == "times_baseline_at_least":
        return counts.value >= protocol.number(target.value) * counts.baseline_plt
    if target.kind == "rise_from_baseline_at_least":
        return counts.value - counts.baseline_plt >= protocol.number(target.value)
    improvement = int(protocol.number(target.value))
    return counts.grade.notnull() & (counts.grade <= counts.nadir_grade - improvement)


def derive_response_onset(
    counts: ir.Table,
    transfusions: ir.Table,
    bleeding: ir.Table,
    rule: ResponseRule,
    protocol: Protocol,
) -> ir.Table:
    """Earliest onset t of a confirmed response under `rule` (section 5).

    t is the day of a count in [1, onset_by_day] meeting the target. Sustained confirmation:
    u is the first count day on or after t + sustain_days and every count on days [t, u]
    meets the target. Two-count confirmation: u is the first day at least N days after t
    whose counts meet the target (counts between are not asked); single count: u = t. All: u <= followup_end_day;
    no counted transfusion on days [t - washout, u]; and, when the rule limits bleeding, no
    WHO grade above its maximum on days [t, u]. A day with several counts meets the target
    only when all of them do.

    `counts` holds the included patients' platelet counts on days [1, followup_end_day] with
    `grade` and the per-patient columns the target needs. Returns patient_id, onset_day,
    confirmed_day (u).
    """
    p = protocol
    days = p.confirmation_days(rule)
    onset_by = p.onset_by(rule)
    washout = p.washout(rule)
    counts = counts.mutate(_meets=meets_target(counts, rule, p).fill_null(False))
    by_day = dict(group_by="patient_id", order_by="day")
    if rule.confirmation.kind == "sustained_days":
        # Range frames include every count of the same day, so one failing count on day t or u
        # fails that day whatever the row order.
        windows = counts.mutate(
            confirmed_day=counts.day.min().over(ibis.window(**by_day, range=(days, None))),
            first_unmet_day=ibis.cases((~counts._meets, counts.day), else_=ibis.null("int64"))
            .min()
            .over(ibis.window(**by_day, range=(0, None))),
        )
        ok = windows.first_unmet_day.isnull() | (windows.first_unmet_day > windows.confirmed_day)
    else:
        day_ok = counts._meets.cast("int8").min().over(ibis.window(group_by=["patient_id", "day"]))
        qualifying = counts.filter(day_ok == 1)
        windows = qualifying.mutate(
            confirmed_day=qualifying.day.min().over(ibis.window(**by_day, range=(days, None))))
        ok = ibis.literal(True)
    candidates = windows.filter(
        windows.day.between(1, onset_by)
        & windows.confirmed_day.notnull()
        & (windows.confirmed_day <= p.followup_end_day)
        & ok
    ).select("patient_id", onset_day=windows.day, confirmed_day=windows.confirmed_day).distinct()

    counted = transfusions.filter(transfusions["product"].isin(list(p.transfusion_products)))
    candidates = candidates.anti_join(
        counted,
        [
            candidates.patient_id == counted.patient_id,
            counted.day >= candidates.onset_day - washout,
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
