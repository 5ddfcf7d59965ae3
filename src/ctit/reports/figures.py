"""The report's figures, drawn with matplotlib (Agg, no pyplot state) from the results object.

One function per figure; each returns a `matplotlib.figure.Figure`. A figure whose data are
missing (no CR, no post-baseline count, an absent optional table, one patient) still renders:
the panel says "not estimable" and why, so no report ever has an empty axis or a crash.
`render_figures` draws all of them once; `write_figures` saves PNG (300 dpi) and SVG.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
import functools
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import pandas as pd

from ctit.reports.format import NE, fmt_ci, fmt_num, fmt_p, p_text

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ctit.results import StudyResults

# Okabe-Ito colours: distinguishable with colour-vision deficiency and in greyscale print.
# One per colour slot of the engine's categories table (`color_key`), so that a protocol's new
# category (IWG "R") gets a colour, a legend entry and an onset marker without code here.
CATEGORY_COLORS = {"response_1": "#0072B2", "response_2": "#E69F00", "response_3": "#009E73",
                   "response_4": "#56B4E9", "response_5": "#D55E00", "response_6": "#F0E442",
                   "no_response": "#7F7F7F", "not_evaluable": "#CC79A7"}
PRIMARY_COLOR = CATEGORY_COLORS["response_1"]
ONSET_MARKERS = ("*", "D", "^", "s", "P", "v")
PLT_LABEL = "Platelet count (\u00d710\u2079/L)"
DPI = 300

RC = {
    "font.family": "DejaVu Sans", "font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8,
    "xtick.labelsize": 7, "ytick.labelsize": 7, "legend.fontsize": 7, "axes.spines.top": False,
    "axes.spines.right": False, "svg.fonttype": "none", "pdf.fonttype": 42,
    # Every label is plain text: a patient id such as "$$" is drawn as written, never as math.
    "text.parse_math": False,
}


# Fonts with Chinese glyphs, in order of preference, installed by `make fonts` (Debian
# fonts-wqy-microhei or fonts-noto-cjk); matplotlib falls back to them glyph by glyph.
CJK_FAMILIES = ("WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Noto Sans CJK SC", "Noto Sans CJK JP",
                "Source Han Sans SC", "Droid Sans Fallback")
CJK_FILES = ("wqy-microhei.ttc", "wqy-zenhei.ttc", "NotoSansCJK-Regular.ttc", "NotoSansCJKsc-Regular.otf",
             "SourceHanSansSC-Regular.otf", "DroidSansFallbackFull.ttf")


class _SingleWeightCJK:
    """Drops matplotlib's note that the CJK fallback has no bold face: it has one weight, and
    regular CJK glyphs in a bold label are what is wanted."""

    def filter(self, record: Any) -> bool:
        return not (str(record.msg).startswith("findfont: Failed to find font weight")
                    and any(f in record.getMessage() for f in CJK_FAMILIES))


@cache
def font_families() -> tuple[str, ...]:
    """DejaVu Sans, then the first installed CJK family: only installed families are named, so
    matplotlib never warns about a missing one. A font installed after matplotlib built its
    font cache is found by its file and added."""
    import logging

    from matplotlib import font_manager

    logging.getLogger("matplotlib.font_manager").addFilter(_SingleWeightCJK())
    known = {f.name for f in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in known:
            return ("DejaVu Sans", family)
    for root in ("/usr/share/fonts", "/usr/local/share/fonts"):
        for name in CJK_FILES:
            for path in sorted(Path(root).rglob(name)) if Path(root).is_dir() else []:
                font_manager.fontManager.addfont(str(path))
                return ("DejaVu Sans", font_manager.FontProperties(fname=str(path)).get_name())
    return ("DejaVu Sans",)


@dataclass
class RenderedFigure:
    key: str
    number: int
    title: str
    caption: str
    png: bytes
    svg: str
    estimable: bool


def _level(results: StudyResults) -> str:
    """The confidence level in percent (protocol `ci_level`)."""
    return fmt_num(100 * results.protocol.ci_level)


def category_colors(results: StudyResults) -> dict[str, str]:
    """Colour of each best-response code, from the engine's categories table."""
    return {str(c["code"]): CATEGORY_COLORS.get(str(c["color_key"]), "#999999") for c in results.categories}


def category_order(results: StudyResults) -> tuple[str, ...]:
    return tuple(str(c["code"]) for c in sorted(results.categories, key=lambda c: int(c["order"])))


def _color(results: StudyResults, resp: Any) -> str:
    return category_colors(results).get(str(resp), CATEGORY_COLORS["not_evaluable"])


def not_estimable(ax: Axes, why: str) -> None:
    """Replace a panel by an explicit 'not estimable' statement."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, f"Not estimable\n{why}", ha="center", va="center", fontsize=9, color="#444",
            transform=ax.transAxes, wrap=True)


def _new(width: float, height: float, ncols: int = 1, **kw: Any) -> tuple[Figure, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(1, ncols, **kw)
    return fig, axes


def _response_legend(results: StudyResults, ax: Axes, present: list[str], **kw: Any) -> None:
    from matplotlib.lines import Line2D

    colors = category_colors(results)
    handles = [Line2D([], [], color=colors[c], lw=2, label=c) for c in category_order(results) if c in present]
    if handles:
        ax.legend(handles=handles, frameon=False, title="Best response", title_fontsize=7, **kw)


def _abs_platelet_bounds(results: StudyResults) -> list[float]:
    """The absolute thresholds (x10^9/L) of the CTCAE criteria table's platelet rules."""
    from ctit.engine.grading import load_criteria

    terms = load_criteria(results.protocol.ctcae_version).for_test("PLT")
    return sorted({float(b.factor) for term in terms for rule in term.lab_rules
                   for b in (rule.lower, rule.upper) if b is not None and b.reference == "abs"})


def grade_lines(results: StudyResults) -> tuple[float, ...]:
    """The platelet grade boundaries (x10^9/L) drawn as reference lines: the absolute
    thresholds of the CTCAE criteria table and the protocol's default LLN (grade 1 below it)."""
    return tuple(sorted({*_abs_platelet_bounds(results), float(results.protocol.default_platelet_lln)}))


def _grade_lines_text(results: StudyResults) -> str:
    levels = [fmt_num(x) for x in _abs_platelet_bounds(results)]
    listed = (", ".join(levels[:-1]) + " and " + levels[-1]) if len(levels) > 1 else "".join(levels)
    p = results.protocol
    return (f"CTCAE v{p.ctcae_version} grade boundaries at {listed} \u00d710\u2079/L and the default lower "
            f"limit of normal, {fmt_num(p.default_platelet_lln)} \u00d710\u2079/L")


def _platelets(results: StudyResults) -> pd.DataFrame:
    """The platelet counts of included patients that the analysis uses: the rows the engine
    flags `efficacy_window`, so the window is the engine's."""
    labs = results.derivations.graded_labs
    inc = results.included
    rows = labs[labs.efficacy_window.fillna(False).astype(bool) & labs.patient_id.isin(inc.patient_id)]
    return pd.DataFrame({"patient_id": rows.patient_id.astype(str), "day": rows.day.astype(int),
                         "value": rows.value.astype(float)})


# ---------------------------------------------------------------- Figure: patient flow

def fig_flow(results: StudyResults) -> Figure:
    """CONSORT-style flow: screened, excluded by first failed criterion (protocol order), included."""
    from ctit.reports.tables import exclusion_label

    c = results.cohort
    excluded = [e for e in c["excluded"] if e["n"]]
    lines = [f"{exclusion_label(results, e['reason'])}: {e['n']}" for e in excluded] or ["none"]
    fig, ax = _new(6.0, 2.2 + 0.17 * len(lines))
    ax.set_axis_off()
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    box = dict(boxstyle="round,pad=0.5", facecolor="white", edgecolor="#1b1b1b", linewidth=1)
    ax.text(22, 92, f"Screened\nn = {c['screened']}", ha="center", va="top", fontsize=9, bbox=box)
    ax.text(22, 8, f"Included (analysed)\nn = {c['included']}", ha="center", va="bottom", fontsize=9, bbox=box)
    counts = [e["n"] for e in c["excluded"]]
    # Under small-cell suppression the excluded total is still screened - included.
    n_excl = (sum(counts) if all(isinstance(k, int) for k in counts)
              else c["screened"] - c["included"] if all(isinstance(c[k], int) for k in ("screened", "included"))
              else "suppressed")
    ax.text(46, 50, f"Excluded, n = {n_excl}\n" + "\n".join(f"  {t}" for t in lines), ha="left", va="center",
            fontsize=8, bbox=box, linespacing=1.4)
    arrow = dict(arrowstyle="-|>", color="#1b1b1b", lw=1, shrinkA=0, shrinkB=0)
    ax.annotate("", xy=(22, 24), xytext=(22, 76), arrowprops=arrow)
    ax.annotate("", xy=(44.5, 50), xytext=(22, 50), arrowprops=arrow)
    return fig


# ---------------------------------------------------------------- Figure: trajectories

def weekly_profile(visits: pd.DataFrame, centres: list[int]) -> pd.DataFrame:
    """Per weekly visit centre: the median and IQR across patients (at least 3) of the counts
    the engine picked for that visit by the landmark rule (`derivations.visits`). Descriptive,
    for drawing only."""
    out = []
    for c in centres:
        near = visits[visits.visit_day.astype(int) == c]
        if len(near) >= 3:
            q1, med, q3 = np.quantile(near.plt.astype(float).to_numpy(), [0.25, 0.5, 0.75])
            out.append({"day": c, "n": len(near), "median": med, "q1": q1, "q3": q3})
    return pd.DataFrame(out, columns=["day", "n", "median", "q1", "q3"])


def fig_trajectories(results: StudyResults) -> Figure:
    """Platelet courses of included patients (faint, coloured by best response), weekly
    median and IQR, and the CTCAE grade boundaries."""
    p = results.protocol
    fig, ax = _new(6.5, 3.6)
    rows = _platelets(results)
    if rows.empty:
        not_estimable(ax, "no platelet counts for included patients")
        return fig
    resp = results.included.set_index(results.included.patient_id.astype(str)).best_response
    for pid, r in rows.sort_values("day").groupby("patient_id"):
        ax.plot(r.day, r.value, color=_color(results, resp.get(pid)), alpha=.35, lw=.8, marker="o", ms=1.5)
    first_day = int(rows.day.min())
    centres = list(range(-7 * (-first_day // 7) if first_day < 0 else 0, p.followup_end_day + 1, 7))
    visits = results.derivations.visits
    prof = weekly_profile(visits[visits.patient_id.isin(results.included.patient_id)], centres)
    if not prof.empty:
        ax.fill_between(prof.day, prof.q1, prof.q3, color="black", alpha=.12, lw=0, label="IQR")
        ax.plot(prof.day, prof["median"], color="black", lw=2, marker="o", ms=3, label="Median")
    else:
        ax.text(.02, .95, "Median and IQR not estimable (fewer than 3 patients per visit)",
                transform=ax.transAxes, fontsize=7, va="top")
    for level in grade_lines(results):
        ax.axhline(level, color="#B2182B", lw=.6, ls="--", zorder=0)
        ax.text(1.005, level, fmt_num(level), transform=ax.get_yaxis_transform(), fontsize=6, color="#B2182B",
                va="center")
    ax.axvline(0, color="#555", lw=.8)
    ax.set_xlim(rows.day.min() - 1, p.followup_end_day + 1)
    ax.set_xticks(centres)
    ax.set_ylim(0, None)
    ax.set_xlabel("Study day (day 0 = first ATRA dose)")
    ax.set_ylabel(PLT_LABEL)
    h, lab = ax.get_legend_handles_labels()
    from matplotlib.lines import Line2D

    present = [c for c in category_order(results) if c in set(resp.dropna().astype(str))]
    h += [Line2D([], [], color=category_colors(results)[c], lw=1.5, alpha=.6) for c in present]
    lab += [f"{c} (individual)" for c in present]
    fig.legend(h, lab, frameon=False, loc="outside upper center", ncols=len(h))
    return fig


# ---------------------------------------------------------------- Figure: paired landmarks

def fig_paired(results: StudyResults) -> Figure:
    """Baseline to each landmark day per patient, with the results' n and P."""
    marks = results.landmarks
    n = max(len(marks), 1)
    fig, axes = _new(2.2 * n + .4, 3.2, ncols=n, sharey=True, squeeze=False)
    axes = axes[0]
    inc = results.included
    if not marks:
        not_estimable(axes[0], "no landmark days in the protocol")
        return fig
    top = 0.0
    for ax, m in zip(axes, marks):
        d = m["day"]
        pairs = inc[inc[f"plt_d{d}"].notna() & inc.baseline_plt.notna()]
        if pairs.empty:
            not_estimable(ax, f"Day {d}: no patient with\nbaseline and landmark counts")
            continue
        for _, r in pairs.iterrows():
            ax.plot([0, 1], [float(r.baseline_plt), float(r[f"plt_d{d}"])], color=_color(results, r.best_response),
                    alpha=.55, lw=.9, marker="o", ms=2.5)
        top = max(top, float(pairs[f"plt_d{d}"].astype(float).max()), float(pairs.baseline_plt.astype(float).max()))
        ax.set_xticks([0, 1], ["Baseline", f"Day {d}"])
        ax.set_xlim(-.25, 1.25)
        ax.set_title(f"Day {d} (n = {m['n_pairs']})\nmedian change {fmt_num(m['median_change'])}; "
                     + p_text(m["p_value"]), fontsize=8)
        for level in grade_lines(results):
            ax.axhline(level, color="#B2182B", lw=.5, ls="--", zorder=0)
    axes[0].set_ylabel(PLT_LABEL)
    if top:
        axes[0].set_ylim(0, top * 1.08)
    _response_legend(results, axes[-1], sorted(set(inc.best_response.dropna().astype(str))), loc="upper left")
    return fig


# ---------------------------------------------------------------- Figure: swimmer

def swimmer_left(results: StudyResults) -> int:
    """First day of the swimmer's axis: the earliest prior TPO-RA course start of the included
    patients, rounded down to a whole week, at least one week before day 0; never earlier than
    minus the follow-up (day \u2212followup_end_day), so a long prior course cannot squeeze the
    treatment period (such a course is drawn from the axis start)."""
    courses = results.derivations.tpo_ra_courses
    ids = set(results.included.patient_id.astype(str))
    starts = courses.loc[courses.patient_id.astype(str).isin(ids), "course_start"].dropna().astype(float)
    earliest = float(starts.min()) if len(starts) else -7.0
    left = -7 * int(np.ceil(-min(earliest, -7.0) / 7))
    return max(left, -7 * int(np.ceil(results.protocol.followup_end_day / 7)))


def fig_swimmer(results: StudyResults) -> Figure:
    """One lane per included patient: prior TPO-RA, ATRA exposure coloured by best response,
    counted platelet transfusions, bleeding that voids a window and each category's onset
    (the engine's flags and categories)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    p = results.protocol
    inc = results.included.copy()
    n = len(inc)
    fig, ax = _new(6.5, min(9.0, 1.2 + 0.24 * max(n, 1)))
    if n == 0:
        not_estimable(ax, "no included patients")
        return fig
    rank = {c: i for i, c in enumerate(category_order(results))}
    inc["_rank"] = inc.best_response.map(lambda r: rank.get(str(r), 9))
    inc["_onset"] = inc.response_onset_day.map(lambda x: 999 if x is None else float(x))
    inc = inc.sort_values(["_rank", "_onset", "patient_id"], ascending=[False, False, False])
    lane = {str(pid): i for i, pid in enumerate(inc.patient_id)}
    ids = set(lane)
    left = swimmer_left(results)
    st = results.study
    # Prior TPO-RA courses (merged as the eligibility rule merges them).
    courses = results.derivations.tpo_ra_courses
    for _, c in courses[courses.patient_id.isin(ids)].iterrows():
        start = max(float(c.course_start), left)
        end = 0.0 if pd.isna(c.course_end) else min(float(c.course_end), 0.0)
        if end >= start:
            ax.barh(lane[str(c.patient_id)], end - start + 1, left=start, height=.45, color="#BBBBBB",
                    edgecolor="none")
    # ATRA exposure: every study-drug record; an open end runs to the engine's last
    # study-drug day of the patient (which took it as the planned end, section 9).
    ex = st.exposures[(st.exposures.role == "study_drug") & st.exposures.patient_id.isin(ids)]
    resp = inc.set_index(inc.patient_id.astype(str)).best_response
    last_day = inc.set_index(inc.patient_id.astype(str)).last_drug_day
    for _, e in ex.iterrows():
        end = float(last_day.get(str(e.patient_id))) if pd.isna(e.end_day) else float(e.end_day)
        ax.barh(lane[str(e.patient_id)], end - float(e.start_day) + 1, left=float(e.start_day), height=.6,
                color=_color(results, resp.get(str(e.patient_id))), alpha=.85, edgecolor="none")
    tr = results.derivations.transfusions
    tr = tr[tr.patient_id.isin(ids) & tr.counted_for_washout.fillna(False).astype(bool) & tr.day.notna()]
    tr = tr[(tr.day.astype(float) >= left) & (tr.day.astype(float) <= p.followup_end_day)]
    # Event markers sit in their own rows of the lane so none hides another: transfusions above
    # the bar (pointing at it), bleeding below it, response onsets on it.
    ax.scatter(tr.day.astype(float), tr.patient_id.astype(str).map(lane) + .36, marker="v", s=16,
               color="#B2182B", zorder=3, linewidths=0)
    bl = results.derivations.bleeding
    bl = bl[bl.patient_id.isin(ids) & bl.voids_response.fillna(False).astype(bool) & bl.day.notna()]
    bl = bl[(bl.day.astype(float) >= left)
            & (bl.day.astype(float) <= p.followup_end_day)]
    ax.scatter(bl.day.astype(float), bl.patient_id.astype(str).map(lane) - .36, marker="X", s=18, color="black",
               zorder=4, linewidths=0)
    from ctit.engine.response import onset_column

    rule_codes = [str(c["code"]) for c in sorted(results.categories, key=lambda c: int(c["order"])) if c["is_rule"]]
    onset_markers = [(onset_column(code), ONSET_MARKERS[i % len(ONSET_MARKERS)], code)
                     for i, code in enumerate(rule_codes)]
    onset_cols = [col for col, _, _ in onset_markers if col in inc]
    spread = {col: (i - (len(onset_cols) - 1) / 2) * .28 for i, col in enumerate(onset_cols)}
    for col, marker, label in onset_markers:
        if col not in inc:
            continue
        on = inc[inc[col].notna()]
        # Windows of two categories starting on one day: their markers side by side in the lane.
        shared = pd.Series(False, index=on.index)
        for other in onset_cols:
            if other != col:
                shared |= (on[other] == on[col]).fillna(False).astype(bool)
        y = on.patient_id.astype(str).map(lane) + shared.astype(float) * spread[col]
        ax.scatter(on[col].astype(float), y, marker=marker,
                   s=40 if marker == "*" else 14, color="white", edgecolors="black", linewidths=.7, zorder=5)
    ax.axvline(0, color="#555", lw=.8)
    ax.set_yticks(range(n), list(lane))
    ax.set_ylim(-.7, n - .3)
    ax.set_xlim(left, p.followup_end_day + 1)
    ax.set_xticks(range(left, p.followup_end_day + 1, 7))
    ax.set_xlabel("Study day (day 0 = first ATRA dose)")
    ax.tick_params(axis="y", labelsize=6)
    handles = [Patch(color="#BBBBBB", label="Prior TPO-RA")]
    colors = category_colors(results)
    handles += [Patch(color=colors[c], label=f"ATRA, best response {c}") for c in category_order(results)
                if (resp.astype(str) == c).any()]
    handles += [Line2D([], [], ls="", marker="v", color="#B2182B", label="Platelet transfusion"),
                Line2D([], [], ls="", marker="X", color="black", label=_voiding_label(results))]
    handles += [Line2D([], [], ls="", marker=m, mfc="white", mec="black", ms=8 if m == "*" else 4,
                       label=f"{code} onset") for _, m, code in onset_markers]
    fig.legend(handles=handles, loc="outside lower center", ncols=4, frameon=False)
    # Say so when a marker kind has nothing to show (absent table or no qualifying record), so
    # an empty lane reads as "none recorded", not as "not drawn".
    absent = [what for what, rows in (("platelet transfusion", tr), (_voiding_label(results).lower(), bl))
              if rows.empty]
    if absent:
        ax.set_title("No " + " and no ".join(absent) + " recorded for included patients", fontsize=7, loc="left")
    return fig


_MARKER_SYMBOLS = {"*": "\u2605", "D": "\u25c6", "^": "\u25b2", "s": "\u25a0", "P": "\u271a", "v": "\u25bc"}


def _onset_symbols(results: StudyResults) -> str:
    codes = [str(c["code"]) for c in sorted(results.categories, key=lambda c: int(c["order"])) if c["is_rule"]]
    return ", ".join(f"{code} {_MARKER_SYMBOLS[ONSET_MARKERS[i % len(ONSET_MARKERS)]]}" for i, code in enumerate(codes))


def _voiding_label(results: StudyResults) -> str:
    """The swimmer's bleeding marker: the assessments the engine flags as voiding a window."""
    limits = sorted({r.max_bleeding_who_grade for r in results.protocol.response_rules
                     if r.max_bleeding_who_grade is not None})
    if len(limits) == 1:
        return f"Bleeding WHO grade \u2265 {limits[0] + 1}"
    return "Bleeding voiding a response window"


# ---------------------------------------------------------------- Figure: cumulative incidence

def at_risk(table: Any, t: float) -> int:
    """Number at risk at time t from the Kaplan-Meier table: n with time >= t."""
    for row in table:
        if row.time >= t:
            return int(row.n_risk)
    return 0


def fig_cumulative_cr(results: StudyResults) -> Figure:
    """Cumulative incidence of CR (1 - Kaplan-Meier) with its pointwise CI and numbers at risk."""
    from matplotlib.figure import Figure

    p = results.protocol
    km = results.kaplan_meier
    fig = Figure(figsize=(5.5, 3.6), layout="constrained")
    ax, risk = fig.subplots(2, 1, height_ratios=[6, 1], sharex=True)
    if km is None or not km.table:
        not_estimable(ax, "no included patient with follow-up")
        risk.set_axis_off()
        return fig
    t = [0.0] + [r.time for r in km.table]
    inc = [0.0] + [1 - r.surv for r in km.table]
    lo = [0.0] + [np.nan if r.upper is None else 1 - r.upper for r in km.table]
    hi = [0.0] + [np.nan if r.lower is None else 1 - r.lower for r in km.table]
    color = category_colors(results).get("CR", PRIMARY_COLOR)
    ax.fill_between(t, lo, hi, step="post", color=color, alpha=.15, lw=0, label=f"{_level(results)}% CI (log-log)")
    ax.step(t, inc, where="post", color=color, lw=1.8, label="1 \u2212 Kaplan-Meier")
    cens = [r for r in km.table if r.n_censor]
    ax.scatter([r.time for r in cens], [1 - r.surv for r in cens], marker="|", s=30, color=color,
               label="Censored")
    tt = results.time_to_cr
    if tt["km_median"] is not None:
        ax.axhline(.5, color="#555", lw=.6, ls=":")
        ax.axvline(tt["km_median"], color="#555", lw=.6, ls=":")
    median = (f"{fmt_num(tt['km_median'])} days" if tt["km_median"] is not None
              else "not reached (incidence stays below 50%)")
    text = f"Median time to CR (KM): {median}\n{_level(results)}% CI: {fmt_ci(tt['km_ci95_low'], tt['km_ci95_high'])}"
    if km.n_events == 0:
        text = f"No CR observed: cumulative incidence 0\nmedian time to CR {NE}"
    ax.text(.02, .97, text, transform=ax.transAxes, va="top", fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("Cumulative incidence of CR")
    ax.legend(frameon=False, loc="lower right")
    ticks = list(range(0, p.followup_end_day + 1, 7))
    ax.set_xlim(0, p.followup_end_day + 1)
    # Journal layout: the axis and its label under the curve, the numbers at risk in their own
    # row below, aligned with the ticks (the shared x keeps them aligned).
    ax.set_xticks(ticks)
    ax.tick_params(axis="x", labelbottom=True)
    ax.set_xlabel("Days since first ATRA dose")
    risk.set_ylim(0, 1)
    risk.set_yticks([])
    risk.tick_params(axis="x", bottom=False, labelbottom=False)
    for s in ("left", "top", "right", "bottom"):
        risk.spines[s].set_visible(False)
    for x in ticks:
        risk.text(x, .35, str(at_risk(km.table, x)), ha="center", va="center", fontsize=7)
    risk.text(0, .95, "No. at risk", transform=risk.get_yaxis_transform(), ha="left", va="top", fontsize=7,
              fontweight="bold")
    return fig


# ---------------------------------------------------------------- Figure: waterfall

def fig_waterfall(results: StudyResults) -> Figure:
    """Best platelet change from baseline per included patient, coloured by best response."""
    fig, ax = _new(6.5, 3.2)
    inc = results.included
    df = inc[inc.best_change.notna()]
    df = pd.DataFrame({"patient_id": df.patient_id.astype(str), "change": df.best_change.astype(float),
                       "best_response": df.best_response.astype(str)})
    df = df.sort_values("change", ascending=False, kind="stable").reset_index(drop=True)
    if df.empty:
        not_estimable(ax, "no included patient with a platelet count after day 0")
        return fig
    x = np.arange(len(df))
    ax.bar(x, df.change, color=[_color(results, r) for r in df.best_response], width=.8)
    ax.axhline(0, color="black", lw=.6)
    ax.set_xticks(x, df.patient_id, rotation=90, fontsize=6)
    # At least 10 slots wide, so that one or two patients give bars, not a filled panel.
    ax.set_xlim(-.8, max(len(df), 10) - .2)
    ax.set_ylabel("Best change from baseline (\u00d710\u2079/L)")
    ax.set_xlabel("Patient")
    missing = int(len(inc) - len(df))
    if missing:
        ax.set_title(f"{missing} included patient(s) without a post-baseline count not shown", fontsize=7,
                     loc="left")
    from matplotlib.patches import Patch

    present = [c for c in category_order(results) if (df.best_response == c).any()]
    ax.legend(handles=[Patch(color=category_colors(results)[c], label=c) for c in present], frameon=False,
              title="Best response", title_fontsize=7, loc="upper right")
    return fig


# ---------------------------------------------------------------- Figure: forest plot

def fig_forest(results: StudyResults) -> Figure:
    """ORR with its exact CI per subgroup level (exploratory), the overall ORR as reference."""

    from ctit.reports import format as fmt

    # Levels too small to read (report style `min_subgroup_n`) are left out; Table 5 lists them.
    # Suppressed levels ("<5") are left out like small ones.
    subs = [sg for sg in results.subgroups if isinstance(sg["n"], int) and sg["n"] >= fmt.STYLE.min_subgroup_n]
    orr = results.response["orr"]
    labels: list[tuple[str, bool]] = [("All included patients", False)]
    points: list[tuple[float | None, float | None, float | None, str]] = [
        (orr["pct"], orr["ci95_low"], orr["ci95_high"], f"{orr['n']}/{results.response['n']}")]
    last = None
    for sg in subs:
        if sg["variable_label"] != last:
            labels.append((sg["variable_label"], True))
            points.append((None, None, None, ""))
            last = sg["variable_label"]
        labels.append((f"  {sg['level']}", False))
        points.append((sg["pct"], sg["ci95_low"], sg["ci95_high"], f"{sg['responders']}/{sg['n']}"))
    fig, ax = _new(6.5, 0.9 + 0.19 * len(labels))
    if orr["pct"] is None:
        not_estimable(ax, "no included patients")
        return fig
    y = np.arange(len(labels))[::-1]
    for yi, (pct, lo, hi, frac), (lab, group) in zip(y, points, labels):
        if pct is not None:
            ax.plot([lo, hi], [yi, yi], color="black", lw=.9)
            ax.plot([pct], [yi], marker="s", color=PRIMARY_COLOR, ms=4 if frac != points[0][3] else 6)
        ax.text(102, yi, frac, va="center", fontsize=7)
    ax.axvline(orr["pct"], color="#555", lw=.7, ls="--")
    ax.set_yticks(y, [lab for lab, _ in labels])
    for tick, (_, group) in zip(ax.get_yticklabels(), labels):
        if group:
            tick.set_fontweight("bold")
    ax.set_xlim(-2, 114)
    ax.set_xticks(range(0, 101, 20))
    ax.set_xlabel(f"Overall response rate, % (exact {_level(results)}% CI)")
    ax.text(102, y[0] + .9, "R/n", fontsize=7, va="bottom")
    ax.set_ylim(-.7, len(labels) - .1)
    ax.tick_params(axis="y", length=0)
    return fig


def _omitted_subgroups(results: StudyResults) -> str:
    from ctit.reports import format as fmt

    k = fmt.STYLE.min_subgroup_n
    left_out = [sg for sg in results.subgroups if not isinstance(sg["n"], int) or sg["n"] < k]
    if not left_out:
        return ""
    return (f"Subgroup levels with fewer than {k} patients are not shown ({len(left_out)} level"
            f"{'s' if len(left_out) != 1 else ''}; see the subgroup table).")


def fig_tornado(results: StudyResults) -> Figure:
    """The ORR under each definition of `results.sensitivity` (ctit.sensitivity.tornado_figure)."""
    from ctit.sensitivity import tornado_figure

    return tornado_figure(pd.DataFrame(results.sensitivity))


# ---------------------------------------------------------------- registry and rendering

FigureFn = Callable[["StudyResults"], "Figure"]
FIGURES: tuple[tuple[str, str, FigureFn, Callable[["StudyResults"], str]], ...] = (
    ("flow", "Patient flow", fig_flow, lambda r: (
        "Each excluded patient is counted once, at the first eligibility criterion not met (protocol section 4 "
        "order).")),
    ("trajectories", "Platelet counts over time", fig_trajectories, lambda r: (
        "Individual platelet courses of the included patients (thin lines, coloured by best response) with the "
        "median (black) and interquartile range (grey band) of each patient's count closest to each weekly visit "
        f"(\u00b1{r.protocol.landmark_window_days} days, the landmark window; at least 3 patients). Dashed lines: "
        f"{_grade_lines_text(r)}.")),
    ("paired", "Platelet count at baseline and landmark days", fig_paired, lambda r: (
        "Each line joins one patient's baseline count to the landmark count (closest within "
        f"\u00b1{r.protocol.landmark_window_days} days). P: two-sided Wilcoxon signed-rank test.")),
    ("forest", "Overall response rate by subgroup (exploratory)", fig_forest, lambda r: (
        f"ORR (square) with its exact Clopper-Pearson {_level(r)}% CI per subgroup; dashed line: ORR of all included "
        "patients; R/n: responders/patients. Exploratory: small subgroups, no between-group test. "
        + _omitted_subgroups(r))),
    ("swimmer", "Treatment course per patient", fig_swimmer, lambda r: (
        "One lane per included patient, sorted by best response and onset: prior TPO-RA course (grey, shown from "
        f"day \u2212{-swimmer_left(r)}), ATRA exposure (coloured by best response), platelet transfusions (\u25bc), "
        f"{_voiding_label(r).lower()} (\u2716) and the onset of each response category's window "
        f"({_onset_symbols(r)}).")),
    ("cumulative_cr", "Cumulative incidence of complete response", fig_cumulative_cr, lambda r: (
        "1 \u2212 Kaplan-Meier estimate of time to CR over all included patients (censoring at the last platelet "
        f"count), with the pointwise log-log {_level(r)}% CI; numbers at risk below the axis.")),
    ("waterfall", "Best platelet change from baseline", fig_waterfall, lambda r: (
        f"Highest platelet count on days 1\u2013{r.protocol.followup_end_day} minus the baseline count, per included "
        "patient, coloured by best response.")),
    ("tornado", "Overall response rate by response definition", fig_tornado, lambda r: (
        "ORR under each library protocol and one-at-a-time variation of the protocol's parameters, as a bar from "
        f"the ORR of the protocol as analysed (vertical line); horizontal lines: exact Clopper-Pearson {_level(r)}% "
        "CIs. Blue: higher, orange: lower than the protocol's ORR.")),
)

def _shown(results: StudyResults, key: str) -> bool:
    """Under small-cell suppression, figures of per-patient values are withheld, and the tornado
    plot when an ORR it would draw is suppressed."""
    from ctit.reports.suppression import PER_PATIENT_FIGURES, min_cell_count

    if min_cell_count(results) is None:
        return True
    if key == "tornado":
        return all(r.get("orr_pct") is not None for r in results.sensitivity or [])
    return key not in PER_PATIENT_FIGURES


# Figures drawn only when their results are there (the rest always are).
OPTIONAL_FIGURES: dict[str, Callable[["StudyResults"], bool]] = {
    "tornado": lambda r: bool(getattr(r, "sensitivity", None)) and _shown(r, "tornado"),
    # ctit.reports.suppression.PER_PATIENT_FIGURES
    **{k: functools.partial(_shown, key=k) for k in ("trajectories", "paired", "waterfall", "swimmer", "cumulative_cr")},
}


# Report order: efficacy figures first, then subgroups, then the per-patient course.
FIGURE_ORDER = ("flow", "trajectories", "paired", "waterfall", "cumulative_cr", "forest", "swimmer", "tornado")
FIGURES = tuple(sorted(FIGURES, key=lambda f: FIGURE_ORDER.index(f[0])))


def _estimable(fig: Figure) -> bool:
    return not any(t.get_text().startswith("Not estimable") for ax in fig.axes for t in ax.texts)


def _render(results: StudyResults, index: int, png: bool, number: int | None = None) -> RenderedFigure:
    import matplotlib

    key, title, fn, caption = FIGURES[index]
    with matplotlib.rc_context({**RC, "font.family": list(font_families()), "svg.hashsalt": f"ctit-{key}"}):
        fig = fn(results)
        svg = io.StringIO()
        fig.savefig(svg, format="svg", metadata={"Date": None})
        # The layout is solved by the first save; freezing it halves the cost of the second.
        fig.set_layout_engine("none")
        buf = io.BytesIO()
        if png:
            # Light compression: several times faster than PIL's default, files ~20% larger.
            fig.savefig(buf, format="png", dpi=DPI, pil_kwargs={"compress_level": 1})
    text = svg.getvalue()
    text = text[text.index("<svg"):]  # drop the XML prolog and DOCTYPE for inline use
    return RenderedFigure(key, number or index + 1, title, caption(results), buf.getvalue(), text, _estimable(fig))


def _warm() -> None:
    """Worker start-up: the plotting stack is imported once, while the parent still analyses."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot  # noqa: F401


def _render_task(task: tuple[bytes, int, bool, int]) -> RenderedFigure:
    import matplotlib.pyplot as plt

    payload, index, png, number = task
    try:
        return _render(pickle.loads(payload), index, png, number)
    finally:
        plt.close("all")


@contextmanager
def figure_pool(workers: int | None = None) -> Iterator[Any]:
    """Worker processes that draw the figures; `None` on one core or without fork.

    Started before the analysis (by `ctit analyze`), they import matplotlib on the other core
    while the analysis runs, then draw while the parent writes the other outputs.
    """
    import multiprocessing
    import os

    workers = min(len(FIGURES), os.cpu_count() or 1) if workers is None else workers
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        yield None
        return
    with multiprocessing.get_context("fork").Pool(workers, initializer=_warm) as pool:
        yield pool


def start_figures(results: StudyResults, *, png: bool = True, pool: Any = None) -> Callable[[], list[RenderedFigure]]:
    """Begin drawing every figure (PNG at 300 dpi and SVG text); the returned function waits
    for them and gives them in report order. Without a pool they are drawn here and now."""
    # Figures are numbered as drawn: one left out (the tornado plot, or those withheld under
    # small-cell suppression) leaves no gap.
    indices = [i for i, f in enumerate(FIGURES) if OPTIONAL_FIGURES.get(f[0], lambda r: True)(results)]
    if pool is None:
        _warm()
        figures = [_render(results, i, png, number) for number, i in enumerate(indices, start=1)]
        return lambda: figures
    payload = pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL)
    job = pool.map_async(_render_task, [(payload, i, png, number) for number, i in enumerate(indices, start=1)],
                         chunksize=1)
    return job.get


def render_figures(results: StudyResults, *, png: bool = True, workers: int | None = None) -> list[RenderedFigure]:
    """Draw every figure, in worker processes on a multi-core machine."""
    with figure_pool(workers) as pool:
        return start_figures(results, png=png, pool=pool)()


def write_figures(figures: list[RenderedFigure], out: Path) -> list[Path]:
    folder = out / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for f in figures:
        name = f"figure{f.number}_{f.key}"
        (folder / f"{name}.png").write_bytes(f.png)
        (folder / f"{name}.svg").write_text(f.svg, encoding="utf-8")
        paths += [folder / f"{name}.png", folder / f"{name}.svg"]
    return paths
