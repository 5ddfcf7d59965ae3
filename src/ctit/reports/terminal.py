"""The terminal summary: the headline results, phrased like the abstract's Results."""

from __future__ import annotations

from typing import Any

from rich.markup import escape

from ctit.reports.format import NE, fmt_ci, fmt_num, fmt_p, fmt_pct
from ctit.results import LIVER_TERM, StudyResults


def fmt_signed(x: Any) -> str:
    if x is None:
        return NE
    return ("+ " if x >= 0 else "- ") + fmt_num(abs(x))


def _rate(p: dict[str, Any]) -> str:
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
                     f"(range: {fmt_num(b['min'])} {dash} {fmt_num(b['max'])}).")
    marks = [f"{fmt_signed(m['median_change'])} {unit} (Day {m['day']} vs. baseline, n = {m['n_pairs']}, "
             f"P = {fmt_p(m['p_value'], ascii=not typeset)})" for m in r.landmarks]
    if marks:
        parts.append("The median platelet changes were " + ", ".join(marks) + ".")
    resp = r.response
    cr, orr = resp["cr"], resp["orr"]
    t = r.time_to_cr
    text = f"CR was achieved in {cr['n']} patients ({_rate(cr)}{ci(cr)})"
    if t["n"]:
        text += (f", with a median time to CR of {fmt_num(t['median'])} days "
                 f"(range: {fmt_num(t['min'])}{dash}{fmt_num(t['max'])} days)")
    parts.append(text + ".")
    parts.append(f"The ORR was {_rate(orr)} ({orr['n']}/{resp['n']} patients{ci(orr)}).")
    safety = []
    for e in r.safety_events:
        grades = ", ".join(f"grade {g}: {k}" for g, k in e["by_grade"].items() if k)
        name = "elevated liver enzymes" if e["term"] == LIVER_TERM else e["term"].lower()
        safety.append(f"{e['n_any']} patients ({e['pct_any']:.1f}%) had {name} ({grades})")
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
    for key in ("cr", "pr", "nr", "ne", "orr"):
        p = r.response[key]
        ci = "" if p["ci95_low"] is None else f"{p['ci95_low']:.1f} - {p['ci95_high']:.1f}"
        table.add_row(key.upper(), str(p["n"]), "" if p["pct"] is None else f"{p['pct']:.1f}", ci)
    console.print(table)
    excluded = [f"{e['reason']} {e['n']}" for e in r.cohort["excluded"] if e["n"]]
    if excluded:
        console.print(escape("Excluded: " + ", ".join(excluded)), highlight=False)
    if r.warnings:
        console.print(f"[yellow]{len(r.warnings)} warning(s)[/yellow]: see results.json")
