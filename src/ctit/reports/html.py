"""report.html: one self-contained file rendered from the results object."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from ctit.reports.terminal import fmt_num, fmt_p, results_paragraph
from ctit.results import StudyResults

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;max-width:60rem;margin:2rem auto;
padding:0 1rem;color:#1b1b1b;line-height:1.45}
h1{font-size:1.6rem}h2{font-size:1.2rem;border-bottom:1px solid #ccc;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border-bottom:1px solid #ddd;padding:.25rem .6rem;
text-align:left;font-variant-numeric:tabular-nums}th{background:#f4f4f4}
figure{margin:1rem 0}figcaption{font-size:.9rem;color:#444}.muted{color:#666;font-size:.9rem}
@media print{body{max-width:none;margin:0}h2{break-after:avoid}table,figure{break-inside:avoid}}
"""


def _table(header: list[str], rows: list[list[object]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape('' if c is None else str(c))}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _ci(p: dict) -> str:
    if p["ci95_low"] is None:
        return "not estimable"
    return f"{p['ci95_low']:.1f} - {p['ci95_high']:.1f}"


def trajectory_png(results: StudyResults) -> bytes | None:
    """Platelet counts by study day for included patients, with the protocol's grade lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = results.protocol
    labs = results.derivations.graded_labs
    included = set(results.patients.loc[results.patients.included.astype(bool), "patient_id"])
    plt_rows = labs[(labs.test == "PLT") & labs.patient_id.isin(included)
                    & (labs.day >= -p.nadir_lookback_days) & (labs.day <= p.followup_end_day)]
    if plt_rows.empty:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4), dpi=150)
    for _, rows in plt_rows.sort_values("day").groupby("patient_id"):
        ax.plot(rows.day.astype(float), rows.value.astype(float), color="#4a78b5", alpha=.35, lw=1)
    median = plt_rows.groupby("day").value.median()
    ax.plot(median.index.astype(float), median.values.astype(float), color="#1b1b1b", lw=2, label="median")
    for level in (25, 50, 75, 100):
        ax.axhline(level, color="#b54a4a", lw=.6, ls="--")
    ax.axvline(0, color="#888", lw=.8)
    ax.set_xlabel("Study day (day 0 = first ATRA dose)")
    ax.set_ylabel("Platelets (x10^9/L)")
    ax.legend(loc="upper left", frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def render_html(results: StudyResults) -> str:
    r = results
    parts = [f"<h1>ATRA for refractory CTIT: study report</h1>",
             f"<p class='muted'>ctit {html.escape(r.version)}, protocol {html.escape(r.protocol.name)}</p>",
             "<h2>Results</h2>", f"<p>{html.escape(results_paragraph(r))}</p>"]
    parts.append("<h2>Cohort</h2>")
    rows = [["Screened", r.cohort["screened"]], ["Included", r.cohort["included"]]]
    rows += [[f"Excluded: {e['reason']}", e["n"]] for e in r.cohort["excluded"]]
    parts.append(_table(["", "n"], rows))
    parts.append("<h2>Response</h2>")
    parts.append(_table(["Category", "n", "%", "95% CI (Clopper-Pearson)"], [
        [k.upper(), r.response[k]["n"], fmt_num(r.response[k]["pct"]), _ci(r.response[k])]
        for k in ("cr", "pr", "nr", "ne", "orr")]))
    t = r.time_to_cr
    parts.append(_table(["Time to CR", "value"], [
        ["n", t["n"]], ["median (min - max), days", f"{fmt_num(t['median'])} ({fmt_num(t['min'])} - {fmt_num(t['max'])})"],
        ["Kaplan-Meier median (95% CI, log-log)",
         f"{fmt_num(t['km_median'])} ({fmt_num(t['km_ci95_low'])} - {fmt_num(t['km_ci95_high'])})"]]))
    parts.append("<h2>Platelet changes from baseline</h2>")
    parts.append(_table(["Day", "pairs", "median change (min - max)", "test", "p"], [
        [m["day"], m["n_pairs"], f"{fmt_num(m['median_change'])} ({fmt_num(m['min_change'])} - {fmt_num(m['max_change'])})",
         m["method"], fmt_p(m["p_value"])] for m in r.landmarks]))
    png = trajectory_png(r)
    if png:
        data = base64.b64encode(png).decode()
        parts.append(f"<figure><img alt='Platelet trajectories' style='max-width:100%' src='data:image/png;base64,{data}'>"
                     "<figcaption>Figure 1. Platelet counts of included patients by study day; black: median; "
                     "dashed: 25, 50, 75 and 100 x10^9/L.</figcaption></figure>")
    else:
        parts.append("<p>Platelet trajectories: not estimable (no counts).</p>")
    parts.append("<h2>Safety</h2>")
    parts.append(_table(["Term", "source", "n (%)"] + [f"grade {g}" for g in ("1", "2", "3", "4", "5")], [
        [e["term"], e["source"], f"{e['n_any']} ({e['pct_any']:.1f}%)"] + [e["by_grade"].get(g, "") for g in ("1", "2", "3", "4", "5")]
        for e in r.safety_events]) if r.safety_events else "<p>No treatment-emergent events.</p>")
    parts.append("<h2>Effective protocol</h2>")
    parts.append(_table(["parameter", "value"], [[k, v] for k, v in r.protocol.as_dict().items()]))
    if r.warnings:
        parts.append("<h2>Warnings</h2><ul>" + "".join(f"<li>{html.escape(w)}</li>" for w in r.warnings) + "</ul>")
    body = "\n".join(parts)
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>ctit report</title>"
            f"<style>{CSS}</style></head><body>{body}</body></html>\n")


def write_html(results: StudyResults, out: Path) -> Path:
    path = out / "report.html"
    path.write_text(render_html(results), encoding="utf-8")
    return path
