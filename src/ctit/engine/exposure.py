"""Study-drug exposure and prior TPO-RA courses (protocol sections 4, 9 and 10)."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir


def derive_study_drug(exposures: ir.Table, *, planned_treatment_days: int) -> ir.Table:
    """Per patient with study drug: first and last study-drug day, treatment days and the
    dose actually recorded (protocol sections 9 and 10).

    An open end is taken as the planned end, day `planned_treatment_days` - 1 (section 9),
    or the record's start when it starts later; treatment days = last - first + 1
    (section 10). Total dose = sum of daily dose x days over the records; the recorded daily
    dose is that total over the treatment days, so interruptions count as no dose. A dose in
    a unit other than mg is not converted: the totals are then unknown (null).
    """
    drug = exposures.filter(exposures.role == "study_drug")
    end = ibis.greatest(drug.end_day.fill_null(planned_treatment_days - 1), drug.start_day)
    mg = ibis.cases((drug.dose_unit.lower().strip() == "mg", drug.dose), else_=ibis.null("float64"))
    spans = drug.group_by("patient_id").aggregate(
        first_drug_day=drug.start_day.min(),
        last_drug_day=end.max(),
        _unconverted=(drug.dose.notnull() & mg.isnull()).cast("int64").sum(),
        _total=(mg * (end - drug.start_day + 1)).sum(),
    )
    spans = spans.mutate(treatment_days=spans.last_drug_day - spans.first_drug_day + 1)
    total = ibis.cases((spans._unconverted > 0, ibis.null("float64")), else_=spans._total)
    return spans.select(
        "patient_id", "first_drug_day", "last_drug_day", "treatment_days",
        total_dose_mg=total,
        recorded_daily_dose_mg=total / spans.treatment_days,
    )


def derive_prior_anticancer(exposures: ir.Table) -> ir.Table:
    """Per patient: the anticancer drugs started before day 0 (the therapy that caused the
    thrombocytopenia), as a sorted list of dictionary names."""
    prior = exposures.filter((exposures.role == "anticancer") & (exposures.start_day < 0))
    return prior.group_by("patient_id").aggregate(
        prior_anticancer=prior.drug_name.collect().unique().sort().join(", ")
    )


def derive_tpo_ra_courses(exposures: ir.Table, *, switch_gap_days: int) -> ir.Table:
    """Merge TPO-RA records into courses: records that overlap or follow each other within
    `switch_gap_days` (a switch of agent) form one course; an open end counts up to day 0,
    a closed end after day 0 counts as recorded (section 4, criterion 2).

    Returns patient_id, course_start, course_end, course_days (end - start + 1), agents.
    """
    tpo = exposures.filter(exposures.role == "tpo_ra")
    # An open end counts up to day 0, or to its own start when it starts later.
    tpo = tpo.mutate(_end=ibis.greatest(tpo.end_day.fill_null(0), tpo.start_day))
    in_order = dict(group_by="patient_id", order_by=[tpo.start_day, tpo._end])
    reach = tpo.mutate(_reach=tpo._end.max().over(ibis.window(**in_order, preceding=None, following=0)))
    reach = reach.mutate(_reach_before=reach._reach.lag().over(ibis.window(**in_order)))
    # A record opens a new course when it starts after everything before it has ended,
    # plus the allowed gap: the classic gaps-and-islands split.
    flagged = reach.mutate(
        _new=ibis.cases(
            (reach._reach_before.isnull(), 1),
            (reach.start_day > reach._reach_before + switch_gap_days, 1),
            else_=0,
        )
    )
    islands = flagged.mutate(
        _course=flagged._new.sum().over(ibis.window(**in_order, preceding=None, following=0))
    )
    courses = islands.group_by(["patient_id", "_course"]).aggregate(
        course_start=islands.start_day.min(),
        course_end=islands._end.max(),
        agents=islands.drug_name.collect().unique().sort().join(", "),
    )
    return courses.mutate(course_days=courses.course_end - courses.course_start + 1).drop("_course")


def derive_qualifying_tpo_ra(courses: ir.Table, *, min_days: int) -> ir.Table:
    """Per patient: whether a TPO-RA course started before day 0 and lasted >= `min_days`
    (section 4, criterion 2), with the longest such course's length and agents."""
    qualifying = courses.filter((courses.course_start < 0) & (courses.course_days >= min_days))
    ranked = qualifying.mutate(
        _rank=ibis.row_number().over(group_by="patient_id", order_by=[qualifying.course_days.desc(),
                                                                         qualifying.course_start])
    )
    return ranked.filter(ranked._rank == 0).select(
        "patient_id",
        prior_tpo_ra_days=ranked.course_days,
        prior_tpo_ra_agents=ranked.agents,
    )
