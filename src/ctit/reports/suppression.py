"""Small-cell suppression for aggregates meant to leave the site (docs/report.md, "Small-cell
suppression"; docs/omop.md, "Sharing").

Every count below the minimum cell count, zero excepted, is replaced by the text "<N", and
every number computed from such a count (its percentage and confidence limits) by null, so
no suppressed count can be recovered from what is left. Complementary suppression: where
counts are tied by a sum that can be read off the output (categories adding up to the
cohort, responders to the ORR, exclusions to screened minus included, grades to "any
grade"), a further count is hidden whenever exactly one count of the sum is, until no sum
gives a hidden count back (`protect`). Warnings name rows and values, so only their number
is kept. The output says what was done under `suppression`.

`suppress` works on the JSON form (results.json, comparison.json: `ctit share`, `ctit
comparator`); `suppressed_results` gives the one `StudyResults` every renderer of `ctit analyze
--min-cell-count` and `ctit report` reads, so JSON, terminal, HTML and DOCX never disagree.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from ctit.results import StudyResults

# Keys whose value is a count of patients or episodes.
COUNT_KEYS = {"n", "n_any", "screened", "included", "n_pairs", "n_nonzero", "screened_without_study_drug",
              "with_episode", "episodes", "rows", "rows_used", "n_included", "n_responders", "n_total",
              "responders", "cr_n", "pr_n", "orr_n"}
# Numbers derived from a count that sits beside them in the same object.
DERIVED_KEYS = {"pct", "ci95_low", "ci95_high", "pct_any", "orr_pct", "ci_low", "ci_high"}
# Figures drawn from per-patient values (lines, bars, lanes, event times): withheld.
PER_PATIENT_FIGURES = ("trajectories", "paired", "waterfall", "swimmer", "cumulative_cr")
WITHHELD_FILES = ("patients.csv", "unused_rows.csv", "listings.xlsx")


# A count hidden only so that a sum cannot give a smaller one back (it is N or more).
COMPLEMENT = "suppressed"


def marker(minimum: int) -> str:
    return f"<{minimum}"


def is_hidden(value: Any) -> bool:
    """A suppressed cell ("<N", or "suppressed" for a complementary one)."""
    return isinstance(value, str) and (value.startswith("<") or value == COMPLEMENT)


def _small(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < minimum


def protect(cells: Mapping[Hashable, Any], sums: Iterable[Iterable[Hashable]],
            minimum: int, fixed: Iterable[Hashable] = ()) -> dict[Hashable, str]:
    """The cells to hide, each with its text: every count from 1 to minimum - 1 as "<N"; then,
    for each sum (a set of cells, total included, any one of which the others give back) with
    exactly one hidden cell, one more non-zero cell as "suppressed" (it is not below N, so "<N"
    would misstate it: the cell in most such sums, then the smallest), until no sum has exactly
    one. Hidden cells stay hidden. `fixed`: cells never hidden to protect another (the
    denominators a table states, such as the cohort size). A cell no output shows but the others
    give (a complement n - k) is a cell here too: hiding it costs nothing."""
    fixed = set(fixed)
    # A sum with a cell the output does not give cannot be read off: no constraint.
    sums = [keys for keys in (list(s) for s in sums) if all(cells.get(k) is not None for k in keys)]
    hidden: dict[Hashable, str] = {k: (v if is_hidden(v) else marker(minimum))
                                   for k, v in cells.items() if _small(v, minimum) or is_hidden(v)}
    while True:
        open_sums = [keys for keys in sums if sum(k in hidden for k in keys) == 1]
        # The cell that closes the most open sums, then the smallest: the fewest cells hidden.
        reach: dict[Hashable, int] = {}
        for keys in open_sums:
            for k in keys:
                if k not in hidden and k not in fixed and isinstance(cells[k], int) and cells[k] > 0:
                    reach[k] = reach.get(k, 0) + 1
        if not reach:
            return hidden
        hidden[min(reach, key=lambda k: (-reach[k], cells[k]))] = COMPLEMENT


class _Suppressor:
    def __init__(self, minimum: int) -> None:
        self.minimum = minimum
        self.cells = 0

    def mark(self, text: str | None = None) -> str:
        self.cells += 1
        return text or marker(self.minimum)

    def hide(self, node: dict[str, Any], key: str, derived: Iterable[str] = (), text: str | None = None) -> None:
        if not is_hidden(node.get(key)):
            node[key] = self.mark(text)
        for d in derived:
            if d in node:
                node[d] = None

    # ---- structured passes: the sums results.json and comparison.json can be read by

    def response(self, section: dict[str, Any], responders: list[str]) -> None:
        cats = [k for k, v in section.items() if isinstance(v, dict) and "n" in v and k != "orr"]
        cells = {"n": section.get("n"), "orr": section["orr"]["n"], **{k: section[k]["n"] for k in cats}}
        resp = [k for k in cats if k in responders]
        rest = [k for k in cats if k not in responders]
        hidden = protect(cells, [["n", *cats], ["orr", *resp], ["n", "orr", *rest]], self.minimum, fixed=["n"])
        for k, text in hidden.items():
            if k == "n":
                self.hide(section, "n", text=text)
            else:
                self.hide(section[k], "n", ("pct", "ci95_low", "ci95_high"), text)

    def exclusions(self, section: dict[str, Any]) -> None:
        rows = [r for r in section["excluded"] if isinstance(r, dict) and "n" in r]
        cells: dict[Hashable, Any] = {i: r["n"] for i, r in enumerate(rows)}
        totals = [k for k in ("screened", "included") if k in section]
        cells.update({k: section[k] for k in totals})
        hidden = protect(cells, [[*range(len(rows)), *totals]], self.minimum, fixed=totals)
        for k, text in hidden.items():
            if isinstance(k, int):
                self.hide(rows[k], "n", text=text)
            else:
                self.hide(section, k, text=text)

    def grades(self, event: dict[str, Any]) -> None:
        """Patients counted once at their highest grade: the grades add up to "any grade"."""
        by = event["by_grade"]
        cells = {"n_any": event.get("n_any"), **{f"g{g}": v for g, v in by.items()}}
        hidden = protect(cells, [list(cells)], self.minimum)
        for k, text in hidden.items():
            if k == "n_any":
                self.hide(event, "n_any", ("pct_any",), text)
            elif not is_hidden(by[k[1:]]):
                by[k[1:]] = self.mark(text)

    def subgroups(self, rows: list[dict[str, Any]], included: Any, responders: Any) -> None:
        """Levels of one variable add up to the included patients, their responders to the ORR."""
        by_var: dict[Any, list[int]] = {}
        for i, r in enumerate(rows):
            by_var.setdefault(r.get("variable"), []).append(i)
        for idx in by_var.values():
            cells: dict[Hashable, Any] = {"N": included, "R": responders}
            for i in idx:
                cells[("n", i)] = rows[i]["n"]
                cells[("r", i)] = rows[i]["responders"]
                # Non-responders of a level: n - responders, read off every row.
                cells[("x", i)] = (rows[i]["n"] - rows[i]["responders"]
                                   if isinstance(rows[i]["n"], int) and isinstance(rows[i]["responders"], int) else 0)
            sums = [["N", *[("n", i) for i in idx]], ["R", *[("r", i) for i in idx]],
                    *[[("n", i), ("r", i), ("x", i)] for i in idx]]
            for k, text in protect(cells, sums, self.minimum, fixed=["N"]).items():
                if isinstance(k, tuple) and k[0] in ("n", "r"):
                    self.hide(rows[k[1]], "n" if k[0] == "n" else "responders", ("pct", "ci95_low", "ci95_high"),
                              text)

    def sensitivity(self, row: dict[str, Any]) -> None:
        """One definition: its categories ("CR 12; PR 7; NR 8; NE 0") add up to n, the
        responders (orr_of, "CR + PR") to orr_n."""
        cats = dict(re.findall(r"(\S+) (\d+)", str(row.get("categories") or "")))
        cells: dict[Hashable, Any] = {"n": row.get("n"), "orr": row.get("orr_n"),
                                      **{c: int(v) for c, v in cats.items()}}
        responders = [c.strip() for c in str(row.get("orr_of") or "").split("+")]
        sums = [["n", *cats], ["orr", *[c for c in cats if c in responders]],
                ["n", "orr", *[c for c in cats if c not in responders]]]
        hidden = protect(cells, sums, self.minimum, fixed=["n"])
        # cr_n and pr_n restate the CR and PR categories: hidden with them.
        for c in ("CR", "PR"):
            k = c.lower()
            if c in hidden or (c not in cats and _small(row.get(f"{k}_n"), self.minimum)):
                self.hide(row, f"{k}_n", (f"{k}_pct", f"{k}_ci_low", f"{k}_ci_high"), hidden.get(c))
        if "orr" in hidden:
            self.hide(row, "orr_n", ("orr_pct", "orr_ci_low", "orr_ci_high", "orr_difference"), hidden["orr"])
        if "n" in hidden:
            self.hide(row, "n", text=hidden["n"])
        if cats:
            row["categories"] = "; ".join(f"{c} {hidden.get(c, v)}" for c, v in cats.items())
            self.cells += sum(c in hidden for c in cats if c not in ("CR", "PR"))

    # ---- everything else: any small count, and what is computed from it

    def walk(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.walk(x) for x in node]
        if not isinstance(node, dict):
            return node
        hidden = False
        out: dict[str, Any] = {}
        prefixed: list[str] = []
        for key, value in node.items():
            if key in COUNT_KEYS and (_small(value, self.minimum) or is_hidden(value)):
                out[key] = value if is_hidden(value) else self.mark()
                # cr_n, orr_n, ...: their own cr_pct, orr_ci_low, ...; a plain count: pct, ci95_*.
                if key.endswith("_n"):
                    prefixed.append(key[:-2])
                else:
                    hidden = True
            elif key == "by_grade" and isinstance(value, dict):
                out[key] = {g: (self.mark() if _small(v, self.minimum) else v) for g, v in value.items()}
            else:
                out[key] = self.walk(value)
        if hidden:
            for key in DERIVED_KEYS & set(out):
                out[key] = None
        for p in prefixed:
            for key in (f"{p}_pct", f"{p}_ci_low", f"{p}_ci_high"):
                if key in out:
                    out[key] = None
        return out


def _responders(categories: Any) -> list[str]:
    if isinstance(categories, list) and categories:
        return [str(c["code"]).lower() for c in categories if isinstance(c, dict) and c.get("counts_as_response")]
    return ["cr", "pr"]


def _find(node: Any, test: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        if test(node):
            found.append(node)
        for v in node.values():
            found.extend(_find(v, test))
    elif isinstance(node, list):
        for v in node:
            found.extend(_find(v, test))
    return found


def statement(minimum: int) -> str:
    return (f"Counts from 1 to {minimum - 1} are shown as <{minimum} and the percentages and confidence "
            "limits computed from them are not shown; where a sum would give a suppressed count back, a "
            f"further count (of {minimum} or more) is shown as {COMPLEMENT}. "
            "Per-patient files (patients.csv, unused_rows.csv, listings.xlsx), the patient listing, the "
            "per-patient figures, the input file list and the warnings' text are withheld.")


def suppress(results: dict[str, Any], min_cell_count: int) -> dict[str, Any]:
    """A copy of `results` (results.json or comparison.json) with small cells suppressed and
    a `suppression` statement."""
    s = _Suppressor(int(min_cell_count))
    out = {k: v for k, v in copy.deepcopy(results).items() if k not in ("inputs", "suppression")}
    for section in _find(out, lambda d: "cr" in d and "orr" in d and isinstance(d["orr"], dict)):
        s.response(section, _responders(out.get("categories")))
    for section in _find(out, lambda d: isinstance(d.get("excluded"), list)):
        s.exclusions(section)
    for event in _find(out, lambda d: isinstance(d.get("by_grade"), dict) and "n_any" in d):
        s.grades(event)
    if isinstance(out.get("subgroups"), list) and isinstance(out.get("response"), dict):
        s.subgroups(out["subgroups"], out.get("cohort", {}).get("included"), out["response"]["orr"]["n"])
    for row in out.get("sensitivity") or []:
        s.sensitivity(row)
    out = s.walk(out)
    if "warnings" in out and isinstance(out["warnings"], list) and out["warnings"]:
        # Warnings quote rows and values of the input: only their number leaves the site.
        out["warnings"] = [f"{len(out['warnings'])} warning(s) withheld (they quote input rows)"]
    out["suppression"] = {"min_cell_count": s.minimum, "cells_suppressed": s.cells,
                          "statement": statement(s.minimum)}
    return out


# ---------------------------------------------------------------- the results object


@dataclasses.dataclass
class SuppressedResults(StudyResults):
    """A `StudyResults` whose aggregates are suppressed (`suppress`); `to_dict` is the
    suppressed results.json. The per-patient tables stay for the report's descriptive counts
    (Table 1), which the table builder suppresses by the same rule (`protect`)."""

    suppression: dict[str, Any] = dataclasses.field(default_factory=dict)
    shared: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)
    # The results before suppression: what the store keeps, so `ctit report` can re-render
    # at any threshold.
    full: StudyResults | None = dataclasses.field(default=None, repr=False)

    @property
    def min_cell_count(self) -> int:
        return int(self.suppression["min_cell_count"])

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self.shared)


def min_cell_count(results: StudyResults) -> int | None:
    """The threshold `results` were suppressed at, or None."""
    return results.min_cell_count if isinstance(results, SuppressedResults) else None


def full_results(results: StudyResults) -> StudyResults:
    """The results before any suppression."""
    if isinstance(results, SuppressedResults) and results.full is not None:
        return results.full
    return results


def suppressed_results(results: StudyResults, minimum: int | None) -> StudyResults:
    """`results` as every renderer shows them at `minimum` (None: unchanged)."""
    if not minimum:
        return results
    if isinstance(results, SuppressedResults):
        if results.min_cell_count == minimum:
            return results
        raise ValueError("results are already suppressed at another minimum cell count")
    from ctit.reports.outputs import clean

    shared = suppress(clean(results.to_dict()), minimum)
    base = {f.name: getattr(results, f.name) for f in dataclasses.fields(StudyResults)}
    base.update(
        cohort=shared["cohort"], baseline_platelets=shared["baseline_platelets"], landmarks=shared["landmarks"],
        response=shared["response"], time_to_cr=shared["time_to_cr"], safety_events=shared["safety"]["events"],
        other_lab_events=shared["safety"]["other_lab_events"], subgroups=shared["subgroups"],
        categories=shared["categories"], inputs=[], warnings=shared["warnings"],
        sensitivity=shared.get("sensitivity"))
    return SuppressedResults(**base, suppression=shared["suppression"], shared=shared, full=results)
