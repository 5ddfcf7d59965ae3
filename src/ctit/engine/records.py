"""What each input record is used for: the engine's decisions, record by record.

Reports, figures and ADaM read these flags; none of them re-applies a window or a rule.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from ctit.protocol import Protocol


def window_column(category: str) -> str:
    return f"window_{category.lower()}"


def derive_lab_record_flags(graded: ir.Table, screened: ir.Table, landmarks: ir.Table, onsets: ir.Table,
                            protocol: Protocol) -> ir.Table:
    """Every graded lab row with the decisions about it (sections 3, 5, 7 and 9):

    - `baseline_record`: the section-3 platelet baseline (PLT) or the section-9 baseline of
      its test (the others);
    - `nadir_record`: the section-3 nadir count;
    - `efficacy_window`: a platelet count of a patient with a day 0 on days
      [-max(baseline, nadir lookback), followup_end_day], the counts the efficacy results read;
    - `on_treatment`: on days [1, last study-drug day + teae_window_days] (section 9);
    - `landmark_d{L}`: the count used for landmark day L (section 7);
    - `window_{category}`: a platelet count inside the patient's response window
      [onset, confirmation] of that rule (section 5).
    """
    p = protocol
    first_day = -max(p.baseline_lookback_days, p.nadir_lookback_days)
    who = screened.select(_pid=screened.patient_id, _day0=screened.first_drug_day.notnull(),
                          _teae_end=screened.teae_end_day, _base_row=screened.baseline_plt_source_row,
                          _nadir_row=screened.nadir_source_row)
    g = graded.left_join(who, graded.patient_id == who._pid).drop("_pid")
    is_plt = (g.test == "PLT").fill_null(False)
    row = g.source_row
    g = g.mutate(
        baseline_record=ibis.cases((is_plt, (row == g._base_row).fill_null(False)),
                                   else_=(row == g.baseline_source_row).fill_null(False)),
        nadir_record=(is_plt & (row == g._nadir_row)).fill_null(False),
        efficacy_window=(is_plt & g.value.notnull() & g._day0.fill_null(False)
                         & g.day.between(first_day, p.followup_end_day)).fill_null(False),
        on_treatment=(g._day0.fill_null(False) & g.day.between(1, g._teae_end)).fill_null(False),
    )
    marks = landmarks.group_by(_lp=landmarks.patient_id, _lr=landmarks.landmark_source_row).aggregate(
        **{f"_lm{d}": (landmarks.landmark_day == d).any() for d in p.landmark_days})
    # The PLT condition stays out of the join keys, where it would make a nested-loop join.
    g = g.left_join(marks, (g.patient_id == marks._lp) & (g.source_row == marks._lr))
    g = g.mutate(**{f"landmark_d{d}": (is_plt & g[f"_lm{d}"]).fill_null(False) for d in p.landmark_days})
    g = g.drop("_lp", "_lr", *[f"_lm{d}" for d in p.landmark_days])
    for rule in p.response_rules:
        o = onsets.filter(onsets.category == rule.category)
        o = o.select(_op=o.patient_id, _on=o.onset_day, _cf=o.confirmed_day)
        g = g.left_join(o, g.patient_id == o._op)
        inside = (g.test == "PLT") & g.value.notnull() & g.day.between(g._on, g._cf)
        g = g.mutate(**{window_column(rule.category): inside.fill_null(False)}).drop("_op", "_on", "_cf")
    return g.drop("_day0", "_teae_end", "_base_row", "_nadir_row")


def derive_transfusion_flags(transfusions: ir.Table, protocol: Protocol) -> ir.Table:
    """Every transfusion with `counted_for_washout`: its product is one the protocol counts
    for the transfusion-free period before and during a response window (section 5)."""
    return transfusions.mutate(
        counted_for_washout=transfusions["product"].isin(list(protocol.transfusion_products)).fill_null(False))


def derive_bleeding_flags(bleeding: ir.Table, protocol: Protocol) -> ir.Table:
    """Every bleeding assessment with `voids_{category}` for each rule that limits bleeding
    (WHO grade above the rule's maximum voids a window containing it, section 6), and
    `voids_response`: it voids some rule's window."""
    voids = {f"voids_{r.category.lower()}": (bleeding.who_grade > r.max_bleeding_who_grade).fill_null(False)
             for r in protocol.response_rules if r.max_bleeding_who_grade is not None}
    out = bleeding.mutate(**voids)
    any_ = ibis.literal(False)
    for name in voids:
        any_ = any_ | out[name]
    return out.mutate(voids_response=any_)
