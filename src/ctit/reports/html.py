"""report.html: one self-contained file (inline CSS and SVG, no scripts, no external requests)
rendered from the results object through the shared table content of `reports.tables`.

It prints on A4 and Letter: page size follows the printer's paper (@page margins only),
tables and figures do not split across pages, and the wide listing shrinks to fit.
"""

from __future__ import annotations

import html
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from ctit.reports.tables import (
    ReportTable,
    methods_text,
    report_tables,
    results_text,
    suppression_text,
)

if TYPE_CHECKING:
    from ctit.reports.figures import RenderedFigure
    from ctit.results import StudyResults

CSS = """
:root{--ink:#1b1b1b;--muted:#555;--rule:#bbb;--accent:#0072B2}
*{box-sizing:border-box}
body{font-family:"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;max-width:62rem;margin:2rem auto;
padding:0 1.2rem;color:var(--ink);line-height:1.45;font-size:15px}
h1{font-size:1.55rem;margin-bottom:.2rem}h2{font-size:1.2rem;border-bottom:2px solid var(--accent);
padding-bottom:.15rem;margin-top:2.2rem}h3{font-size:1rem;margin:1.4rem 0 .3rem}
p.lead{color:var(--muted);margin-top:0}
nav ol{columns:2;font-size:.9rem}
table{border-collapse:collapse;margin:.4rem 0 .3rem;font-size:.88rem;font-variant-numeric:tabular-nums}
caption{caption-side:top;text-align:left;font-weight:600;padding:.2rem 0 .35rem}
thead th{border-top:1.5px solid var(--ink);border-bottom:1px solid var(--ink);text-align:left;
padding:.25rem .55rem;vertical-align:bottom}
td{padding:.18rem .55rem;vertical-align:top}tbody tr:last-child td{border-bottom:1.5px solid var(--ink)}
td.num{text-align:right;white-space:nowrap}td.l1{padding-left:1.6rem}tr.group td{font-weight:600;padding-top:.45rem}
.notes{font-size:.78rem;color:var(--muted);margin:.15rem 0 1.2rem;max-width:60rem}.notes p{margin:.1rem 0}
figure{margin:1.2rem 0}figure svg{width:100%;max-width:46rem;height:auto;display:block}
figcaption{font-size:.82rem;color:#333;margin-top:.3rem}
.ne{background:#fff6e0;border-left:3px solid #e69f00;padding:.3rem .6rem;font-size:.85rem}
table.listing{font-size:.72rem}table.listing td,table.listing th{padding:.12rem .3rem}
.hash{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.72rem;word-break:break-all}
#fig-flow svg{max-width:36rem}table.flowtable{font-size:.8rem}
@page{margin:16mm 14mm}
@media print{
 body{max-width:none;margin:0;padding:0;font-size:10pt}nav{display:none}
 h2{break-after:avoid;page-break-after:avoid}h3{break-after:avoid}
 table,figure{break-inside:avoid;page-break-inside:avoid}
 table.listing{break-inside:auto;font-size:7pt}table.listing tr{break-inside:avoid}
 thead{display:table-header-group}
 section.figs figure{break-inside:avoid}
 a{color:inherit;text-decoration:none}
}
"""


def _e(x: object) -> str:
    return html.escape("" if x is None else str(x))


_NUMERIC = re.compile(r"^[\d.\s()/%\u2013\u00d7\u207b\u2070-\u2079\u00b9\u00b2\u00b3+-]+$")


def _is_num(text: str) -> bool:
    """A cell that reads as a number, count, percentage, range or interval: right-aligned."""
    return bool(text) and (bool(_NUMERIC.match(text)) or text.startswith("not estimable")
                           or bool(re.match(r"^[\d.]+ \u2013 not estimable$", text)))


def table_html(t: ReportTable, number: int | None = None, css: str = "") -> str:
    """One ReportTable as an HTML table with caption and footnotes."""
    width = len(t.header)
    title = f"Table {number}. {t.title}" if number else t.title
    head = "".join(f"<th scope='col'>{_e(h)}</th>" for h in t.header)
    body = []
    for row in t.rows:
        if row.group:
            body.append(f"<tr class='group'><td colspan='{width}'>{_e(row.cells[0])}</td></tr>")
            continue
        cells = []
        for i, c in enumerate(row.cells + [""] * (width - len(row.cells))):
            cls = ("l1" if row.level and i == 0 else "") + (" num" if i and t.align_numbers and _is_num(c) else "")
            cells.append(f"<td class='{cls.strip()}'>{_e(c)}</td>" if cls.strip() else f"<td>{_e(c)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    notes = "".join(f"<p>{_e(n)}</p>" for n in t.footnotes)
    cls = f" class='{css}'" if css else ""
    return (f"<table id='tbl-{t.key}'{cls}><caption>{_e(title)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>" + (f"<div class='notes'>{notes}</div>" if notes else ""))


def figure_html(f: RenderedFigure) -> str:
    note = "" if f.estimable else "<p class='ne'>Part of this figure is not estimable: see the panel text.</p>"
    # The RDF metadata block only names vocabularies; inline it is noise.
    svg = re.sub(r"<metadata>.*?</metadata>", "", f.svg, flags=re.S)
    # Each inline SVG gets its own id prefix so that identical clip-path ids cannot collide.
    svg = svg.replace('id="', f'id="{f.key}-').replace('url(#', f'url(#{f.key}-').replace(
        'xlink:href="#', f'xlink:href="#{f.key}-')
    return (f"<figure id='fig-{f.key}'>{svg}<figcaption><b>Figure {f.number}. {_e(f.title)}.</b> "
            f"{_e(f.caption)}</figcaption>{note}</figure>")


def render_html(results: StudyResults, figures: list[RenderedFigure] | None = None,
                generated: datetime | None = None) -> str:
    """The whole report; `figures` are rendered here when not given; `generated`: the time
    stamp (default now)."""
    if figures is None:
        from ctit.reports.figures import render_figures

        figures = render_figures(results, png=False)
    r = results
    t = report_tables(r)
    figs = {f.key: f for f in figures}
    n = iter(range(1, 100))

    def fig(key: str) -> str:
        return figure_html(figs[key]) if key in figs else ""

    generated = (generated or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    withheld = suppression_text(r)
    notice = f"<p class='ne'>{_e(withheld)}</p>" if withheld else ""
    course = (f"<p>Withheld under small-cell suppression: the swimmer plot and the listing show one patient "
              "per lane and row.</p>" if withheld else
              fig("swimmer") + table_html(t["listing"], next(n), css="listing"))
    sections = [
        ("results", "Results", notice + f"<p>{_e(results_text(r))}</p>"),
        ("methods", "Methods", f"<p>{_e(methods_text(r))}</p>"),
        # The flow diagram is Figure 1; its numbers follow as an unnumbered table (for text readers).
        ("cohort", "Study population", fig("flow") + table_html(t["attrition"], css="flowtable")
         + table_html(t["table1"], next(n))),
        ("efficacy", "Efficacy", table_html(t["response"], next(n)) + table_html(t["landmarks"], next(n))
         + fig("trajectories") + fig("paired") + fig("waterfall")
         + table_html(t["time_to_cr"], next(n)) + fig("cumulative_cr")),
        ("subgroups", "Exploratory subgroups", table_html(t["subgroups"], next(n)) + fig("forest")),
        ("safety", "Safety", table_html(t["safety"], next(n))),
        ("course", "Individual courses", course),
    ]
    if r.sensitivity:
        from ctit.reports.sensitivity import TITLE, sensitivity_table, sensitivity_text

        sections.append(("sensitivity", TITLE, f"<p>{_e(sensitivity_text(r))}</p>"
                         + table_html(sensitivity_table(r), next(n)) + fig("tornado")))
    sections.append(("provenance", "Provenance", _provenance(r, t)))
    nav = "<nav><ol>" + "".join(f"<li><a href='#{k}'>{_e(title)}</a></li>" for k, title, _ in sections) + "</ol></nav>"
    body = "".join(f"<section id='{k}'><h2>{_e(title)}</h2>{content}</section>" for k, title, content in sections)
    title = f"{r.protocol.title}: study report"
    head = (f"<h1>{_e(title)}</h1><p class='lead'>Protocol {_e(r.protocol.name)} \u00b7 ctit {_e(r.version)} "
            f"\u00b7 generated {generated}</p>")
    # No scripts and a CSP that forbids every fetch: the file cannot make a network request.
    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta http-equiv='Content-Security-Policy' content=\"{csp}\">"
            "<meta name='viewport' content='width=device-width,initial-scale=1'>"
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>{head}{nav}{body}</body></html>\n")


def _provenance(r: StudyResults, t: dict[str, ReportTable]) -> str:
    meta = (f"<p>Tool: ctit {_e(r.version)}. Protocol: {_e(r.protocol.name)} ({_e(r.protocol.source or 'bundled')}). "
            f"Source: {_e(getattr(r.study, 'source', '') or 'not recorded')}.</p>")
    inputs = table_html(t["inputs"]) if r.inputs or not suppression_text(r) else (
        "<p>Input files: withheld under small-cell suppression (their row counts are counts).</p>")
    if suppression_text(r):
        meta += f"<p>{_e(suppression_text(r))}</p>"
    warn = ("<h3>Warnings</h3><ul>" + "".join(f"<li>{_e(w)}</li>" for w in r.warnings) + "</ul>"
            if r.warnings else "<p>No warnings.</p>")
    return meta + _hash_cells(inputs) + warn + "<h3>Effective protocol</h3>" + table_html(t["protocol"])


def _hash_cells(table: str) -> str:
    """Monospace the SHA-256 column (64 hex digits) so it wraps instead of widening the page."""
    return re.sub(r"<td>([0-9a-f]{64})</td>", r"<td class='hash'>\1</td>", table)


def write_html(results: StudyResults, out: Path, figures: list[RenderedFigure] | None = None,
               generated: datetime | None = None) -> Path:
    path = out / "report.html"
    path.write_text(render_html(results, figures, generated), encoding="utf-8")
    return path
