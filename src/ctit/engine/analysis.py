"""The protocol's derivations as one Ibis expression graph over the canonical tables.

`build_derivations` is the graph; `ctit.engine.derivations.derive_study` runs it (or replays
its compiled plan) and returns the small results. Nothing here knows where data came from.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from ctit.engine import backend
from ctit.engine.baseline import derive_baseline
from ctit.engine.bleeding import derive_baseline_bleeding
from ctit.engine.dose import derive_dose_checks, mosteller_bsa, planned_daily_dose
from ctit.engine.dose_check import dose_limits
from ctit.engine.eligibility import derive_eligibility, derive_post_baseline_counts
from ctit.engine.exposure import (
    derive_prior_anticancer,
    derive_qualifying_tpo_ra,
    derive_study_drug,
    derive_tpo_ra_courses,
)
from ctit.engine.grading import derive_lab_baselines, derive_lab_grades, load_criteria, with_baseline
from ctit.engine.landmark import derive_landmarks, pivot_landmarks
from ctit.engine.nadir import derive_nadir
from ctit.engine.plan import Plan
from ctit.engine.records import derive_bleeding_flags, derive_lab_record_flags, derive_transfusion_flags
from ctit.engine.response import derive_best_count, derive_best_response, derive_categories
from ctit.engine.response_window import derive_response_onset
from ctit.engine.safety import (
    LIVER_TESTS,
    derive_liver_toxicity,
    derive_other_lab_toxicity,
    derive_reported_events,
    derive_treatment_emergent_end,
)
from ctit.engine.usage import derive_unused_rows
from ctit.protocol import Protocol


def grading_limits(protocol: Protocol) -> dict[str, dict[str, float]]:
    """The protocol's limits for rows without their own: the platelet LLN (section 2) and the
    ALT/AST ULN (section 9), as keyword arguments of `derive_lab_grades`."""
    return {
        "default_lln": {"PLT": protocol.default_platelet_lln},
        "default_uln": {t: protocol.default_enzyme_uln for t in LIVER_TESTS},
    }


def derive_graded_labs(labs: ir.Table, protocol: Protocol, baselines: ir.Table | None = None) -> ir.Table:
    """Every lab row graded by CTCAE (sections 2 and 9): the protocol's default limits and the
    section-9 baseline (last value in days [-14, 0], same day: the higher; `baselines`, the
    stored `derive_lab_baselines`, when given)."""
    with_base = with_baseline(labs, lookback_days=protocol.enzyme_baseline_lookback_days, baselines=baselines)
    return derive_lab_grades(with_base, load_criteria(protocol.ctcae_version), **grading_limits(protocol))


def derive_protocol_dose_checks(t: dict[str, ir.Table], protocol: Protocol) -> ir.Table:
    """The recorded study-drug doses against the protocol's `dose_mg_per_m2` (section 10),
    within the knowledge table's plausible multiples (`derive_dose_checks`)."""
    return derive_dose_checks(t["exposures"], t["patients"], mg_per_m2=protocol.dose_mg_per_m2,
                              limits=dose_limits())


def build_derivations(t: dict[str, ir.Table], protocol: Protocol,
                      con: ibis.BaseBackend | None = None, plan: Plan | None = None) -> dict[str, ir.Table]:
    """Every derivation as an Ibis expression over the canonical tables `t`.

    With a connection, each intermediate that later steps read (graded labs, screened
    patients, onsets, landmarks) is computed once and stored: the engine then never repeats
    work, and each query stays small to compile.
    """
    p = protocol
    keep = (lambda name, e: backend.materialize(con, name, e, plan)) if con is not None else (lambda name, e: e)
    # A caller running several protocols on one study may pass the labs already graded
    # (`t["graded_labs"]`, same CTCAE version and limits): grading is then done once.
    if "graded_labs" in t:
        graded = t["graded_labs"]
    else:
        # Stored apart: one row per patient and test, read three times by the grading query.
        baselines = keep("ctit_lab_baselines", derive_lab_baselines(t["labs"], p.enzyme_baseline_lookback_days))
        graded = keep("ctit_graded_labs", derive_graded_labs(t["labs"], p, baselines))
    platelets = graded.filter(graded.test == "PLT")
    platelets = platelets.filter(platelets.day <= p.followup_end_day)

    study_drug = derive_study_drug(t["exposures"], planned_treatment_days=p.planned_treatment_days)
    courses = derive_tpo_ra_courses(t["exposures"], switch_gap_days=p.tpo_ra_switch_gap_days)
    tpo = derive_qualifying_tpo_ra(courses, min_days=p.tpo_ra_min_days)
    base = derive_baseline(platelets, lookback_days=p.baseline_lookback_days, ties="lower",
                           by=("patient_id",), keep=("grade", "source_row"))
    base = base.select("patient_id", baseline_plt=base.baseline_value, baseline_grade=base.baseline_grade,
                       baseline_plt_day=base.baseline_day, baseline_plt_source_row=base.baseline_source_row)
    nadir = derive_nadir(platelets, lookback_days=p.nadir_lookback_days)
    post = derive_post_baseline_counts(platelets, followup_end_day=p.followup_end_day)
    # Without study drug there is no day 0, so no day-relative value means anything.
    prior_anticancer = derive_prior_anticancer(t["exposures"])
    bleeding_at_baseline = derive_baseline_bleeding(t["bleeding"], lookback_days=p.baseline_bleeding_lookback_days)
    with_day0 = study_drug.select("patient_id")
    tpo, base, nadir, post, prior_anticancer, bleeding_at_baseline = (
        x.join(with_day0, "patient_id") for x in (tpo, base, nadir, post, prior_anticancer, bleeding_at_baseline))

    teae_end = derive_treatment_emergent_end(study_drug, teae_window_days=p.teae_window_days)
    pt = t["patients"]
    screened = (
        pt.select("patient_id", "sex", "age_years", "height_cm", "weight_kg", "tumor_type",
                  "pre_therapy_platelets", "source_row")
        .left_join(study_drug, "patient_id").drop("patient_id_right")
        .left_join(tpo, "patient_id").drop("patient_id_right")
        .left_join(base, "patient_id").drop("patient_id_right")
        .left_join(nadir, "patient_id").drop("patient_id_right")
        .left_join(post, "patient_id").drop("patient_id_right")
        .left_join(teae_end, "patient_id").drop("patient_id_right")
        .left_join(prior_anticancer, "patient_id").drop("patient_id_right")
        .left_join(bleeding_at_baseline, "patient_id").drop("patient_id_right")
    )
    screened = derive_eligibility(screened, min_grade=p.refractory_min_grade, waive=p.waived_criteria)
    individual = p.use_individual_baseline & screened.pre_therapy_platelets.notnull() & (
        screened.pre_therapy_platelets < p.cr_threshold)
    screened = keep("ctit_screened", screened.mutate(
        cr_threshold=ibis.cases((~screened.included, ibis.null("float64")),
                                (individual, screened.pre_therapy_platelets), else_=p.cr_threshold),
        bsa_m2=mosteller_bsa(screened.height_cm, screened.weight_kg),
        planned_daily_dose_mg=planned_daily_dose(screened.height_cm, screened.weight_kg,
                                                 p.dose_mg_per_m2, p.dose_rounding_mg),
    ))
    # Relative dose intensity (section 10): dose received over the planned course's dose.
    screened = screened.mutate(relative_dose_intensity=screened.total_dose_mg / (
        screened.planned_daily_dose_mg * p.planned_treatment_days))

    included = screened.filter(screened.included).select("patient_id", "cr_threshold", "nadir_grade", "baseline_plt")
    counts = platelets.filter(platelets.day.between(1, p.followup_end_day) & platelets.value.notnull())
    counts = counts.join(included, "patient_id")
    onsets = []
    for rule in p.response_rules:
        onset = derive_response_onset(counts, t["transfusions"], t["bleeding"], rule, p)
        onsets.append(onset.mutate(category=ibis.literal(rule.category)))
    onset_long = keep("ctit_onsets", ibis.union(*onsets))

    included_platelets = platelets.join(included.select("patient_id"), "patient_id")
    landmarks = keep("ctit_landmarks", derive_landmarks(included_platelets,
                                 landmark_days=p.landmark_days, window_days=p.landmark_window_days,
                                 followup_end_day=p.followup_end_day))
    # The figures' weekly profile: the landmark rule at every week of the analysis period.
    first_week = -7 * -(-max(p.baseline_lookback_days, p.nadir_lookback_days) // 7)
    visits = derive_landmarks(included_platelets, landmark_days=tuple(range(first_week, p.followup_end_day + 1, 7)),
                              window_days=p.landmark_window_days, followup_end_day=p.followup_end_day)

    teae_end = screened.filter(screened.included).select("patient_id", "teae_end_day")
    liver = keep("ctit_liver", derive_liver_toxicity(graded, teae_end))
    reported = derive_reported_events(t["adverse_events"], teae_end)
    other_labs = derive_other_lab_toxicity(graded, teae_end,
                                           baseline_lookback_days=p.enzyme_baseline_lookback_days)

    best = derive_best_response(screened, onset_long, p.response_rules)
    best_count = derive_best_count(counts, followup_end_day=p.followup_end_day)
    wide = pivot_landmarks(landmarks, landmark_days=p.landmark_days)
    patients = (
        screened.left_join(best, "patient_id").drop("patient_id_right")
        .left_join(wide, "patient_id").drop("patient_id_right")
        .left_join(liver, "patient_id").drop("patient_id_right")
        .left_join(best_count, "patient_id").drop("patient_id_right")
    )
    patients = patients.mutate(
        **{f"change_d{d}": patients[f"plt_d{d}"] - patients.baseline_plt for d in p.landmark_days},
        best_change=patients.best_plt - patients.baseline_plt,
    )

    return {
        "patients": patients.order_by("source_row"),
        "categories": derive_categories(p.response_rules),
        "visits": visits.rename(visit_day="landmark_day", count_day="landmark_count_day", plt="landmark_plt"),
        "transfusions": derive_transfusion_flags(t["transfusions"], p),
        "bleeding": derive_bleeding_flags(t["bleeding"], p),
        "onsets": onset_long,
        "landmarks": landmarks,
        "liver": liver,
        "reported_events": reported,
        "other_lab_events": other_labs,
        "graded_labs": derive_lab_record_flags(graded, screened, landmarks, onset_long, p),
        "tpo_ra_courses": courses,
        "unused_rows": derive_unused_rows(t, screened, p),
        "dose_checks": derive_protocol_dose_checks(t, p),
    }


