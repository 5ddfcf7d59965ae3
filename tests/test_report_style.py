"""Manuscript style (AMA, as JCO and Blood use) and a Results text a statistician would sign."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from ctit.protocol import load_protocol
from ctit.readers.read import read_study
from ctit.reports import format as fmt
from ctit.reports.terminal import results_paragraph
from ctit.results import analyze_study

EXAMPLE = Path(str(resources.files("ctit").joinpath("examples", "atra-ctit")))


@pytest.mark.parametrize("p, cell, text", [
    (5.91e-6, "<.001", "P < .001"), (0.0009, "<.001", "P < .001"), (0.001, ".001", "P = .001"),
    (0.0034, ".003", "P = .003"), (0.012, ".01", "P = .01"), (0.0496, ".0496", "P = .0496"),
    (0.38, ".38", "P = .38"), (0.999, ">.99", "P > .99"),
])
def test_ama_p_values(p: float, cell: str, text: str) -> None:
    assert fmt.fmt_p(p) == cell and fmt.p_text(p) == text


def test_scientific_p_values_are_an_option() -> None:
    with fmt.use_style(fmt.ReportStyle(p_values="scientific")):
        assert fmt.p_text(5.91e-6) == "P = 5.91 \u00d7 10\u207b\u2076"
        assert fmt.fmt_p(0.0123) == "0.012"
    assert fmt.fmt_p(5.91e-6) == "<.001"
    with pytest.raises(ValueError):
        fmt.ReportStyle(p_values="apa")


def test_ranges_and_one_decimal_rule() -> None:
    assert fmt.fmt_range(29.5, 12, 40) == "29.5 (12.0\u201340.0)"
    assert fmt.fmt_range(30, 12, 40) == "30 (12\u201340)"
    assert fmt.fmt_range(18, -5, 40) == "18 (-5 to 40)"      # a dash would read as a minus
    assert fmt.fmt_ci(25.46, 64.7) == "25.5\u201364.7"
    assert fmt.fmt_count(1, "patient") == "1 patient" and fmt.fmt_count(2, "patient") == "2 patients"


@pytest.fixture(scope="module")
def results():  # type: ignore[no-untyped-def]
    return analyze_study(read_study(EXAMPLE), load_protocol(None))


def test_results_text_names_both_times_to_cr_and_the_test(results) -> None:  # type: ignore[no-untyped-def]
    text = results_paragraph(results, typeset=True)
    t = results.time_to_cr
    # The example: 12 of 27 reach CR, so the Kaplan-Meier median is not reached.
    assert t["n"] == 12 and t["km_median"] is None
    assert "Among the 12 patients with CR, the median time to CR was 29.5 days (range: 12\u201340 days)" in text
    assert "Kaplan-Meier median time to CR over all 27 included patients" in text and "not reached" in text
    methods = {m["method"] for m in results.landmarks}
    assert len(methods) == 1
    assert "P values from the Wilcoxon signed-rank test, normal approximation" in text
    assert "P < .001" in text and "10\u207b" not in text
    assert "1 patients" not in text


def test_counts_agree_and_ctcae_terms_keep_their_spelling(results) -> None:  # type: ignore[no-untyped-def]
    events = results.safety_events
    saved = list(events)
    events[:] = [{"term": "Death NOS", "source": "reported", "n_any": 1, "pct_any": 3.7,
                  "by_grade": {"5": 1}}]
    try:
        text = results_paragraph(results, typeset=True)
    finally:
        events[:] = saved
    assert "1 patient (3.7%) had Death NOS (grade 5: 1)" in text


def test_forest_plot_leaves_out_subgroups_below_the_minimum(results) -> None:  # type: ignore[no-untyped-def]
    from ctit.reports import figures

    def labels(style: fmt.ReportStyle) -> list[str]:
        with fmt.use_style(style):
            ax = figures.fig_forest(results).axes[0]
        return [t.get_text().strip() for t in ax.get_yticklabels()]

    small = {sg["level"] for sg in results.subgroups if sg["n"] < 5}
    assert small   # the example has levels of 1-4 patients (e.g. one biliary tumor)
    default = labels(fmt.ReportStyle())
    assert not small & set(default)
    assert small <= set(labels(fmt.ReportStyle(min_subgroup_n=1)))
    caption = next(c for k, _, _, c in figures.FIGURES if k == "forest")(results)
    assert "fewer than 5 patients are not shown" in caption


def test_cli_p_value_style_option(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ctit.cli import app

    runner = CliRunner()
    try:
        r = runner.invoke(app, ["analyze", str(EXAMPLE), "--out", str(tmp_path), "-q", "-f", "html",
                                "--p-values", "scientific"])
        assert r.exit_code == 0, r.output
        assert "10\u207b" in (tmp_path / "report.html").read_text(encoding="utf-8")
        r = runner.invoke(app, ["report", str(tmp_path), "-q", "-f", "html"])
        assert r.exit_code == 0, r.output
        html = (tmp_path / "report.html").read_text(encoding="utf-8")
        assert "P &lt; .001" in html or "P < .001" in html
        r = runner.invoke(app, ["report", str(tmp_path), "-q", "--p-values", "apa"])
        assert r.exit_code == 2 and "p-value style" in r.output
    finally:
        fmt.set_style(fmt.ReportStyle())
