"""Property: raising any platelet count after day 0 never worsens a patient's best response
(protocol sections 5-6: every target is "count at least" or "grade at most", so a higher
count meets every target a lower one met)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import Case, make_study
from ctit.engine.derivations import derive_study
from ctit.protocol import load_protocol

RANK = {"CR": 3, "PR": 2, "NR": 1, "NE": 0}
PROTOCOL = load_protocol()

counts = st.floats(min_value=1, max_value=400, allow_nan=False).map(lambda v: round(v, 1))
course = st.dictionaries(st.integers(1, 56), counts, min_size=1, max_size=10)


@st.composite
def patient_and_raised(draw):
    baseline = draw(st.floats(min_value=5, max_value=70).map(lambda v: round(v, 1)))  # grade 2-4
    plt = {0: baseline, **draw(course)}
    raised = dict(plt)
    for day in draw(st.sets(st.sampled_from(sorted(d for d in plt if d > 0)), min_size=1)):
        raised[day] = plt[day] + draw(st.floats(min_value=0.1, max_value=300).map(lambda v: round(v, 1)))
    transfusions = draw(st.lists(st.integers(1, 56), max_size=2, unique=True))
    return plt, raised, transfusions


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(patient_and_raised(), min_size=1, max_size=4))
def test_raising_a_platelet_count_never_worsens_the_best_response(patients) -> None:
    cases = []
    for i, (plt, raised, transfusions) in enumerate(patients):
        cases.append(Case(f"A{i}", plt, transfusions=list(transfusions)))
        cases.append(Case(f"B{i}", raised, transfusions=list(transfusions)))
    result = derive_study(make_study(*cases), PROTOCOL).patients.set_index("patient_id")
    for i in range(len(patients)):
        before, after = result.loc[f"A{i}"], result.loc[f"B{i}"]
        assert bool(before.included) == bool(after.included)
        if bool(before.included):
            assert RANK[after.best_response] >= RANK[before.best_response], (patients[i], before.best_response,
                                                                             after.best_response)
