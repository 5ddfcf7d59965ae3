"""Every protocol rule on hand-worked clinical cases, boundaries included.

Each expectation is worked out from the protocol text (shared/spec/protocol-atra-ctit.md),
cited by section, not read off the code.
"""

from __future__ import annotations

import pytest

from builders import Case, make_study, responder_counts
from ctit.engine.derivations import derive_study
from ctit.protocol import load_protocol


def run(*cases: Case, **overrides):
    protocol = load_protocol(overrides=overrides or None)
    d = derive_study(make_study(*cases), protocol)
    return d.patients.set_index("patient_id")


def one(case: Case, **overrides):
    return run(case, **overrides).loc[case.id]


# --- Section 2: platelet grade at its boundaries ---------------------------------------

@pytest.mark.parametrize("count, grade", [
    (24.9, 4), (25, 3), (49.9, 3), (50, 2), (74.9, 2), (75, 1), (99.9, 1), (100, 0),
])
def test_nadir_grade_at_each_boundary(count, grade):
    # The count is the patient's only pre-treatment count, so it is the nadir.
    p = one(Case("A", {0: count, 14: 10.0}))
    assert p.nadir_plt == count
    assert p.nadir_grade == grade


def test_own_lln_changes_grade_one_only():
    # Section 2: LLN is the row's lln when given. 120 is grade 1 with LLN 150, grade 0 with 100.
    assert one(Case("A", {0: 120.0, 14: 10.0}, lln=150.0)).nadir_grade == 1
    assert one(Case("A", {0: 120.0, 14: 10.0})).nadir_grade == 0


# --- Section 3: baseline and nadir -----------------------------------------------------

def test_baseline_is_last_count_in_lookback_and_lower_on_same_day():
    p = one(Case("A", [(-9, 5.0), (-5, 30.0), (-2, 20.0), (-2, 15.0), (7, 40.0)]))
    assert p.baseline_plt == 15.0          # day -2 is the latest; of its two counts, the lower
    assert p.nadir_plt == 5.0              # lowest in days [-14, 0]
    assert p.nadir_grade == 4


def test_count_before_lookback_is_not_baseline():
    p = one(Case("A", {-8: 20.0, 7: 40.0}))
    assert p.baseline_plt is None
    assert p.exclusion_reasons == "no_baseline_platelets"


def test_count_on_day_0_is_baseline_and_day_minus_7_still_counts():
    assert one(Case("A", {-7: 20.0, 7: 40.0})).baseline_plt == 20.0
    assert one(Case("A", {-7: 20.0, 0: 30.0, 7: 40.0})).baseline_plt == 30.0


# --- Section 4: eligibility ------------------------------------------------------------

@pytest.mark.parametrize("baseline, included", [(74.9, True), (75.0, False), (50.0, True), (100.0, False)])
def test_baseline_must_be_grade_2_or_worse(baseline, included):
    p = one(Case("A", {0: baseline, 7: 40.0}))
    assert bool(p.included) is included
    if not included:
        assert p.exclusion_reasons == "baseline_not_grade_2_plus"


def test_no_study_drug_records_only_that_reason():
    p = one(Case("A", {}, tpo=[], atra=None))
    assert p.exclusion_reasons == "no_study_drug"
    assert p.first_exclusion_reason == "no_study_drug"


def test_every_failed_criterion_is_recorded_in_order():
    # No TPO-RA, no baseline count, and no count after day 0 at all: three reasons;
    # baseline_not_grade_2_plus cannot be evaluated without a baseline, so it is absent.
    p = one(Case("A", {-12: 30.0}, tpo=[]))
    assert p.exclusion_reasons == "no_prior_tpo_ra;no_baseline_platelets;no_post_baseline_platelets"
    assert p.first_exclusion_reason == "no_prior_tpo_ra"


def test_post_baseline_count_after_followup_end_does_not_count():
    p = one(Case("A", {0: 20.0, 57: 30.0}))
    assert p.exclusion_reasons == "no_post_baseline_platelets"
    assert bool(one(Case("A", {0: 20.0, 56: 30.0})).included)


@pytest.mark.parametrize("tpo, included", [
    ([("rhTPO", -7, -1)], True),                              # exactly 7 days
    ([("rhTPO", -6, -1)], False),                             # 6 days
    ([("rhTPO", -20, -16), ("eltrombopag", -15, -13)], True),  # switch next day: one 8-day course
    ([("rhTPO", -20, -17), ("eltrombopag", -15, -13)], False), # a 1-day gap: two short courses
    ([("romiplostim", -3, None)], False),                     # open end counts to day 0: 4 days
    ([("romiplostim", -6, None)], True),                      # open end counts to day 0: 7 days
    ([("romiplostim", -2, 10)], True),                        # closed end after day 0 counts: 13 days
    ([("rhTPO", 0, 20)], False),                              # did not start before day 0
])
def test_prior_tpo_ra_course(tpo, included):
    p = one(Case("A", {0: 20.0, 7: 40.0}, tpo=tpo))
    assert bool(p.included) is included
    if not included:
        assert p.exclusion_reasons == "no_prior_tpo_ra"


# --- Sections 5 and 6: sustained response ------------------------------------------------

def test_window_of_exactly_seven_days_confirms_cr():
    # t = 10; u = first count on or after day 17 = day 17; counts on 10 and 17 meet 100.
    p = one(Case("A", {0: 10.0, 10: 100.0, 17: 100.0, 20: 40.0}))
    assert p.best_response == "CR"
    assert p.response_onset_day == 10
    assert p.time_to_cr == 10


def test_a_dip_inside_the_window_breaks_it():
    # From t = 10, u = 17 and day 14 is below 100; from t = 17 on, no count on/after day 24.
    p = one(Case("A", {0: 10.0, 10: 120.0, 14: 90.0, 17: 120.0}))
    assert p.best_response == "PR"         # 90 is grade 1 <= 4 - 2: PR window 10..17 holds
    assert p.response_onset_day == 10


def test_confirmation_is_the_first_count_after_the_sustain_period_not_a_later_one():
    # From t = 10 the first count on/after day 17 is day 20 (so [10, 20]); day 20 is 90.
    p = one(Case("A", {0: 10.0, 10: 120.0, 20: 90.0, 30: 130.0}))
    assert p.best_response == "PR"
    assert p.cr_onset_day is None


def test_no_count_after_the_sustain_period_means_no_confirmation():
    p = one(Case("A", {0: 10.0, 10: 120.0, 15: 130.0}))
    assert p.best_response == "NR"


def test_onset_on_day_42_counts_and_day_43_does_not():
    assert one(Case("A", {0: 10.0, 42: 110.0, 49: 110.0})).time_to_cr == 42
    p = one(Case("A", {0: 10.0, 43: 110.0, 50: 110.0}))
    assert p.best_response == "NR"


def test_confirmation_after_followup_end_is_not_used():
    # t = 42 needs a count on/after day 49 by day 56; day 57 is beyond follow-up.
    assert one(Case("A", {0: 10.0, 42: 110.0, 57: 110.0})).best_response == "NR"


@pytest.mark.parametrize("transfusion_day, response", [(3, "NR"), (2, "CR"), (17, "NR"), (18, "CR")])
def test_transfusion_washout_of_seven_days(transfusion_day, response):
    # Window [10, 17]: a platelet transfusion on days [3, 17] voids it; day 2 is 8 days before.
    # (From t = 17 on no confirmation exists, so the whole answer is this window.)
    p = one(Case("A", {0: 10.0, 10: 110.0, 17: 110.0}, transfusions=[transfusion_day]))
    assert p.best_response == response


def test_other_blood_products_do_not_void_a_window():
    p = one(Case("A", {0: 10.0, 10: 110.0, 17: 110.0}, transfusions=[(12, "rbc")]))
    assert p.best_response == "CR"


@pytest.mark.parametrize("who_grade, response", [(1, "CR"), (2, "PR")])
def test_bleeding_grade_two_voids_cr_but_not_pr(who_grade, response):
    p = one(Case("A", {0: 10.0, 10: 110.0, 17: 110.0}, bleeding=[(12, who_grade)]))
    assert p.best_response == response
    assert p.response_onset_day == 10


def test_bleeding_outside_the_window_does_not_matter():
    p = one(Case("A", {0: 10.0, 10: 110.0, 17: 110.0}, bleeding=[(9, 3), (18, 3)]))
    assert p.best_response == "CR"


def test_individual_baseline_below_100_is_the_cr_threshold():
    counts = {0: 10.0, 10: 80.0, 17: 85.0}
    p = one(Case("A", counts, pre_therapy_platelets=80.0))
    assert p.cr_threshold == 80.0
    assert p.best_response == "CR"
    q = one(Case("A", counts, pre_therapy_platelets=150.0))
    assert q.cr_threshold == 100.0
    assert q.best_response == "PR"          # 80 and 85 are grade 1: 4 -> 1 is 3 grades


def test_individual_baseline_can_be_switched_off():
    p = one(Case("A", {0: 10.0, 10: 80.0, 17: 85.0}, pre_therapy_platelets=80.0),
            use_individual_baseline=False)
    assert p.cr_threshold == 100.0


@pytest.mark.parametrize("nadir, later, response", [
    (10.0, 50.0, "PR"),    # grade 4 -> 2: two grades
    (10.0, 49.0, "NR"),    # grade 4 -> 3: one grade
    (30.0, 75.0, "PR"),    # grade 3 -> 1
    (30.0, 74.0, "NR"),    # grade 3 -> 2
    (60.0, 99.0, "NR"),    # grade 2 -> 1: nadir grade 2 needs grade 0, i.e. >= LLN
])
def test_partial_response_needs_two_grades_from_nadir(nadir, later, response):
    p = one(Case("A", {-10: nadir, 0: max(nadir, 20.0), 10: later, 17: later}))
    assert p.best_response == response


def test_pr_grade_improvement_is_a_parameter():
    p = one(Case("A", {0: 10.0, 10: 49.0, 17: 49.0}), pr_grade_improvement=1)
    assert p.best_response == "PR"


def test_sustain_days_is_a_parameter():
    case = Case("A", {0: 10.0, 10: 110.0, 17: 110.0})
    assert one(case, sustain_days=8).best_response == "NR"


def test_excluded_patients_get_no_response_values():
    p = one(Case("A", {0: 80.0, 10: 110.0, 17: 110.0}))
    assert not bool(p.included)
    assert p.best_response is None and p.plt_d14 is None and p.cr_threshold is None


# --- Section 7: landmarks ----------------------------------------------------------------

def test_landmark_closest_count_earlier_on_equal_distance_lower_on_same_day():
    p = one(Case("A", [(0, 10.0), (12, 30.0), (15, 40.0), (26, 60.0), (30, 70.0),
                       (42, 90.0), (42, 80.0)]))
    assert p.plt_d14 == 40.0    # day 15 is 1 away, day 12 is 2 away
    assert p.plt_d28 == 60.0    # days 26 and 30 are both 2 away: the earlier
    assert p.plt_d42 == 80.0    # two counts on day 42: the lower
    assert p.change_d28 == 50.0


def test_landmark_window_edges():
    p = one(Case("A", {0: 10.0, 11: 20.0, 25: 30.0, 46: 40.0}))
    assert p.plt_d14 == 20.0     # 3 days away: inside
    assert p.plt_d28 == 30.0
    assert p.plt_d42 is None     # 4 days away: missing


def test_landmark_counts_near_transfusion_are_kept():
    p = one(Case("A", {0: 10.0, 14: 60.0}, transfusions=[13]))
    assert p.plt_d14 == 60.0


# --- Section 8: Kaplan-Meier inputs --------------------------------------------------------

def test_non_responder_censored_at_last_count_in_followup():
    p = one(Case("A", {0: 10.0, 20: 20.0, 50: 25.0, 60: 30.0}))
    assert p.km_event is False or p.km_event == False  # noqa: E712
    assert p.km_time == 50


# --- Section 9: safety -------------------------------------------------------------------

def test_liver_toxicity_counts_treatment_emergent_window_only():
    # ATRA days 0-41, window [1, 71]. Baseline ALT 30 (normal, ULN 40).
    case = Case("A", responder_counts(), enzymes=[("ALT", -3, 30.0), ("ALT", 0, 300.0),
                                                  ("ALT", 20, 100.0), ("AST", 71, 130.0),
                                                  ("ALT", 72, 900.0)])
    p = one(case)
    # day 0 is not treatment-emergent; 100 = 2.5 x ULN: grade 1; AST 130 = 3.25 x ULN on the
    # last day of the window: grade 2; day 72 is outside.
    assert p.liver_max_grade == 2


def test_abnormal_enzyme_baseline_grades_against_baseline():
    # Baseline ALT 80 > ULN 40: grade 1 needs >= 1.5 x 80 = 120.
    assert one(Case("A", responder_counts(), enzymes=[("ALT", 0, 80.0), ("ALT", 10, 119.0)])).liver_max_grade == 0
    assert one(Case("A", responder_counts(), enzymes=[("ALT", 0, 80.0), ("ALT", 10, 120.0)])).liver_max_grade == 1


def test_open_study_drug_end_uses_planned_end_for_the_window():
    # Open end -> planned end day 41 -> window ends day 71.
    case = Case("A", responder_counts(), atra=(0, None), enzymes=[("ALT", 71, 100.0)])
    assert one(case).liver_max_grade == 1
    assert one(case).treatment_days == 42


def test_other_lab_toxicity_counts_only_worsening_from_baseline():
    # Anemia (CTCAE v5.0, g/L, LLN 120): 110 is grade 1, 95 grade 2, 75 grade 3.
    # A: grade 1 at baseline, grade 3 on day 20: counted at grade 3.
    # B: grade 2 at baseline and on day 20: not counted (no worsening).
    def hgb(day, value):
        return ("HGB", day, value, "g/L", 120.0, None)
    a = Case("A", responder_counts(), other_labs=[hgb(-2, 110.0), hgb(20, 75.0)])
    b = Case("B", responder_counts(), other_labs=[hgb(-2, 95.0), hgb(20, 90.0)])
    d = derive_study(make_study(a, b), load_protocol())
    events = d.other_lab_events.set_index("patient_id")
    assert events.loc["A", "term"] == "Anemia"
    assert events.loc["A", "max_grade"] == 3
    assert "B" not in events.index


def test_reported_events_window_case_and_highest_grade():
    # ATRA days 0-41: the treatment-emergent window for reported events is days [0, 71].
    a = Case("A", responder_counts(), adverse_events=[
        ("Nausea", 1, 0),            # day 0 counts
        ("nausea ", 2, 30),          # same term written differently: one term, highest grade 2
        ("Headache", 1, -1),         # before day 0: not treatment-emergent
        ("Dry skin", 1, 71),         # last day of the window counts
        ("Rash", 2, 72),             # day after the window: not counted
    ])
    b = Case("B", responder_counts(), adverse_events=[("NAUSEA", 1, 5)])
    d = derive_study(make_study(a, b), load_protocol())
    ev = d.reported_events
    got = {(r.patient_id, r.term): r.max_grade for r in ev.itertuples()}
    assert got == {("A", "Nausea"): 2, ("A", "Dry skin"): 1, ("B", "Nausea"): 1}


def test_reported_events_of_excluded_patients_are_not_counted():
    d = derive_study(make_study(Case("A", {0: 80.0, 7: 90.0}, adverse_events=[("Nausea", 1, 3)])),
                     load_protocol())
    assert d.reported_events.empty


# --- Section 10: dose ----------------------------------------------------------------------

@pytest.mark.parametrize("height, weight, dose", [
    (170.0, 65.0, 40.0),    # BSA 1.7520 m2 -> 43.8 mg -> 40
    (180.0, 80.0, 50.0),    # BSA 2.0 m2 -> 50 mg exactly
    (162.0, 72.0, 50.0),    # BSA 1.8 m2 -> 25 x 1.8 = 45 (44.999... in binary) -> halves up: 50
    (150.0, 54.0, 40.0),    # BSA 1.5 m2 -> 37.5 mg -> 40
])
def test_planned_dose(height, weight, dose):
    p = one(Case("A", responder_counts(), height_cm=height, weight_kg=weight))
    assert p.planned_daily_dose_mg == dose


def test_recorded_dose_and_relative_dose_intensity():
    # Planned 40 mg/day (BSA 1.66 m2). Recorded: two records, 40 mg on days 0-20 and 20 mg on
    # days 21-41: total 40 x 21 + 20 x 21 = 1260 mg over 42 days = 30 mg/day; RDI 1260 / (40 x 42).
    case = Case("A", responder_counts(), atra=(0, 20))
    study = make_study(case)
    extra = study.exposures.iloc[[-1]].copy()
    extra[["start_day", "end_day", "dose", "source_row"]] = [21, 41, 20.0, 99]
    study.exposures = __import__("pandas").concat([study.exposures, extra], ignore_index=True)
    p = derive_study(study, load_protocol()).patients.set_index("patient_id").loc["A"]
    assert p.treatment_days == 42
    assert p.total_dose_mg == 1260
    assert p.recorded_daily_dose_mg == 30
    assert p.relative_dose_intensity == pytest.approx(1260 / (40 * 42))


def test_dose_in_another_unit_is_not_converted():
    study = make_study(Case("A", responder_counts()))
    study.exposures.loc[study.exposures.role == "study_drug", "dose_unit"] = "mg/m2"
    p = derive_study(study, load_protocol()).patients.set_index("patient_id").loc["A"]
    assert p.total_dose_mg is None and p.relative_dose_intensity is None
    assert p.treatment_days == 42
