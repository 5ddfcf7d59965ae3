"""The engine's record-level decisions, and that no renderer re-applies a rule.

On SDTM-named input (the reader names the labs table "LB"), the figures' platelet
trajectories must hold exactly the rows the engine flags; the flags must agree with the row
accounting; and neither the report modules nor the CDISC writers contain a rule of their own.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ctit.cli import app
from ctit.protocol import load_protocol
from ctit.results import analyze_study
from ctit.sources import read_source

EXAMPLE = Path(__file__).resolve().parents[1] / "src" / "ctit" / "examples" / "atra-ctit"
REPORTS = Path(__file__).resolve().parents[1] / "src" / "ctit" / "reports"
CDISC = Path(__file__).resolve().parents[1] / "src" / "ctit" / "cdisc"


@pytest.fixture(scope="module")
def sdtm_results(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("sdtm")
    assert CliRunner().invoke(app, ["export", "sdtm", str(EXAMPLE), str(folder / "sdtm")]).exit_code == 0
    return analyze_study(read_source(folder / "sdtm", "sdtm"), load_protocol())


def test_trajectories_are_the_engine_flagged_rows_on_sdtm_input(sdtm_results) -> None:
    from ctit.reports.figures import _platelets

    r = sdtm_results
    g = r.derivations.graded_labs
    flagged = g[g.efficacy_window.astype(bool) & g.patient_id.isin(r.included.patient_id)]
    drawn = _platelets(r)
    assert sorted(zip(drawn.patient_id, drawn.day, drawn.value)) == sorted(
        zip(flagged.patient_id.astype(str), flagged.day.astype(int), flagged.value.astype(float)))
    # The flag agrees with the row accounting: a flagged platelet row is never listed as
    # unused, and an unflagged one of a patient with a day 0 always is (whatever the input
    # table is called: "LB" here).
    unused = r.derivations.unused_rows
    listed = set(unused.loc[unused.canonical_table == "labs", "source_row"].astype(int))
    plt = g[(g.test == "PLT") & g.value.notna()]
    assert not set(plt.loc[plt.efficacy_window.astype(bool), "source_row"].astype(int)) & listed
    day0 = set(r.patients.loc[r.patients.first_drug_day.notna(), "patient_id"])
    outside = plt[~plt.efficacy_window.astype(bool) & plt.patient_id.isin(day0)]
    assert set(outside.source_row.astype(int)) <= listed
    assert len(outside) > 0  # the example has counts outside the windows (after day 56)


def test_flags_are_the_decisions_worked_by_hand(sdtm_results) -> None:
    r = sdtm_results
    g = r.derivations.graded_labs
    plt = g[g.test == "PLT"]
    inc = r.included.set_index("patient_id")
    for pid, rows in plt[plt.patient_id.isin(inc.index)].groupby("patient_id"):
        p = inc.loc[pid]
        # One baseline record: the last count on days [-7, 0], its value the baseline.
        base = rows[rows.baseline_record.astype(bool)]
        assert len(base) == 1 and float(base.value.iloc[0]) == float(p.baseline_plt)
        assert int(base.day.iloc[0]) == max(d for d in rows.day if -7 <= d <= 0)
        nadir = rows[rows.nadir_record.astype(bool)]
        assert len(nadir) == 1 and float(nadir.value.iloc[0]) == float(p.nadir_plt)
        for d in r.protocol.landmark_days:
            mark = rows[rows[f"landmark_d{d}"].astype(bool)]
            assert len(mark) == (0 if p[f"plt_d{d}"] is None else 1)
            if len(mark):
                assert float(mark.value.iloc[0]) == float(p[f"plt_d{d}"])
                assert abs(int(mark.day.iloc[0]) - d) <= r.protocol.landmark_window_days
        # A CR window runs from the onset to the confirming count, every count in it >= threshold.
        win = rows[rows.window_cr.astype(bool)]
        if p.cr_onset_day is None:
            assert win.empty
        else:
            assert int(win.day.min()) == int(p.cr_onset_day)
            assert (win.value.astype(float) >= float(p.cr_threshold)).all()
    # Treatment-emergent window: days 1 to last ATRA day + 30, for any test.
    on = g.merge(r.patients[["patient_id", "teae_end_day"]], on="patient_id")
    on = on[on.teae_end_day.notna()]
    want = (on.day >= 1) & (on.day <= on.teae_end_day.astype(float))
    assert (on.on_treatment.astype(bool) == want).all()
    # Section-9 baseline of ALT: one record per patient with an ALT value in [-14, 0].
    alt = g[(g.test == "ALT") & g.baseline_record.astype(bool)]
    assert not alt.patient_id.duplicated().any() and len(alt) > 0


def test_transfusion_and_bleeding_flags(sdtm_results) -> None:
    d = sdtm_results.derivations
    assert (d.transfusions.counted_for_washout.astype(bool) == (d.transfusions["product"] == "platelets")).all()
    # CR allows WHO bleeding up to grade 1: grade 2 and above void it; PR has no limit.
    b = d.bleeding[d.bleeding.who_grade.notna()]
    assert (b.voids_cr.astype(bool) == (b.who_grade.astype(int) >= 2)).all()
    assert "voids_pr" not in d.bleeding.columns
    assert (b.voids_response.astype(bool) == b.voids_cr.astype(bool)).all()


# What a renderer must never contain: a rule, a window or a category of its own.
FORBIDDEN = {
    r"transfusion_products": "the counted-transfusion rule (read counted_for_washout)",
    r"who_grade\W*(>=|>|<=|<)": "a bleeding threshold (read voids_response)",
    r"table\s*==\s*[\"']labs[\"']": "the unused-row filter by table name (read efficacy_window)",
    r"[\"']CR[\"'],\s*[\"']PR[\"']": "a hard-coded category list (read results.categories)",
    r"\.sort_values\(\[\"patient_id\", \"dist\"": "the landmark rule (read derivations.visits/landmarks)",
    r"plt_d\{\w+\}\"\]\s*-": "a landmark change (read change_d{L})",
}


@pytest.mark.parametrize("module", ["figures.py", "tables.py", "terminal.py", "../results.py"])
def test_no_renderer_reapplies_a_rule(module: str) -> None:
    text = (REPORTS / module).read_text(encoding="utf-8")
    found = [why for pattern, why in FORBIDDEN.items() if re.search(pattern, text)]
    assert not found, f"{module}: {found}"


# What a CDISC writer must never contain either: the rules that locate a record (ADaM reads
# the engine's record flags and categories table; protocol sections 3, 6, 7 and 9). ADLB's
# ANL01FL is by definition the engine's row accounting (docs/cdisc.md), so reading the labs
# rows of `unused_rows` is the decision itself there, not a stand-in for `efficacy_window`.
UNUSED_BY_TABLE = r"table\s*==\s*[\"']labs[\"']"
CDISC_FORBIDDEN = {
    **{k: v for k, v in FORBIDDEN.items() if k != UNUSED_BY_TABLE},
    r"baseline_plt_day|\bbaseline_day\b|lookback_days": "the baseline-record rule (read baseline_record)",
    r"teae_end_day|teae_window_days": "the on-treatment window (read on_treatment)",
    r"landmark_count_day|landmark_window_days|landmark_plt": "the landmark rule (read landmark_d{L})",
    r"\.response\.items\(\)|response_rules": "the response categories (read derivations.categories)",
}


@pytest.mark.parametrize("module", sorted(p.name for p in CDISC.glob("*.py")))
def test_no_cdisc_writer_reapplies_a_rule(module: str) -> None:
    text = (CDISC / module).read_text(encoding="utf-8")
    found = [why for pattern, why in CDISC_FORBIDDEN.items() if re.search(pattern, text)]
    assert not found, f"cdisc/{module}: {found}"


def test_the_scan_catches_a_rederivation() -> None:
    """The scan is not vacuous: the ABLFL/ONTRTFL re-derivations it replaced are caught."""
    old = ('day = labs.patient_id.map(pts.baseline_plt_day)\n'
           'teae_end = labs.patient_id.map(r.patients.set_index("patient_id").teae_end_day)\n'
           'lm = r.derivations.landmarks.dropna(subset=["landmark_count_day"])\n')
    found = {why for pattern, why in CDISC_FORBIDDEN.items() if re.search(pattern, old)}
    assert len(found) == 3
    assert UNUSED_BY_TABLE in FORBIDDEN
