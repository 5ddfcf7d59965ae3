"""The terminal summary: the headline results, phrased like the abstract's Results."""

from __future__ import annotations

from typing import Any

from rich.markup import escape

from ctit.reports.format import NE, fmt_ci, fmt_num, fmt_pct, p_text
from ctit.reports.format import fmt_count as _fmt_count
from ctit.reports.suppression import COMPLEMENT, is_hidden
from ctit.results import LIVER_TERM, StudyResults
from ctit.stats.wilcoxon import CORRECTED_METHOD, EXACT_METHOD, NORMAL_METHOD

# The landmark test as the Results name it, by the method the statistics recorded.
TEST_NAMES = {EXACT_METHOD: "exact Wilcoxon signed-rank test",
              NORMAL_METHOD: "Wilcoxon signed-rank test, normal approximation",
              CORRECTED_METHOD: "Wilcoxon signed-rank test, normal approximation with continuity correction"}


def fmt_signed(x: Any) -> str:
    if x is None:
        return NE
    return ("+ " if x >= 0 else "- ") + fmt_num(abs(x))


def fmt_count(n: Any, noun: str, plural: str | None = None) -> str:
    """'1 patient', '<5 patients', 'a suppressed number of patients' (small-cell suppression)."""
    if n == COMPLEMENT:
        return f"a suppressed number of {plural or noun + 's'}"
    if is_hidden(n):
        return f"{n} {plural or noun + 's'}"
    return _fmt_count(n, noun, plural)


def _rate(p: dict[str, Any]) -> str:
    if is_hidden(p["n"]):
        return "percentage suppressed"
    return NE if p["pct"] is None else f"{fmt_pct(p['pct'])}%"


def results_paragraph(r: StudyResults, *, typeset: bool = False) -> str:
    """One paragraph of Results in the abstract's style, written from the numbers.

    Plain ASCII for the terminal by default; `typeset=True` (the reports) writes the units and
    p-values with typographic symbols and adds the exact CIs of the CR rate and the ORR.
    """
    unit, dash = ("\u00d710\u2079/L", "\u2013") if typeset else ("x10^9/L", "-")
    level = f"{100 * r.protocol.ci_level:g}% CI"

    def ci(p: dict[str, Any]) -> str:
        return f"; {level} {fmt_ci(p['ci95_low'], p['ci95_high'])}" if typeset and p["pct"] is not None else ""

    n = r.cohort["included"]
    b = r.baseline_platelets
    parts = [f"A total of {n} of {r.cohort['screened']} screened patients with refractory CTIT were included."]
    if b["n"]:
        parts.append(f"The baseline median platelet count was {fmt_num(b['median'])} {unit} "
                     f"(range: {fmt_num(b['min'])}{dash}{fmt_num(b['max'])}).")
    methods = [TEST_NAMES.get(m.get("method"), m.get("method")) for m in r.landmarks]
    one_test = len(set(methods)) == 1
    marks = [f"{fmt_signed(m['median_change'])} {unit} (Day {m['day']} vs. baseline, n = {m['n_pairs']}, "
             f"{p_text(m['p_value'], ascii=not typeset)}" + ("" if one_test or not test else f", {test}") + ")"
             for m, test in zip(r.landmarks, methods)]
    if marks:
        named = f" (P values from the {methods[0]})" if one_test and methods[0] else ""
        parts.append("The median platelet changes were " + ", ".join(marks) + named + ".")
    resp = r.response
    cr, orr = resp["cr"], resp["orr"]
    t = r.time_to_cr
    parts.append(f"CR was achieved in {fmt_count(cr['n'], 'patient')} ({_rate(cr)}{ci(cr)}).")
    if t["n"]:
        parts.append(f"Among the {fmt_count(t['n'], 'patient')} with CR, the median time to CR was "
                     f"{fmt_num(t['median'])} days (range: {fmt_num(t['min'])}{dash}{fmt_num(t['max'])} days).")
    km = f"The Kaplan-Meier median time to CR over all {n} included patients (others censored) was "
    if t["km_median"] is None:
        low = t["km_ci95_low"]
        km += "not reached" + ("" if low is None else f" (lower bound of the {level}, {fmt_num(low)} days)")
    else:
        km_ci = fmt_ci(t["km_ci95_low"], t["km_ci95_high"]).replace("\u2013", dash)
        km += f"{fmt_num(t['km_median'])} days ({level}, {km_ci})"
    parts.append(km + ".")
    parts.append(f"The ORR was {_rate(orr)} ({orr['n']}/{resp['n']} patients{ci(orr)}).")
    safety = []
    for e in r.safety_events:
        grades = ", ".join(f"grade {g}: {k}" for g, k in e["by_grade"].items() if k)
        # CTCAE terms keep their CTCAE spelling ("Death NOS"); the liver term is ctit's own.
        name = "elevated liver enzymes (ALT/AST)" if e["term"] == LIVER_TERM else e["term"]
        pct = "" if e["pct_any"] is None else f" ({e['pct_any']:.1f}%)"
        safety.append(f"{fmt_count(e['n_any'], 'patient')}{pct} had {name} ({grades})")
    if safety:
        parts.append("During treatment, " + "; ".join(safety) + ".")
    return " ".join(parts)


def render_summary(r: StudyResults, console: Any) -> None:
    from rich.table import Table

    console.print(f"[bold]ctit {r.version}[/bold] protocol {escape(r.protocol.name)}")
    console.print(results_paragraph(r), highlight=False)
    table = Table(title="Response", show_edge=False)
    for col in ("category", "n", "%", "95% CI (exact)"):
        table.add_column(col)
    keys = [str(c["code"]).lower() for c in r.categories] + ["orr"]
    for key in keys:
        p = r.response[key]
        ci = "" if p["ci95_low"] is None else f"{p['ci95_low']:.1f} - {p['ci95_high']:.1f}"
        pct = "-" if is_hidden(p["n"]) else "" if p["pct"] is None else f"{p['pct']:.1f}"
        table.add_row(key.upper(), str(p["n"]), pct, ci)
    console.print(table)
    excluded = [f"{e['reason']} {e['n']}" for e in r.cohort["excluded"] if e["n"]]
    if excluded:
        console.print(escape("Excluded: " + ", ".join(excluded)), highlight=False)
    suppression = getattr(r, "suppression", None)
    if suppression:
        console.print(escape(f"Small-cell suppression (min cell count {suppression['min_cell_count']}, "
                             f"{suppression['cells_suppressed']} cell(s)): {suppression['statement']} "
                             "OUT/data holds per-patient data for `ctit report`: it stays at the site."),
                      highlight=False)
    elif r.warnings:
        console.print(f"[yellow]{len(r.warnings)} warning(s)[/yellow]: see results.json")
