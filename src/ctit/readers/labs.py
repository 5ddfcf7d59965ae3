"""Lab rows: test names to codes, values to each test's canonical unit (data contract, `labs`).

Rules:
- `test` is matched against the knowledge file of aliases (codes, names, LOINC codes),
  case-insensitively. An unknown test is an error, not a warning: the tool cannot tell a
  misspelt platelet count from a test it does not need, and a silently unused platelet row
  would change results (a patient without a baseline is excluded).
- `value`, `lln` and `uln` are converted with the same factor, `knowledge.unit_factor(code, unit)`.
- A missing or unknown unit is an error for tests with `unit_required` (PLT, ALT, AST); for other
  tests it is a warning, the value is kept as written and the canonical `unit` left empty, so
  a later grading reports "unit unknown" rather than guessing.
- A platelet count must be within 0-2000 x10^9/L after conversion (a count outside it almost
  always means a wrong unit, e.g. /uL written as 10^9/L).
"""

from __future__ import annotations

import csv
from functools import cache
from typing import Any, Callable

import pandas as pd

from ctit import knowledge
from ctit.errors import ProblemLog
from ctit.readers.cells import LISTED_PER_CHECK, Cells, plausible_range
from ctit.study import TEXT

PLT_MAX = 2000.0


@cache
def accepted_units(code: str) -> tuple[str, ...]:
    """Units accepted for a test, as written in the knowledge file."""
    test = knowledge.lab_tests()[code]
    with knowledge.path("units.csv").open(encoding="utf-8", newline="") as fh:
        return tuple(r["unit"] for r in csv.DictReader(fh) if r["quantity"] == test.quantity)


def known_tests_text() -> str:
    codes = ", ".join(knowledge.lab_tests())
    return (f"known tests: {codes} (names such as 'platelet count' and LOINC codes such as "
            "777-3 are accepted; see docs/input.md)")


def _count_rest(table: str, n: int, column: str, what: str, log: ProblemLog) -> None:
    """The rows of a check beyond those listed, counted in one problem."""
    if n > LISTED_PER_CHECK:
        rest = n - LISTED_PER_CHECK
        log.error(table, f"{rest} more row{'s' if rest != 1 else ''} with the same problem, "
                  f"not listed: {what}", column=column)


def normalize_labs(cells: Cells, *, baseline: bool = False) -> pd.DataFrame:
    """The lab columns of one raw table: test, values and units (times are handled elsewhere).

    Returns patient_id, test, test_as_written, value, unit, lln, uln, value_as_written,
    unit_as_written, source_row, and `baseline_value` when `baseline` (converted like value).
    """
    table = cells.table
    log = cells.log
    test_written = cells.text("test")
    tests = knowledge.lab_tests()

    def per_test(attribute: Callable[[str], Any], dtype: str) -> pd.Series:
        """A property of each row's test code, found once per distinct test text."""
        return cells.lookup("test", lambda t: None if (code := knowledge.lab_test_code(t)) is None
                            else attribute(code), dtype)

    codes = per_test(lambda code: code, TEXT)
    cells.require("test", "test name")
    cells.error_at(cells.given("test") & codes.isna(), "test",
                   f"unknown lab test; {known_tests_text()}. Remove rows of tests the analysis "
                   "does not use.")

    value = cells.number("value", nonnegative=True)
    cells.require("value", "value")
    lln = cells.number("lln", nonnegative=True)
    uln = cells.number("uln", nonnegative=True)
    base = cells.number("baseline_value", nonnegative=True) if baseline else None
    unit_written = cells.text("unit")

    factors = cells.per_combination(("test", "unit"), lambda test, unit: pd.Series(
        [None if pd.isna(t) or pd.isna(u) else knowledge.unit_factor(knowledge.lab_test_code(t), u)
         for t, u in zip(test.astype("object"), unit.astype("object"))], dtype="Float64"))
    required = per_test(lambda code: tests[code].unit_required, "boolean").fillna(False).astype(bool)
    no_factor = codes.notna() & factors.isna()

    if not cells.has("unit"):
        needing = sorted(set(codes[required].dropna()))
        if needing:
            log.error(table, f"column 'unit' is missing; it is required for {', '.join(needing)}",
                      row=1, column="unit")
    else:
        for i in no_factor[no_factor & required].index[:LISTED_PER_CHECK]:
            code, unit = codes.loc[i], unit_written.loc[i]
            accepted = ", ".join(accepted_units(code))
            message = (f"unit is required for {code}; accepted: {accepted}" if pd.isna(unit)
                       else f"unknown unit for {code}; accepted: {accepted}")
            log.error(table, message, int(cells.rows.loc[i]), "unit",
                      None if pd.isna(unit) else unit)
        _count_rest(table, int((no_factor & required).sum()), "unit", "unit missing or unknown", log)

    # Non-required tests: one warning per (test, unit), not per row, to keep the listing readable.
    soft = no_factor & ~required & value.notna()
    if soft.any():
        groups = pd.DataFrame({"code": codes[soft], "unit": unit_written[soft].fillna(""),
                               "row": cells.rows[soft]})
        for (code, unit), g in groups.groupby(["code", "unit"], sort=False):
            n = len(g)
            what = "no unit" if unit == "" else "an unknown unit"
            log.warn(table, f"{n} {code} row{'s' if n != 1 else ''} with {what} (first shown); "
                     f"values kept as written, unit left empty; accepted units: "
                     f"{', '.join(accepted_units(code))}",
                     int(g["row"].iloc[0]), "unit", unit or None)

    factor = factors.fillna(1.0)
    canonical_unit = per_test(lambda code: tests[code].canonical_unit, TEXT)
    out = pd.DataFrame({
        "patient_id": cells.text("patient_id"),
        "test": codes,
        "test_as_written": test_written,
        "value": value * factor,
        "unit": canonical_unit.where(factors.notna()),
        "lln": lln * factor,
        "uln": uln * factor,
        "value_as_written": value,
        "unit_as_written": unit_written,
        "source_row": cells.rows,
    })
    if base is not None:
        out["baseline_value"] = base * factor

    too_high = (out["test"] == "PLT") & out["unit"].notna() & (out["value"] > PLT_MAX)
    too_high = too_high.fillna(False)
    for i in too_high[too_high].index[:LISTED_PER_CHECK]:
        log.error(table, f"platelet count {out.at[i, 'value']:g} x10^9/L after conversion from "
                  f"{unit_written.loc[i]} is outside 0-{PLT_MAX:g} x10^9/L; check the unit",
                  int(cells.rows.loc[i]), "value", cells.text("value").loc[i])
    _count_rest(table, int(too_high.sum()), "value", "platelet count outside the range after conversion", log)
    _check_plausible(cells, out)
    return out


def _check_plausible(cells: Cells, out: pd.DataFrame) -> None:
    """Converted values against each test's range in knowledge/plausible_ranges.csv (table
    `labs`, column = test code): impossible -> error, unusual -> warning."""
    converted = out["unit"].notna()
    for code in out["test"][converted].dropna().unique():
        r = plausible_range("labs", str(code))
        if r is None:
            continue
        v = out["value"].where(converted & (out["test"] == code))
        impossible = (v < r.impossible_below) | (v > r.impossible_above)
        cells.error_at(impossible, "value", f"{code} {r.unit} after conversion is impossible "
                       f"(possible {r.impossible_below:g}-{r.impossible_above:g} {r.unit}; {r.why})")
        unusual = ~impossible.fillna(False) & ((v < r.unusual_below) | (v > r.unusual_above))
        cells.warn_at(unusual, "value", f"{code} {r.unit} after conversion is unusual (usual "
                      f"{r.unusual_below:g}-{r.unusual_above:g} {r.unit}); check it")
