"""The "Sensitivity to the response definition" section's content, shared by report.html and
report.docx: read from `StudyResults.sensitivity` (ctit.sensitivity), nothing re-derived."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ctit.reports.format import fmt_ci, fmt_n_pct, fmt_num, fmt_pct
from ctit.reports.suppression import is_hidden
from ctit.reports.tables import WITHHELD, ReportTable, Row, suppression_notes

if TYPE_CHECKING:
    from ctit.results import StudyResults

TITLE = "Sensitivity to the response definition"


def _base(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return next(r for r in rows if r["key"] == "protocol")


def sensitivity_table(results: StudyResults) -> ReportTable:
    """One row per definition: what changed, CR, PR and ORR n (%), the ORR's exact CI."""
    rows = results.sensitivity or []
    level = fmt_num(100 * results.protocol.ci_level)
    body = [Row([r["definition"], r["changed"], fmt_n_pct(r["cr_n"], r["cr_pct"]), fmt_n_pct(r["pr_n"], r["pr_pct"]),
                 fmt_n_pct(r["orr_n"], r["orr_pct"]),
                 WITHHELD if is_hidden(r["orr_n"]) else fmt_ci(r["orr_ci_low"], r["orr_ci_high"])]) for r in rows]
    return ReportTable("sensitivity", f"Response under each response definition (N = {_base(rows)['n']})",
                       ["Definition", "What changed", "CR, n (%)", "PR, n (%)", "ORR, n (%)", f"ORR {level}% CI"],
                       body, [
                           f"Exact (Clopper-Pearson) {level}% confidence intervals. Each row re-derives every "
                           "patient's best response under one definition: the protocol as analysed, each other "
                           "protocol of the library, or the protocol with one parameter changed. ORR: the "
                           "categories that count as a response under that definition. Exploratory.",
                           *_other_responders(rows), *suppression_notes(results)])


def _other_responders(rows: list[dict[str, Any]]) -> list[str]:
    """A footnote for definitions whose ORR counts other categories than the protocol's."""
    base = _base(rows)["orr_of"]
    other = [f"{r['definition']}: {r['orr_of']}" for r in rows if r["orr_of"] != base]
    return [f"ORR counts other categories than {base} under " + "; ".join(other) + "."] if other else []


def sensitivity_text(results: StudyResults) -> str:
    """The range of the ORR across the definitions, in one sentence."""
    rows = results.sensitivity or []
    base = _base(rows)
    known = [r for r in rows if r["orr_pct"] is not None]
    if not known or base["orr_pct"] is None:
        return f"{len(rows)} response definitions were compared; their ORRs are suppressed (small cells)."
    low = min(known, key=lambda r: r["orr_pct"])
    high = max(known, key=lambda r: r["orr_pct"])
    same = sum(bool(r.get("same_as_protocol")) and r["key"] != "protocol" for r in rows)
    restated = f" ({same} of them restating the protocol's own value)" if same else ""
    return (f"Across {len(rows)} response definitions{restated} the ORR ranged from {fmt_pct(low['orr_pct'])}% "
            f"({low['definition']}) to {fmt_pct(high['orr_pct'])}% ({high['definition']}); under the protocol "
            f"as analysed it was {fmt_pct(base['orr_pct'])}% ({base['orr_n']} of {base['n']} patients).")
