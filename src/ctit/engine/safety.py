"""Treatment-emergent toxicity: lab-derived liver enzymes and reported adverse events
(protocol section 9)."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from ctit.engine.baseline import derive_baseline

LIVER_TESTS = ("ALT", "AST")
# Platelets are the efficacy measure, ALT/AST the protocol's liver event (section 9).
NOT_OTHER_LAB_TESTS = ("PLT",) + LIVER_TESTS


def derive_treatment_emergent_end(study_drug: ir.Table, *, teae_window_days: int) -> ir.Table:
    """Per patient: the last day of the treatment-emergent window, last study-drug day +
    `teae_window_days` (the open end was already taken as the planned end)."""
    return study_drug.select("patient_id", teae_end_day=study_drug.last_drug_day + teae_window_days)


def derive_liver_toxicity(graded_labs: ir.Table, teae_end: ir.Table) -> ir.Table:
    """Per patient: the highest ALT/AST grade on days [1, teae_end_day] (section 9).

    Grades are CTCAE v5.0, already relative to an abnormal baseline, so any grade counts.
    Patients without a gradable ALT/AST value in the window get no row.
    """
    liver = graded_labs.filter(graded_labs.test.isin(LIVER_TESTS) & graded_labs.grade.notnull())
    liver = liver.join(teae_end, "patient_id")
    liver = liver.filter(liver.day.between(1, liver.teae_end_day))
    return liver.group_by("patient_id").aggregate(liver_max_grade=liver.grade.max())


def derive_reported_events(adverse_events: ir.Table, teae_end: ir.Table) -> ir.Table:
    """Per patient and term: the highest grade of adverse events starting on days
    [0, teae_end_day] (section 9). Terms match case-insensitively with spaces trimmed and
    are reported as first written in the table.
    """
    keyed = adverse_events.mutate(term_key=adverse_events.term.strip().lower())
    first_written = keyed.mutate(
        _rank=ibis.row_number().over(group_by="term_key", order_by=keyed.source_row)
    )
    names = first_written.filter(first_written._rank == 0).select(
        "term_key", term_reported=first_written.term.strip()
    )
    emergent = keyed.join(teae_end, "patient_id")
    emergent = emergent.filter(emergent.start_day.between(0, emergent.teae_end_day))
    per_patient = emergent.group_by(["patient_id", "term_key"]).aggregate(max_grade=emergent.grade.max())
    return per_patient.join(names, "term_key").select(
        "patient_id", term=names.term_reported, max_grade=per_patient.max_grade
    )


def derive_other_lab_toxicity(graded_labs: ir.Table, teae_end: ir.Table, *, baseline_lookback_days: int) -> ir.Table:
    """Per patient and CTCAE term of the other graded labs (anemia, neutrophils, bilirubin...):
    the highest grade on days [1, teae_end_day] when it is worse than the patient's baseline
    grade of that term, the last in days [-baseline_lookback_days, 0] (same day: the higher).

    The protocol defines lab toxicity for ALT/AST only (section 9); this extends its window
    and baseline to the other terms, so a patient anaemic before ATRA is not counted for
    staying anaemic.
    """
    g = graded_labs.filter(~graded_labs.test.isin(NOT_OTHER_LAB_TESTS) & graded_labs.grade.notnull())
    grades = g.select("patient_id", "term", "day", value=g.grade)
    base = derive_baseline(grades, lookback_days=baseline_lookback_days, ties="higher", by=("patient_id", "term"))
    on = grades.join(teae_end, "patient_id")
    on = on.filter(on.day.between(1, on.teae_end_day) & (on.value >= 1))
    worst = on.group_by(["patient_id", "term"]).aggregate(max_grade=on.value.max())
    worst = worst.left_join(base, ["patient_id", "term"])
    worse = worst.filter(worst.max_grade > worst.baseline_value.fill_null(0))
    return worse.select(worse.patient_id, worse.term, worse.max_grade)
