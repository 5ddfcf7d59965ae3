"""Report content helpers: tumor site from free text, the one TPO-RA agent text, and Table 1
built from the engine's per-patient values (no renderer-side derivation)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ctit.protocol import load_protocol
from ctit.readers import read_study
from ctit.reports import tables
from ctit.reports.figures import _abs_platelet_bounds, grade_lines, swimmer_left
from ctit.results import analyze_study
from ctit.subgroups import NOT_RECORDED, SUBGROUP_VARIABLES, tpo_ra_agent, tumor_site

EXAMPLE = Path(__file__).resolve().parents[1] / "src" / "ctit" / "examples" / "atra-ctit"


@pytest.mark.parametrize(("text", "site"), [
    ("breast cancer with lung metastases", "Breast"),
    ("Lung adenocarcinoma, breast metastasis", "Lung"),
    ("small cell lung cancer", "Lung"),
    ("Metastatic colorectal carcinoma", "Colorectal"),   # "colorectal" and "rectal": the earlier
    ("colon cancer", "Colorectal"),
    ("gastric cancer with liver metastases", "Gastric"),
    ("hepatocellular carcinoma", "Liver"),
    ("Oesophageal squamous cell carcinoma", "Esophageal"),
    ("Melanoma", "Melanoma"),
    (None, NOT_RECORDED),
    (float("nan"), NOT_RECORDED),
    ("   ", NOT_RECORDED),
])
def test_tumor_site_takes_the_earliest_keyword(text: object, site: str) -> None:
    assert tumor_site(text) == site


def test_tumor_site_tie_goes_to_the_longer_keyword(monkeypatch: pytest.MonkeyPatch) -> None:
    import ctit.subgroups as sg

    # Both keywords start at the same place: the longer one wins, whatever the table order.
    monkeypatch.setattr(sg, "TUMOR_SITES", (("colo", "Short"), ("colorectal", "Long")))
    assert sg.tumor_site("colorectal cancer") == "Long"
    monkeypatch.setattr(sg, "TUMOR_SITES", (("colorectal", "Long"), ("colo", "Short")))
    assert sg.tumor_site("colorectal cancer") == "Long"


@pytest.mark.parametrize(("agents", "text"), [
    ("romiplostim", "romiplostim"),
    ("eltrombopag, rhTPO", "eltrombopag + rhTPO"),
    (None, NOT_RECORDED), (float("nan"), NOT_RECORDED), (pd.NA, NOT_RECORDED), ("", NOT_RECORDED),
    (" , ", NOT_RECORDED),
])
def test_one_tpo_ra_agent_text(agents: object, text: str) -> None:
    assert tpo_ra_agent(agents) == text


@pytest.fixture(scope="module")
def results():  # type: ignore[no-untyped-def]
    return analyze_study(read_study(EXAMPLE), load_protocol(None))


def _rows(t: tables.ReportTable) -> dict[str, str]:
    return {r.cells[0]: (r.cells[1] if len(r.cells) > 1 else "") for r in t.rows}


def test_table1_uses_the_engines_values(results) -> None:  # type: ignore[no-untyped-def]
    t = tables.table1(results)
    rows = _rows(t)
    inc = results.patients[results.patients.included.astype(bool)]
    n = len(inc)
    # Prior anticancer therapy: patients with the engine's `prior_anticancer`.
    k = int(inc.prior_anticancer.notna().sum())
    assert rows["Prior anticancer therapy before day 0, n (%)"] == tables.fmt_n_pct(k, 100 * k / n)
    # Baseline bleeding: the engine's worst grade in its window, the window in the footnote.
    bleed = inc.baseline_bleeding_grade.map(lambda g: "No assessment" if g is None else f"WHO grade {int(g)}")
    for level, count in bleed.value_counts().items():
        assert rows[level] == tables.fmt_n_pct(int(count), 100 * count / n)
    lookback = results.protocol.baseline_bleeding_lookback_days
    assert any(f"\u2212{lookback} to 0" in f and "WHO" in f for f in t.footnotes)
    # TPO-RA levels are the subgroup levels (one function).
    subgroup_levels = {s["level"] for s in results.subgroups if s["variable"] == "prior_tpo_ra"}
    assert subgroup_levels <= set(rows)
    # Section 10 dose rows, next to the planned dose.
    for label, column, scale in (("Planned daily dose, mg", "planned_daily_dose_mg", 1),
                                 ("Recorded daily dose, mg", "recorded_daily_dose_mg", 1),
                                 ("Relative dose intensity, %", "relative_dose_intensity", 100),
                                 ("Treatment days", "treatment_days", 1)):
        values = inc[column].dropna().astype(float) * scale
        assert rows[f"{label}, median (IQR)"] == tables.fmt_median_iqr(values.median(), values.quantile(.25),
                                                                        values.quantile(.75))


def test_response_footnote_says_why_ne_is_zero(results) -> None:  # type: ignore[no-untyped-def]
    t = tables.response_table(results)
    assert results.response["ne"]["n"] == 0
    assert any("criterion 5" in f and "NE" in f for f in t.footnotes)


def test_figure_reference_lines_come_from_the_criteria_and_protocol(results) -> None:  # type: ignore[no-untyped-def]
    lines = grade_lines(results)
    assert results.protocol.default_platelet_lln in lines
    assert set(_abs_platelet_bounds(results)) <= set(lines) and len(_abs_platelet_bounds(results)) >= 3
    left = swimmer_left(results)
    courses = results.derivations.tpo_ra_courses
    inc = set(results.patients[results.patients.included.astype(bool)].patient_id)
    earliest = courses[courses.patient_id.isin(inc)].course_start.astype(float).min()
    assert left % 7 == 0 and left <= min(earliest, -7) and left > min(earliest, -7) - 7
    assert left >= -results.protocol.followup_end_day - 6


def test_subgroup_variables_use_the_shared_agent_text() -> None:
    column, level_of = {k: (c, f) for k, _, c, f in SUBGROUP_VARIABLES}["prior_tpo_ra"]
    assert column == "prior_tpo_ra_agents"
    assert level_of(None) == NOT_RECORDED
    assert level_of("a, b") == "a + b"
