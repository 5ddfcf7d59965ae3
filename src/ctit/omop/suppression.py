"""Small-cell suppression for aggregates meant to leave the site (docs/omop.md, "Sharing").

Every count below the minimum cell count, zero excepted, is replaced by the text "<N", and
every number computed from such a count (its percentage and confidence limits) by null, so
no suppressed count can be recovered from what is left. Complementary suppression: where a
set of counts has a known total (response categories, exclusion reasons, grades), a second
smallest count is suppressed too when only one was, so the total does not give it back. The
output says what was done under `suppression`.
"""

from __future__ import annotations

import copy
from typing import Any

# Keys whose value is a count of patients or episodes.
COUNT_KEYS = {"n", "n_any", "screened", "included", "n_pairs", "n_nonzero", "screened_without_study_drug",
              "with_episode", "episodes", "rows", "rows_used", "n_included", "n_responders", "n_total",
              "responders"}
# Numbers derived from a count that sits beside them in the same object.
DERIVED_KEYS = {"pct", "ci95_low", "ci95_high", "pct_any", "orr_pct", "ci_low", "ci_high"}
# Mappings of counts that add up to a known total (complementary suppression).
SIBLING_GROUPS = ("by_grade",)


def _small(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < minimum


class _Suppressor:
    def __init__(self, minimum: int) -> None:
        self.minimum = minimum
        self.cells = 0

    def mark(self) -> str:
        self.cells += 1
        return f"<{self.minimum}"

    def walk(self, node: Any) -> Any:
        if isinstance(node, list):
            node = [self.walk(x) for x in node]
            self._complement_list(node)
            return node
        if not isinstance(node, dict):
            return node
        hidden = False
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in COUNT_KEYS and _small(value, self.minimum):
                out[key] = self.mark()
                hidden = True
            elif key in SIBLING_GROUPS and isinstance(value, dict):
                out[key] = self._group(value)
                hidden = hidden or any(isinstance(v, str) for v in out[key].values())
            else:
                out[key] = self.walk(value)
        if hidden:
            for key in DERIVED_KEYS & set(out):
                out[key] = None
        return out

    def _group(self, counts: dict[str, Any]) -> dict[str, Any]:
        out = {k: (self.mark() if _small(v, self.minimum) else v) for k, v in counts.items()}
        self._complement(out, list(out))
        return out

    def _complement(self, mapping: dict[str, Any], keys: list[Any]) -> None:
        hidden = [k for k in keys if isinstance(mapping[k], str)]
        if len(hidden) == 1:
            shown = [k for k in keys if isinstance(mapping[k], int) and mapping[k] > 0]
            if shown:
                k = min(shown, key=lambda x: mapping[x])
                mapping[k] = self.mark()

    def _complement_list(self, items: list[Any]) -> None:
        """Lists of {reason, n} (exclusions) add up to a known total: complement them."""
        rows = [x for x in items if isinstance(x, dict) and "n" in x and "reason" in x]
        if len(rows) < 2:
            return
        hidden = [r for r in rows if isinstance(r["n"], str)]
        shown = [r for r in rows if isinstance(r["n"], int) and r["n"] > 0]
        if len(hidden) == 1 and shown:
            min(shown, key=lambda r: r["n"])["n"] = self.mark()


def suppress(results: dict[str, Any], min_cell_count: int) -> dict[str, Any]:
    """A copy of `results` (results.json or comparison.json) with small cells suppressed and
    a `suppression` statement."""
    s = _Suppressor(int(min_cell_count))
    body = {k: v for k, v in copy.deepcopy(results).items() if k != "inputs"}
    out = s.walk(body)
    # Response categories add up to the cohort: complement them as one group.
    for section in _response_sections(out):
        keys = [k for k in ("cr", "pr", "nr", "ne") if k in section and isinstance(section[k], dict)]
        counts = {k: section[k]["n"] for k in keys}
        s._complement(counts, keys)
        for k in keys:
            if isinstance(counts[k], str) and not isinstance(section[k]["n"], str):
                section[k] = {**section[k], "n": counts[k], "pct": None, "ci95_low": None, "ci95_high": None}
    out["suppression"] = {
        "min_cell_count": s.minimum, "cells_suppressed": s.cells,
        "statement": f"Counts from 1 to {s.minimum - 1} are shown as <{s.minimum}, with the percentages "
                     "and confidence limits computed from them, and one more count where a total would "
                     "give a suppressed one back. Per-patient files are not written.",
    }
    return out


def _response_sections(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        if "cr" in node and "orr" in node:
            found.append(node)
        for v in node.values():
            found.extend(_response_sections(v))
    elif isinstance(node, list):
        for v in node:
            found.extend(_response_sections(v))
    return found
