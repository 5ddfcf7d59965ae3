"""Report content, built once: every table (header, rows, footnotes) and paragraph that the
HTML, DOCX and XLSX renderers format.

Numbers come from the `StudyResults` object. Every per-patient value (prior anticancer
drugs, baseline bleeding, dose, best change, ...) is the engine's, from `results.patients`;
the only values computed here are descriptive counts and medians of those over the included
patients for Table 1 (how many are male, had a prior drug, ...). Every statistic (rates, CIs,
tests, medians of the outcomes) is read from the results, never recomputed, and no window or
rule is re-derived: protocol values appear only as read from `results.protocol`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ctit import knowledge
from ctit.reports.format import (  # noqa: F401
    DASH, NE, decimals, fmt_ci, fmt_fixed, fmt_interval, fmt_n_pct, fmt_num, fmt_p, fmt_pct, fmt_range,
)
from ctit.reports.suppression import is_hidden, min_cell_count, protect
from ctit.results import LIVER_TERM, StudyResults
from ctit.stats import summarize

# A percentage or CI computed from a suppressed count: not shown.
WITHHELD = "\u2014"

GRADES = ("1", "2", "3", "4", "5")

EXCLUSION_LABELS: dict[str, str] = {
    "no_study_drug": "No study-drug (ATRA) exposure",
    "no_prior_tpo_ra": "No qualifying prior TPO-RA course",
    "no_baseline_platelets": "No baseline platelet count",
    # The reason keeps its contract name; the grade is the protocol's refractory_min_grade.
    "baseline_not_grade_2_plus": "Baseline platelet count not grade \u2265 {grade}",
    "no_post_baseline_platelets": "No platelet count after day 0",
}

def exclusion_label(results: StudyResults, reason: str) -> str:
    """An exclusion reason in words, with the protocol's values."""
    return EXCLUSION_LABELS.get(reason, reason).format(grade=results.protocol.refractory_min_grade)


def response_rows(results: StudyResults) -> list[tuple[str, str]]:
    """(results.response key, label) per row of the response table: the engine's categories
    in order, then the ORR with the categories it adds up."""
    cats = results.categories
    responders = " + ".join(str(c["code"]) for c in cats if c["counts_as_response"])
    return ([(str(c["code"]).lower(), f"{c['label']} ({c['code']})") for c in cats]
            + [("orr", f"Overall response ({responders})")])

ABBREVIATIONS = ("ALT, alanine aminotransferase; AST, aspartate aminotransferase; ATRA, all-trans retinoic "
                 "acid; BSA, body surface area; CI, confidence interval; CR, complete response; CTCAE, Common "
                 "Terminology Criteria for Adverse Events; IQR, interquartile range; KM, Kaplan-Meier; NE, not "
                 "evaluable; NR, no response; ORR, overall response rate; PR, partial response; TPO-RA, "
                 "thrombopoietin receptor agonist; WHO, World Health Organization.")


def _pct_of(k: Any, n: Any) -> float | None:
    return 100.0 * k / n if isinstance(k, int) and isinstance(n, int) and n else None


def _share_pct(count: Any, pct: Any) -> str:
    """A percentage cell: withheld when its count is suppressed."""
    return WITHHELD if is_hidden(count) else fmt_pct(pct)


def _share_ci(count: Any, low: Any, high: Any) -> str:
    return WITHHELD if is_hidden(count) else fmt_ci(low, high)


def _hide_counts(counts: dict[Any, int], n: int, minimum: int | None, whole: bool) -> dict[Any, Any]:
    """Table 1's descriptive counts at the report's minimum cell count (the rule of
    ctit.reports.suppression): `whole`, the counts add up to n; otherwise each count and its
    complement n - k are read off together."""
    if minimum is None:
        return dict(counts)
    cells: dict[Any, Any] = {("k", key): v for key, v in counts.items()}
    cells["N"] = n
    if whole:
        sums = [["N", *[("k", key) for key in counts]]]
    else:
        cells.update({("x", key): n - v for key, v in counts.items()})
        sums = [["N", ("k", key), ("x", key)] for key in counts]
    hidden = protect(cells, sums, minimum, fixed=["N"])
    return {key: hidden.get(("k", key), v) for key, v in counts.items()}


def _n_pct(k: Any, n: int) -> str:
    return str(k) if is_hidden(k) else fmt_n_pct(k, _pct_of(k, n))


# ---------------------------------------------------------------- table model

@dataclass
class Row:
    """One table row: formatted cells; `level` 1 indents the first cell under a group row."""

    cells: list[str]
    level: int = 0
    group: bool = False   # a heading row that spans the table (e.g. "Sex, n (%)")


@dataclass
class ReportTable:
    key: str
    title: str
    header: list[str]
    rows: list[Row]
    footnotes: list[str] = field(default_factory=list)
    align_numbers: bool = True   # right-align numeric cells (renderers that can)

    def plain_rows(self) -> list[list[str]]:
        """Rows as lists, group rows padded: for spreadsheets and tests."""
        return [r.cells + [""] * (len(self.header) - len(r.cells)) for r in self.rows]


def _with_values(k: int, n: int, minimum: int | None) -> str:
    """' [n = k]' when fewer than all patients have a value (k suppressed as any count)."""
    return f" [n = {_hide_counts({0: k}, n, minimum, whole=False)[0]}]" if k and k < n else ""


def _median_range_row(label: str, values: list[Any], unit: str = "", minimum: int | None = None) -> Row:
    s = summarize([v for v in values if v is not None])
    text = NE if s.n == 0 else fmt_range(s.median, s.min, s.max)
    return Row([f"{label}{unit}, median (range)", text + _with_values(s.n, len(values), minimum)])


def fmt_median_iqr(median: Any, q1: Any, q3: Any) -> str:
    """'median (q1–q3)' on one line, one decimal rule for the three."""
    return fmt_range(median, q1, q3)


def _median_iqr_row(label: str, values: list[Any], unit: str = "", minimum: int | None = None) -> Row:
    """Table 1 style: a continuous characteristic as median (IQR) on one line."""
    s = summarize([v for v in values if not _missing(v)])
    text = NE if s.n == 0 else fmt_median_iqr(s.median, s.q1, s.q3)
    return Row([f"{label}{unit}, median (IQR)", text + _with_values(s.n, len(values), minimum)])


def _counts_rows(label: str, levels: pd.Series, n: int, order: list[str] | None = None,
                 minimum: int | None = None) -> list[Row]:
    counts = levels.value_counts()
    keys = order if order is not None else sorted(counts.index, key=lambda k: (-counts[k], str(k)))
    shown = _hide_counts({k: int(counts.get(k, 0)) for k in keys}, n, minimum, whole=True)
    rows = [Row([label], group=True)]
    rows += [Row([str(k), _n_pct(shown[k], n)], level=1) for k in keys]
    return rows


# ---------------------------------------------------------------- cohort

def attrition_table(results: StudyResults) -> ReportTable:
    """Screened, excluded by first failed criterion (protocol order), included."""
    c = results.cohort
    rows = [Row(["Patients screened", str(c["screened"])])]
    rows += [Row([exclusion_label(results, e["reason"]), str(e["n"])], level=1) for e in c["excluded"]]
    rows.append(Row(["Patients included (refractory CTIT)", str(c["included"])]))
    return ReportTable("attrition", "Patient flow", ["", "n"], rows, [
        "Each excluded patient is counted once, at the first eligibility criterion not met "
        "(protocol section 4 order)."] + suppression_notes(results))


def suppression_notes(results: StudyResults) -> list[str]:
    """The footnote of every table under small-cell suppression, else none."""
    m = min_cell_count(results)
    if m is None:
        return []
    return [f"Small-cell suppression: <{m}, a count from 1 to {m - 1}; suppressed, a count of {m} or more "
            f"hidden so that a total cannot give a smaller one back; {WITHHELD}, a percentage or CI computed "
            "from a hidden count."]


def suppression_text(results: StudyResults) -> str:
    """The report's statement of what was suppressed and withheld, or ''."""
    s = getattr(results, "suppression", None)
    if not s:
        return ""
    return (f"Small-cell suppression (minimum cell count {s['min_cell_count']}; {s['cells_suppressed']} "
            f"cell(s) in results.json): {s['statement']}")


# ---------------------------------------------------------------- Table 1

def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and pd.isna(x)) or x is pd.NA


def prior_anticancer_drugs(patients: pd.DataFrame) -> pd.DataFrame:
    """The engine's `prior_anticancer` (dictionary names of the anticancer drugs started
    before day 0, comma-joined) as one row per patient and drug, for counting."""
    rows = [(str(pid), d.strip()) for pid, drugs in zip(patients.patient_id, patients.prior_anticancer)
            if not _missing(drugs) for d in str(drugs).split(", ") if d.strip()]
    return pd.DataFrame(rows, columns=["patient_id", "drug"]).drop_duplicates()


def _bleeding_level(grade: Any) -> str:
    return "No assessment" if _missing(grade) else f"WHO grade {int(grade)}"


def _pct_values(values: list[Any]) -> list[Any]:
    return [None if _missing(v) else 100 * float(v) for v in values]


def drug_class_rows(prior: pd.DataFrame, n: int, minimum: int | None = None) -> list[Row]:
    """Prior drugs grouped by class, most frequent class first: 'Platinum compounds (carboplatin
    8, cisplatin 8)' with the patients who had any drug of the class, n (%)."""
    classes = knowledge.drug_classes()
    prior = prior.assign(drug_class=prior.drug.map(lambda d: classes.get(d) or "other"))
    rows = []
    per_class = prior.groupby("drug_class").patient_id.nunique()
    per_class = per_class.sort_index().sort_values(ascending=False, kind="stable")
    # A patient may have drugs of several classes: each count stands with its complement only.
    shown = _hide_counts({cls: int(k) for cls, k in per_class.items()}, n, minimum, whole=False)
    for cls in per_class.index:
        drugs = prior[prior.drug_class == cls].groupby("drug").patient_id.nunique()
        drugs = drugs.sort_index().sort_values(ascending=False, kind="stable")
        per_drug = _hide_counts({d: int(c) for d, c in drugs.items()}, n, minimum, whole=False)
        listed = ", ".join(f"{d} {per_drug[d]}" for d in drugs.index)
        rows.append(Row([f"{cls[0].upper()}{cls[1:]} ({listed})", _n_pct(shown[cls], n)], level=1))
    return rows


def _natural(level: str) -> tuple[Any, ...]:
    """Sort key: numbers by value ('2' before '10'), then text; 'Not recorded' last."""
    text = str(level)
    head = text.split()[0] if text.split() else text
    return (text == "Not recorded", 0 if head.isdigit() else 1, int(head) if head.isdigit() else 0, text)


def baseline_field_rows(inc: pd.DataFrame, patients: pd.DataFrame, n: int, minimum: int | None = None) -> list[Row]:
    """The optional baseline fields of the patients table (ECOG, stage, line of therapy,
    regimen, last chemotherapy), those given for any included patient, as the table gives them."""
    given = patients.set_index(patients.patient_id.astype(str))
    rows: list[Row] = []

    def column(name: str) -> pd.Series | None:
        if name not in given:
            return None
        values = inc.patient_id.astype(str).map(given[name])
        return None if values.isna().all() else values

    def levels(values: pd.Series) -> pd.Series:
        return values.map(lambda v: "Not recorded" if _missing(v)
                          else fmt_num(v) if isinstance(v, (int, float)) else str(v))

    for name, label in (("ecog", "ECOG performance status"), ("stage", "Stage"),
                        ("line_of_therapy", "Line of therapy")):
        values = column(name)
        if values is not None:
            lv = levels(values)
            rows += _counts_rows(f"{label}, n (%)", lv, n, sorted(lv.unique(), key=_natural), minimum)
    values = column("chemotherapy_regimen")
    if values is not None:
        lv = levels(values)
        counts = lv.value_counts()
        rows += _counts_rows("Chemotherapy regimen, n (%)", lv, n,
                             sorted(counts.index, key=lambda k: (k == "Not recorded", -counts[k], k)), minimum)
    values = column("last_chemotherapy_day")
    if values is not None:
        since = [None if _missing(v) else -float(v) for v in values]
        rows.append(_median_iqr_row("Days from last chemotherapy to day 0", since, minimum=minimum))
    return rows


def table1(results: StudyResults) -> ReportTable:
    """Baseline characteristics and ATRA dose of the included patients. Every per-patient
    value is the engine's (`results.patients`); only the counts and medians are taken here."""
    from ctit.subgroups import tpo_ra_agent, tumor_site

    inc = results.included
    n = len(inc)
    p = results.protocol
    m = min_cell_count(results)
    rows: list[Row] = [_median_iqr_row("Age", inc.age_years.tolist(), ", years", m)]
    sex = inc.sex.map(lambda s: {"M": "Male", "F": "Female"}.get(str(s).upper(), "Not recorded")
                      if s is not None else "Not recorded")
    rows += _counts_rows("Sex, n (%)", sex, n, [k for k in ("Male", "Female", "Not recorded") if (sex == k).any()], m)
    rows += _counts_rows("Tumor site, n (%)", inc.tumor_type.map(tumor_site), n, minimum=m)
    rows += baseline_field_rows(inc, results.study.patients, n, m)

    prior = prior_anticancer_drugs(inc)
    with_prior = _hide_counts({0: int(prior.patient_id.nunique())}, n, m, whole=False)[0]
    rows.append(Row(["Prior anticancer therapy before day 0, n (%)", _n_pct(with_prior, n)]))
    rows += drug_class_rows(prior, n, m)

    rows += _counts_rows("Prior TPO-RA (qualifying course), n (%)", inc.prior_tpo_ra_agents.map(tpo_ra_agent), n,
                         minimum=m)
    rows.append(_median_iqr_row("Prior TPO-RA duration", inc.prior_tpo_ra_days.tolist(), ", days", m))

    b = results.baseline_platelets
    d = decimals((b["median"], b["q1"], b["q3"], b["min"], b["max"]))
    rows.append(Row(["Baseline platelet count, \u00d710\u2079/L, median (IQR)",
                     NE if b["median"] is None else fmt_range(b["median"], b["q1"], b["q3"], d)]))
    rows.append(Row(["Baseline platelet count, \u00d710\u2079/L, range",
                     NE if b["min"] is None else fmt_interval(fmt_fixed(b["min"], d), fmt_fixed(b["max"], d),
                                                             b["min"], b["max"])]))
    grade = inc.nadir_grade.map(lambda g: f"Grade {int(g)}" if g is not None else "Not recorded")
    rows += _counts_rows("Nadir platelet grade (CTCAE v5.0), n (%)", grade, n,
                         sorted(grade.unique(), reverse=True), m)
    bleed = inc.baseline_bleeding_grade.map(_bleeding_level)
    rows += _counts_rows("Bleeding at baseline (worst WHO grade), n (%)", bleed, n,
                         sorted(bleed.unique(), key=lambda s: (s == "No assessment", s)), m)
    rows.append(_median_iqr_row("Body surface area", inc.bsa_m2.tolist(), ", m\u00b2", m))
    rows.append(Row(["ATRA dose"], group=True))
    dose_rows = [
        _median_iqr_row("Planned daily dose", inc.planned_daily_dose_mg.tolist(), ", mg", m),
        _median_iqr_row("Recorded daily dose", inc.recorded_daily_dose_mg.tolist(), ", mg", m),
        _median_iqr_row("Relative dose intensity", _pct_values(inc.relative_dose_intensity.tolist()), ", %", m),
        _median_iqr_row("Treatment days", inc.treatment_days.tolist(), minimum=m),
    ]
    for r in dose_rows:
        r.level = 1
    rows += dose_rows
    return ReportTable("table1", f"Baseline characteristics of the included patients (N = {n})",
                       ["Characteristic", f"Patients (N = {n})"], rows, [
                           f"Baseline: last platelet count on days \u2212{p.baseline_lookback_days} to 0; nadir: "
                           f"lowest count on days \u2212{p.nadir_lookback_days} to 0; day 0 is the first ATRA dose.",
                           "Prior anticancer therapy: anticancer drugs started before day 0. Prior TPO-RA: the "
                           "qualifying course before day 0 (agents joined by + when switched within the course). "
                           "Bleeding at baseline: worst WHO grade assessed on days "
                           f"\u2212{p.baseline_bleeding_lookback_days} to 0 (no assessment: none in that window).",
                           "Body surface area: Mosteller. Planned dose: "
                           f"{fmt_num(p.dose_mg_per_m2)} mg/m\u00b2 \u00d7 BSA rounded to "
                           f"{fmt_num(p.dose_rounding_mg)} mg. Recorded daily dose: total recorded dose over the "
                           "treatment days (interruptions count as no dose). Relative dose intensity: total recorded "
                           f"dose over the planned daily dose \u00d7 {p.planned_treatment_days} planned days. "
                           "Treatment days: last \u2212 first ATRA day + 1 (an open end taken as the planned end). "
                           "[n = k]: patients with a value, when fewer than all. Prior anticancer drugs grouped "
                           "by class (drug dictionary), each with the patients who had it.",
                           "Percentages of included patients. " + ABBREVIATIONS, *suppression_notes(results)])


# ---------------------------------------------------------------- efficacy

def response_table(results: StudyResults) -> ReportTable:
    r = results.response
    level = fmt_num(100 * results.protocol.ci_level)
    rows = [Row([label, str(r[k]["n"]), _share_pct(r[k]["n"], r[k]["pct"]),
                 _share_ci(r[k]["n"], r[k]["ci95_low"], r[k]["ci95_high"])]) for k, label in response_rows(results)]
    end = results.protocol.followup_end_day
    ne = f"NE (not evaluable): an included patient without a platelet count on days 1 to {end}."
    if r["ne"]["n"] == 0:
        ne += (" Eligibility criterion 5 (protocol section 4) excludes every patient without such a count, so "
               "no included patient can be NE; the row is shown for completeness.")
    return ReportTable("response", f"Best response (N = {r['n']})",
                       ["Response", "n", "%", f"{level}% CI"], rows, [
                           f"Exact (Clopper-Pearson) {level}% confidence intervals. Percentages of included patients.",
                           ", ".join(str(c["code"]) for c in results.categories if c["is_rule"])
                           + " and NR as defined in Methods. " + ne, *suppression_notes(results)])


def landmark_table(results: StudyResults) -> ReportTable:
    from ctit.stats.wilcoxon import CORRECTED_METHOD, EXACT_METHOD, NORMAL_METHOD

    TEST_SHORT = {EXACT_METHOD: "exact", NORMAL_METHOD: "normal approximation",
                  CORRECTED_METHOD: "normal approximation, continuity corrected"}
    # One decimal rule for the change column.
    d = decimals(v for m in results.landmarks for v in (m["median_change"], m["min_change"], m["max_change"]))
    rows = [Row([f"Day {m['day']}", str(m["n_pairs"]),
                 fmt_range(m["median_change"], m["min_change"], m["max_change"], d),
                 fmt_p(m["p_value"]), TEST_SHORT.get(m.get("method"), m.get("method") or NE)])
            for m in results.landmarks]
    w = results.protocol.landmark_window_days
    return ReportTable("landmarks", "Platelet count change from baseline",
                       ["Landmark", "n pairs", "Median change, \u00d710\u2079/L (range)", "P",
                        "Wilcoxon test"], rows, [
                           f"Landmark count: closest to the day within \u00b1{w} days. Two-sided Wilcoxon signed-rank "
                           "test of landmark vs baseline; the last column names, for each landmark, the exact test "
                           "or the normal approximation used (Methods).", *suppression_notes(results)])


def time_to_cr_table(results: StudyResults) -> ReportTable:
    t = results.time_to_cr
    level = fmt_num(100 * results.protocol.ci_level)
    km_ci = fmt_ci(t["km_ci95_low"], t["km_ci95_high"])
    rows = [
        Row(["Patients with CR", str(t["n"])]),
        Row(["Time to CR among CR patients, days, median (range)", fmt_range(t["median"], t["min"], t["max"])]),
        Row(["Kaplan-Meier median time to CR (all included patients), days",
             "not reached" if t["km_median"] is None and t["n"] else fmt_num(t["km_median"])]),
        Row([f"Kaplan-Meier median, {level}% CI", km_ci]),
    ]
    return ReportTable("time_to_cr", "Time to complete response", ["", "Value"], rows, [
        "Kaplan-Meier: all included patients; event: CR at its onset day; others censored at their last platelet "
        f"count. {level}% CI: Brookmeyer-Crowley with the log-log transform. The median among CR patients "
        "describes responders only; the Kaplan-Meier median estimates the time to CR over all included patients "
        "(not reached: fewer than half reached CR). A bound that the curve does not reach is not estimable.",
        *suppression_notes(results)])


def efficacy_tables(results: StudyResults) -> list[ReportTable]:
    return [response_table(results), landmark_table(results), time_to_cr_table(results)]


# ---------------------------------------------------------------- subgroups

def subgroup_table(results: StudyResults) -> ReportTable:
    level = fmt_num(100 * results.protocol.ci_level)
    rows: list[Row] = []
    last = None
    for s in results.subgroups:
        if s["variable_label"] != last:
            rows.append(Row([s["variable_label"]], group=True))
            last = s["variable_label"]
        hidden = s["responders"] if is_hidden(s["responders"]) else s["n"]
        rows.append(Row([s["level"], f"{s['responders']}/{s['n']}", _share_pct(hidden, s["pct"]),
                         _share_ci(hidden, s["ci95_low"], s["ci95_high"])], level=1))
    o = results.response["orr"]
    rows.insert(0, Row(["All included patients", f"{o['n']}/{results.response['n']}", _share_pct(o["n"], o["pct"]),
                        _share_ci(o["n"], o["ci95_low"], o["ci95_high"])]))
    return ReportTable("subgroups", "Overall response rate by subgroup (exploratory)",
                       ["Subgroup", "Responders/n", "ORR, %", f"{level}% CI"], rows, [
                           f"Exploratory, not powered; exact (Clopper-Pearson) {level}% CIs; no between-subgroup test.",
                           "Tumor site grouped from the recorded tumor type; baseline grade: CTCAE v5.0 grade of the "
                           "baseline platelet count.", *suppression_notes(results)])


# ---------------------------------------------------------------- safety

def safety_table(results: StudyResults) -> ReportTable:
    n = results.cohort["included"]
    rows: list[Row] = []
    lab = [e for e in results.safety_events if e["source"] == "lab"] + results.other_lab_events
    reported = [e for e in results.safety_events if e["source"] == "reported"]

    def event_row(e: dict[str, Any]) -> Row:
        cells = [e["term"] if e["term"] != LIVER_TERM else f"{LIVER_TERM} (ALT/AST)",
                 str(e["n_any"]) if is_hidden(e["n_any"]) else fmt_n_pct(e["n_any"], e["pct_any"])]
        for g in GRADES:
            k = e["by_grade"].get(g)
            cells.append("\u2013" if k is None else _n_pct(k, n))
        return Row(cells, level=1)

    rows.append(Row(["Laboratory-derived (CTCAE v5.0)"], group=True))
    rows += [event_row(e) for e in lab] or [Row(["None"], level=1)]
    rows.append(Row(["Reported adverse events"], group=True))
    rows += [event_row(e) for e in reported] or [Row(["None"], level=1)]
    p = results.protocol
    return ReportTable("safety", f"Treatment-emergent adverse events (safety population, N = {n})",
                       ["Event", "Any grade, n (%)"] + [f"Grade {g}" for g in GRADES], rows, [
                           "Patients counted once per event at their highest grade; n (%) of included patients. "
                           f"Window: labs on days 1 to last ATRA day + {p.teae_window_days}; reported events starting "
                           f"on days 0 to the same end. Liver enzymes: ALT/AST graded by CTCAE v5.0 against the "
                           f"baseline (ULN {fmt_num(p.default_enzyme_uln)} U/L when not given).",
                           "Other laboratory terms: highest grade in the window when worse than the baseline grade of the term. "
                           "\u2013: grade not defined for the source.", *suppression_notes(results)])


# ---------------------------------------------------------------- listings and provenance

LISTING_COLUMNS = ["Patient", "Age/sex", "Tumor type", "Prior TPO-RA (days)", "Baseline PLT", "Nadir grade",
                   "Planned dose, mg", "Best response", "Onset day"]


def patient_listing(results: StudyResults) -> ReportTable:
    """Every screened patient: key baseline values, best response and landmark counts."""
    from ctit.subgroups import tpo_ra_agent

    days = results.protocol.landmark_days
    header = LISTING_COLUMNS + [f"PLT d{d}" for d in days] + ["Liver grade", "Status"]

    def v(x: Any) -> str:
        return "" if x is None or (isinstance(x, float) and pd.isna(x)) else fmt_num(x)

    rows = []
    if min_cell_count(results) is not None:
        return ReportTable("listing", "Patient listing (withheld)", header, [], [
            "Withheld under small-cell suppression: the listing shows one row per patient."])
    for _, p in results.patients.iterrows():
        tpo = ("" if _missing(p.prior_tpo_ra_agents)
               else f"{tpo_ra_agent(p.prior_tpo_ra_agents)} ({v(p.prior_tpo_ra_days)})")
        age_sex = f"{v(p.age_years)}/{p.sex or ''}"
        status = "included" if bool(p.included) else "excluded: " + "; ".join(
            exclusion_label(results, r) for r in str(p.exclusion_reasons or "").split(";") if r)
        rows.append(Row([str(p.patient_id), age_sex, str(p.tumor_type or ""), tpo, v(p.baseline_plt),
                         v(p.nadir_grade), v(p.planned_daily_dose_mg), str(p.best_response or ""),
                         v(p.response_onset_day)] + [v(p.get(f"plt_d{d}")) for d in days]
                        + [v(p.liver_max_grade), status]))
    return ReportTable("listing", "Patient listing (all screened patients)", header, rows, [
        "PLT: platelet count, \u00d710\u2079/L; onset day: first day of the sustained response window of the best "
        "response; PLT dN: landmark count."])


def provenance_table(results: StudyResults) -> ReportTable:
    rows = [Row([f["name"], f.get("table", ""), str(f["rows"]),
                 "" if f.get("rows_used") is None else str(f["rows_used"]), f["sha256"]]) for f in results.inputs]
    return ReportTable("inputs", "Input files", ["File", "Table", "Rows", "Rows used", "SHA-256"], rows)


def protocol_table(results: StudyResults) -> ReportTable:
    def show(v: Any) -> str:
        if isinstance(v, list):
            return ", ".join(show(x) for x in v)
        if isinstance(v, dict):
            return "; ".join(f"{k}: {show(x)}" for k, x in v.items() if x is not None)
        if isinstance(v, bool):
            return "yes" if v else "no"
        return f"{v:g}" if isinstance(v, float) else str(v)  # exact, never rounded for display

    rows = [Row([k, show(v)]) for k, v in results.protocol.as_dict().items()]
    return ReportTable("protocol", "Effective protocol parameters", ["Parameter", "Value"], rows,
                       align_numbers=False)


# ---------------------------------------------------------------- paragraphs

def results_text(results: StudyResults) -> str:
    """The Results paragraph, in the abstract's style (see terminal.results_paragraph)."""
    from ctit.reports.terminal import results_paragraph

    return results_paragraph(results, typeset=True)


def _target_text(t: Any, p: Any, indiv: str) -> str:
    """A response target in words, from the protocol's rule grammar."""
    if t.kind in ("any_of", "all_of"):
        return "(" + (" or " if t.kind == "any_of" else " and ").join(_target_text(x, p, indiv) for x in t.parts) + ")"
    v = fmt_num(p.number(t.value)) if t.kind != "count_at_least" or not isinstance(t.value, str) else None
    if t.kind == "count_at_least":
        return (f"counts \u2265 {fmt_num(p.cr_threshold)} \u00d710\u2079/L{indiv}" if v is None
                else f"counts \u2265 {v} \u00d710\u2079/L")
    if t.kind == "times_baseline_at_least":
        return f"counts \u2265 {v} \u00d7 the baseline count"
    if t.kind == "rise_from_baseline_at_least":
        return f"a rise of \u2265 {v} \u00d710\u2079/L from baseline"
    return f"counts at least {v} CTCAE grades better than the nadir grade"


def describe_rule(results: StudyResults, rule: Any) -> str:
    """One response rule in words: target, confirmation, transfusion-free period, bleeding limit
    and onset limit, each as the protocol (or the rule) sets it."""
    p = results.protocol
    indiv = (" (or the patient's pre-therapy count when that is below it)" if p.use_individual_baseline else "")
    days = p.confirmation_days(rule)
    confirm = (f"every count up to the first count at least {days} days later met it"
               if rule.confirmation.kind == "sustained_days"
               else f"a second count at least {days} days later met it")
    bleed = (f", and no WHO bleeding above grade {rule.max_bleeding_who_grade} in that window"
             if rule.max_bleeding_who_grade is not None else "")
    return (f"{rule.category}: {_target_text(rule.target, p, indiv)}, starting on a count day between day 1 and day "
            f"{p.onset_by(rule)}, when {confirm}, with no platelet transfusion from {p.washout(rule)} days before "
            f"onset to that confirming count{bleed}.")


def methods_text(results: StudyResults) -> str:
    """The Methods paragraph, written from the effective protocol: every number is a parameter."""
    p = results.protocol
    level = fmt_num(100 * p.ci_level)
    lm = ", ".join(str(d) for d in p.landmark_days)
    parts = [
        f"Day 0 was the first ATRA dose; records after day {p.followup_end_day} were not used for efficacy.",
        f"Refractory CTIT required a prior TPO-RA course of at least {p.tpo_ra_min_days} days started before day 0 "
        f"and a baseline platelet count (the last count on days \u2212{p.baseline_lookback_days} to 0) of CTCAE "
        f"v{p.ctcae_version} grade \u2265 {p.refractory_min_grade}; the nadir was the lowest count on days \u2212{p.nadir_lookback_days} to 0.",
        f"The planned ATRA dose was {fmt_num(p.dose_mg_per_m2)} mg/m\u00b2 daily (Mosteller body surface area, rounded "
        f"to {fmt_num(p.dose_rounding_mg)} mg) for {p.planned_treatment_days} days.",
        *[describe_rule(results, rule) for rule in p.response_rules],
        "Categories were tried in that order; the first met is the best response. ORR: "
        + " + ".join(str(c["code"]) for c in results.categories if c["counts_as_response"])
        + " over the included patients.",
        f"Rates carry exact (Clopper-Pearson) {level}% CIs. Platelet changes from baseline at days {lm} (the count "
        f"closest to the day within \u00b1{p.landmark_window_days} days) were compared by the two-sided Wilcoxon "
        f"signed-rank test (exact below n = {p.wilcoxon_exact_max_n} without ties or zeros, otherwise normal "
        "approximation with continuity correction).",
        f"Time to CR was estimated by Kaplan-Meier with censoring at the last platelet count; the median's "
        f"{level}% CI is Brookmeyer-Crowley with the log-log transform.",
        f"Safety: ALT/AST graded by CTCAE v{p.ctcae_version} relative to baseline (last value on days "
        f"\u2212{p.enzyme_baseline_lookback_days} to 0; ULN {fmt_num(p.default_enzyme_uln)} U/L when not given) on days 1 "
        f"to the last ATRA day + {p.teae_window_days}, and reported adverse events starting in the same window; "
        "patients were counted once at their highest grade.",
    ]
    m = min_cell_count(results)
    if m is not None:
        parts.append(f"Counts below {m} were suppressed (minimum cell count {m}), with the percentages and "
                     "confidence limits computed from them and the counts a total would give them back from.")
    return " ".join(parts)


def report_tables(results: StudyResults) -> dict[str, ReportTable]:
    """Every table of the report, by key, built once per render."""
    tables = [attrition_table(results), table1(results), *efficacy_tables(results), subgroup_table(results),
              safety_table(results), patient_listing(results), provenance_table(results), protocol_table(results)]
    return {t.key: t for t in tables}
