"""refractory_min_grade (protocol section 4, criterion 4): the CTCAE grade the baseline
platelet count must reach, one protocol parameter for the treated cohort and the comparator."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import ibis
import pytest

from ctit.engine.eligibility import derive_eligibility
from ctit.protocol import ProtocolError, load_protocol

EXAMPLE = Path(str(resources.files("ctit").joinpath("examples", "atra-ctit")))


def _screened() -> ibis.Table:
    """A: baseline 69 (grade 2); B: 27 (grade 3); C: 75 (grade 1). All with drug, TPO-RA, counts."""
    return ibis.memtable({"patient_id": ["A", "B", "C"], "first_drug_day": [0, 0, 0],
                          "prior_tpo_ra_days": [14, 14, 14], "baseline_plt": [69.0, 27.0, 75.0],
                          "baseline_grade": [2, 3, 1], "n_post_baseline_counts": [4, 4, 4]})


def _included(min_grade: int = 2) -> dict[str, tuple[bool, str | None]]:
    rows = derive_eligibility(_screened(), min_grade=min_grade).execute()
    return {r.patient_id: (bool(r.included), r.first_exclusion_reason) for r in rows.itertuples()}


def test_grade_two_patient_is_excluded_at_grade_three() -> None:
    assert _included() == {"A": (True, None), "B": (True, None), "C": (False, "baseline_not_grade_2_plus")}
    assert _included(min_grade=3) == {"A": (False, "baseline_not_grade_2_plus"), "B": (True, None),
                                      "C": (False, "baseline_not_grade_2_plus")}


def test_a_waived_criterion_excludes_no_one() -> None:
    rows = derive_eligibility(_screened().mutate(prior_tpo_ra_days=ibis.null("int64")), min_grade=2,
                              waive=("no_prior_tpo_ra",)).execute()
    assert rows.set_index("patient_id").included.to_dict() == {"A": True, "B": True, "C": False}
    with pytest.raises(ValueError, match="no_such"):
        derive_eligibility(_screened(), min_grade=2, waive=("no_such",))


def test_the_parameter_defaults_to_two_and_is_range_checked() -> None:
    assert load_protocol(None, []).refractory_min_grade == 2
    assert load_protocol(None, ["refractory_min_grade=3"]).refractory_min_grade == 3
    with pytest.raises(ProtocolError, match="refractory_min_grade"):
        load_protocol(None, ["refractory_min_grade=5"])


def test_set_refractory_min_grade_3_excludes_p19_of_the_example() -> None:
    """P19 (baseline 69, grade 2, NR) is excluded at grade 3; P18 (baseline 27, grade 3) stays."""
    from ctit.results import analyze_study
    from ctit.sources import read_source

    r = analyze_study(read_source(EXAMPLE, "study"), load_protocol(None, ["refractory_min_grade=3"]))
    p = r.patients.set_index("patient_id")
    assert not bool(p.loc["P19", "included"]) and p.loc["P19", "first_exclusion_reason"] == "baseline_not_grade_2_plus"
    assert bool(p.loc["P18", "included"])
