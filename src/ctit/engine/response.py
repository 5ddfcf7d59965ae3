"""Best response, time to CR and the Kaplan-Meier input (protocol sections 6 and 8)."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from ctit.protocol import ResponseRule


def onset_column(category: str) -> str:
    return f"{category.lower()}_onset_day"


def derive_best_response(screened: ir.Table, onsets: ir.Table, rules: tuple[ResponseRule, ...]) -> ir.Table:
    """Best response: the first rule (protocol order) with an onset; NR for an included
    patient with post-baseline counts; NE for an included patient without (section 6).
    Time to CR is the onset of the rule named CR; the Kaplan-Meier input is that onset as an
    event, else a censoring at the last count in [1, followup_end_day] (section 8).

    `screened` has `patient_id`, `included`, `n_post_baseline_counts`, `last_count_day`;
    `onsets` has `patient_id`, `category`, `onset_day`. Excluded patients get nulls.
    """
    t = screened.select("patient_id", "included", "n_post_baseline_counts", "last_count_day")
    for rule in rules:
        o = onsets.filter(onsets.category == rule.category)
        o = o.select(_pid=o.patient_id, **{onset_column(rule.category): o.onset_day})
        t = t.left_join(o, t.patient_id == o._pid).drop("_pid")
    onset = [(t.included & t[onset_column(r.category)].notnull(), r) for r in rules]
    best = ibis.cases(
        *[(has, ibis.literal(r.category)) for has, r in onset],
        (t.included & (t.n_post_baseline_counts.fill_null(0) > 0), ibis.literal("NR")),
        (t.included, ibis.literal("NE")),
        else_=ibis.null("string"),
    )
    cr = next((onset_column(r.category) for r in rules if r.category.upper() == "CR"), None)
    time_to_cr = t[cr] if cr else ibis.null("int64")
    return t.select(
        "patient_id",
        *[onset_column(r.category) for r in rules],
        best_response=best,
        response_onset_day=ibis.cases(*[(has, t[onset_column(r.category)]) for has, r in onset],
                                      else_=ibis.null("int64")),
        time_to_cr=time_to_cr,
        km_event=ibis.cases((t.included, time_to_cr.notnull()), else_=ibis.null("boolean")),
        km_time=ibis.cases((t.included, time_to_cr.coalesce(t.last_count_day)), else_=ibis.null("int64")),
    )


def derive_best_count(platelets: ir.Table, *, followup_end_day: int) -> ir.Table:
    """Per patient: the highest platelet count on days [1, followup_end_day] (the waterfall's
    best change from baseline is this minus the baseline count)."""
    post = platelets.filter(platelets.day.between(1, followup_end_day) & platelets.value.notnull())
    return post.group_by("patient_id").aggregate(best_plt=post.value.max())


# Labels of the usual codes when a rule gives none; any other code is its own label.
DEFAULT_LABELS = {"CR": "Complete response", "PR": "Partial response", "R": "Response",
                  "NR": "No response", "NE": "Not evaluable"}
NOT_A_RULE = (("NR", "no_response"), ("NE", "not_evaluable"))


def response_categories(rules: tuple[ResponseRule, ...]) -> list[dict[str, object]]:
    """The categories of best response, in order: each rule (protocol order), then NR and NE
    (section 6). `counts_as_response` says whether it counts toward the ORR; `color_key` is
    the renderers' colour slot (`response_1`, `response_2`, ... by rule order, then
    `no_response`, `not_evaluable`), so a new category needs no renderer change."""
    rows = [{"order": i + 1, "code": r.category, "label": r.label or DEFAULT_LABELS.get(r.category, r.category),
             "counts_as_response": bool(r.counts_as_response), "is_rule": True, "color_key": f"response_{i + 1}"}
            for i, r in enumerate(rules)]
    rows += [{"order": len(rules) + i + 1, "code": code, "label": DEFAULT_LABELS[code], "counts_as_response": False,
              "is_rule": False, "color_key": key} for i, (code, key) in enumerate(NOT_A_RULE)]
    return rows


def derive_categories(rules: tuple[ResponseRule, ...]) -> ir.Table:
    """The categories table (`response_categories`) as an engine table, beside the results."""
    return ibis.memtable(response_categories(rules))
