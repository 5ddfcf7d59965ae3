"""The protocol file: every parameter loads, overrides apply, and nonsense is refused with a
message naming the parameter (a typo must never fall back to a default silently)."""

from __future__ import annotations

import pytest

from ctit.protocol import ProtocolError, load_protocol


def test_bundled_protocol_has_the_spec_defaults():
    p = load_protocol()
    assert (p.followup_end_day, p.default_platelet_lln, p.baseline_lookback_days, p.nadir_lookback_days) == (56, 100, 7, 14)
    assert (p.tpo_ra_min_days, p.onset_by_day, p.sustain_days, p.transfusion_washout_days) == (7, 42, 7, 7)
    assert (p.cr_threshold, p.pr_grade_improvement, p.landmark_days, p.landmark_window_days) == (100, 2, (14, 28, 42), 3)
    assert (p.teae_window_days, p.default_enzyme_uln, p.planned_treatment_days) == (30, 40, 42)
    assert (p.dose_mg_per_m2, p.dose_rounding_mg) == (25, 10)
    assert [r.category for r in p.response_rules] == ["CR", "PR"]


def test_a_user_file_changes_only_what_it_names(tmp_path):
    f = tmp_path / "variant.yaml"
    f.write_text("sustain_days: 14\ncr_threshold: 75\n")
    p = load_protocol(f, ["landmark_days=[28]"])
    assert (p.sustain_days, p.cr_threshold, p.landmark_days, p.onset_by_day) == (14, 75.0, (28,), 42)
    assert "variant.yaml" in p.source and "landmark_days" in p.source


def test_products_are_compared_as_stored():
    assert load_protocol(overrides=["transfusion_products=[Platelets, RBC]"]).transfusion_products == ("platelets", "rbc")


@pytest.mark.parametrize("override, named", [
    ("sustian_days=7", "sustian_days"),
    ("sustain_days=seven", "sustain_days"),
    ("sustain_days=7.5", "sustain_days"),
    ("transfusion_products=[blood]", "blood"),
    ("transfusion_products=platelets", "transfusion_products"),
    ("pr_grade_improvement=-1", "pr_grade_improvement"),
    ("pr_grade_improvement=0", "pr_grade_improvement"),
    ("wilcoxon_exact_max_n=-1", "wilcoxon_exact_max_n"),
    ("difference_rounding_digits=-2", "difference_rounding_digits"),
    ("cr_threshold=0", "cr_threshold"),
    ("default_enzyme_uln=-40", "default_enzyme_uln"),
    ("dose_mg_per_m2=0", "dose_mg_per_m2"),
    ("ci_level=95", "ci_level"),
    ("landmark_days=[14,60]", "landmark day 60"),
    ("onset_by_day=60", "onset_by_day"),
    ("response_rules=[{category: XX, target: {count_at_least: followup_end_day}}]", "count_at_least"),
    ("response_rules=[{category: CR, target: {count_at_least: cr_threshold}}, "
     "{category: CR, target: {count_at_least: cr_threshold}}]", "distinct"),
    ("response_rules=[{category: XX, target: {grade_improvement_from_nadir: cr_threshold}}]", "whole-number"),
    ("response_rules=[{category: XX, target: {percent: 50}}]", "response_rules"),
])
def test_nonsense_is_refused_naming_the_parameter(override, named):
    with pytest.raises(ProtocolError, match=named):
        load_protocol(overrides=[override])


def test_missing_protocol_file_is_an_error(tmp_path):
    with pytest.raises(ProtocolError, match="not found"):
        load_protocol(tmp_path / "nope.yaml")
