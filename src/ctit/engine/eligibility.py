"""Eligibility for refractory CTIT (protocol section 4)."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from ctit.protocol import EXCLUSION_REASONS, WAIVABLE_CRITERIA


def derive_post_baseline_counts(platelets: ir.Table, *, followup_end_day: int) -> ir.Table:
    """Per patient: the number of platelet counts and the last count day in [1, followup_end_day]."""
    post = platelets.filter(platelets.day.between(1, followup_end_day) & platelets.value.notnull())
    return post.group_by("patient_id").aggregate(
        n_post_baseline_counts=post.count(), last_count_day=post.day.max()
    )


def derive_eligibility(screened: ir.Table, *, min_grade: int, waive: tuple[str, ...] = ()) -> ir.Table:
    """Inclusion flag and every failed criterion, in protocol order (section 4); refractory
    CTIT needs a baseline count of CTCAE grade >= `min_grade` (`refractory_min_grade`).
    `waive`: criteria (exclusion reasons) not applied, such as no_prior_tpo_ra for the
    relaxed natural-history comparator (docs/comparator.md).

    `screened` has one row per patient with `first_drug_day`, `prior_tpo_ra_days`,
    `baseline_plt`, `baseline_grade` and `n_post_baseline_counts` (null when absent).
    A criterion that an earlier failure makes unevaluable is not recorded: without study
    drug there is no day 0, so nothing else is; without a baseline count its grade is not.
    """
    no_drug = screened.first_drug_day.isnull()
    failed = {
        "no_study_drug": no_drug,
        "no_prior_tpo_ra": ~no_drug & screened.prior_tpo_ra_days.isnull(),
        "no_baseline_platelets": ~no_drug & screened.baseline_plt.isnull(),
        "baseline_not_grade_2_plus": ~no_drug & screened.baseline_plt.notnull() & (screened.baseline_grade < min_grade),
        "no_post_baseline_platelets": ~no_drug & screened.n_post_baseline_counts.isnull(),
    }
    unknown = sorted(set(waive) - set(WAIVABLE_CRITERIA))
    if unknown:
        raise ValueError(f"unknown or unwaivable eligibility criteria to waive: {', '.join(unknown)}")
    failed = {r: (ibis.literal(False) if r in waive else f) for r, f in failed.items()}
    parts = [ibis.cases((failed[r], ibis.literal(r)), else_=ibis.null("string")) for r in EXCLUSION_REASONS]
    reasons = ibis.array(parts).filter(lambda r: r.notnull())
    return screened.mutate(
        included=reasons.length() == 0,
        exclusion_reasons=reasons.join(";"),
        first_exclusion_reason=ibis.cases(
            *[(failed[r], ibis.literal(r)) for r in EXCLUSION_REASONS], else_=ibis.null("string")
        ),
    )
