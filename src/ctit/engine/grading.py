"""CTCAE v5.0 lab grading: the criteria table as data, compiled to Ibis expressions.

The criteria live in `ctit/knowledge/ctcae_v5.csv`, one row per (term, direction, grade,
baseline condition). A row is a half-open or closed interval: a lower and an upper bound,
each `operator factor x reference` with reference `abs` (the factor is the threshold, in
the test's canonical unit), `LLN`, `ULN` or `baseline`. Nothing in the table is code; the
loader checks every field, and `derive_lab_grades` turns the rows into one set-based
`ibis.cases` expression per term that runs unchanged on DuckDB and PySpark.

Grade of a value (CTCAE v5.0; protocol sections 2 and 9): the highest grade whose interval
holds it; 0 when no interval does. A bound whose reference is missing (no LLN, no ULN) is
unknown; an unknown interval above every interval that holds the value makes the grade
null, with the reason, because the value might belong to it. Nothing is guessed.

Floating point: both sides of every comparison are rounded to `ROUND_DIGITS` (9) decimal
places before comparing, so a value exactly on a boundary (31.05 against 1.5 x 20.7, which
is 31.049999999999997 in binary) gets the grade the CTCAE text gives it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import ibis
import ibis.expr.types as ir

from ctit.engine.baseline import derive_baseline
from ctit.knowledge import lab_tests, path as knowledge_path

ROUND_DIGITS = 9

Direction = Literal["L", "H"]
Reference = Literal["abs", "LLN", "ULN", "baseline"]
BaselineCondition = Literal["any", "normal", "abnormal", "known"]

_LOWER_OPS = (">", ">=")
_UPPER_OPS = ("<", "<=")
_REFERENCES = ("abs", "LLN", "ULN", "baseline")
_CONDITIONS = ("any", "normal", "abnormal", "known")
_VERSIONS = {"5.0": "ctcae_v5.csv"}

INPUT_COLUMNS = ("patient_id", "day", "test", "value", "unit", "lln", "uln", "baseline_value")


class CriteriaError(ValueError):
    """The criteria table breaks the rule grammar; the message names the row and field."""


@dataclass(frozen=True)
class Bound:
    """`value <op> factor x reference` (for `abs`, the factor is the threshold itself)."""

    op: str
    factor: float
    reference: Reference

    def __str__(self) -> str:
        if self.reference == "abs":
            return f"{self.op} {self.factor:g}"
        return f"{self.op} {self.factor:g} x {self.reference}"


@dataclass(frozen=True)
class Rule:
    """One grade of one term under one baseline condition, as an interval of values."""

    term: str
    test: str
    direction: Direction
    grade: int
    baseline_condition: BaselineCondition
    lower: Bound | None
    upper: Bound | None
    unit: str
    lab_derivable: bool
    ctcae_text: str
    note: str
    row: int  # line in the CSV (header = 1), for messages

    @property
    def references(self) -> tuple[str, ...]:
        """The per-row references this rule needs (LLN, ULN, baseline), in that order."""
        refs = {b.reference for b in (self.lower, self.upper) if b is not None}
        if self.baseline_condition in ("normal", "abnormal"):
            refs |= {"ULN", "baseline"}
        if self.baseline_condition == "known":
            refs.add("baseline")
        return tuple(r for r in ("LLN", "ULN", "baseline") if r in refs)


@dataclass(frozen=True)
class Term:
    """A CTCAE term graded from one lab test in one direction (admiral's ATOXGRL / ATOXGRH)."""

    name: str
    test: str
    direction: Direction
    rules: tuple[Rule, ...]

    @property
    def lab_rules(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.lab_derivable)

    @property
    def max_lab_grade(self) -> int:
        return max(r.grade for r in self.lab_rules)


@dataclass(frozen=True)
class Criteria:
    """A validated criteria table of one CTCAE version."""

    version: str
    terms: tuple[Term, ...]
    source: str

    def for_test(self, test: str) -> tuple[Term, ...]:
        return tuple(t for t in self.terms if t.test == test)

    def term(self, name: str) -> Term:
        for t in self.terms:
            if t.name == name:
                return t
        raise KeyError(name)


def _bound(raw: dict[str, str], side: str, ops: tuple[str, ...], where: str) -> Bound | None:
    op, factor, ref = (raw[f"{side}_{k}"].strip() for k in ("op", "factor", "ref"))
    if not (op or factor or ref):
        return None
    if op not in ops:
        raise CriteriaError(f"{where}: {side}_op must be one of {ops}, got {op!r}")
    if ref not in _REFERENCES:
        raise CriteriaError(f"{where}: {side}_ref must be one of {_REFERENCES}, got {ref!r}")
    try:
        value = float(factor)
    except ValueError:
        raise CriteriaError(f"{where}: {side}_factor must be a number, got {factor!r}") from None
    if not value > 0:
        raise CriteriaError(f"{where}: {side}_factor must be positive, got {factor!r}")
    return Bound(op, value, ref)  # type: ignore[arg-type]


def _rule(raw: dict[str, str], line: int, version: str) -> Rule:
    where = f"criteria row {line}"
    if raw["version"].strip() != version:
        raise CriteriaError(f"{where}: version {raw['version']!r} in a {version} table")
    test = raw["test"].strip()
    known = lab_tests()
    if test not in known:
        raise CriteriaError(f"{where}: unknown test {test!r} (not in lab_tests.csv)")
    direction = raw["direction"].strip()
    if direction not in ("L", "H"):
        raise CriteriaError(f"{where}: direction must be L or H, got {direction!r}")
    try:
        grade = int(raw["grade"])
    except ValueError:
        raise CriteriaError(f"{where}: grade must be an integer, got {raw['grade']!r}") from None
    if not 1 <= grade <= 4:
        raise CriteriaError(f"{where}: grade must be 1-4, got {grade}")
    condition = raw["baseline_condition"].strip()
    if condition not in _CONDITIONS:
        raise CriteriaError(f"{where}: baseline_condition must be one of {_CONDITIONS}, got {condition!r}")
    derivable = raw["lab_derivable"].strip()
    if derivable not in ("yes", "no"):
        raise CriteriaError(f"{where}: lab_derivable must be yes or no, got {derivable!r}")
    lower = _bound(raw, "lower", _LOWER_OPS, where)
    upper = _bound(raw, "upper", _UPPER_OPS, where)
    unit = raw["unit"].strip()
    if derivable == "yes":
        if lower is None and upper is None:
            raise CriteriaError(f"{where}: a lab-derivable rule needs at least one bound")
        if any(b is not None and b.reference == "abs" for b in (lower, upper)):
            if unit != known[test].canonical_unit:
                raise CriteriaError(f"{where}: absolute thresholds must be in {test}'s canonical unit "
                                    f"{known[test].canonical_unit!r}, got unit {unit!r}")
        if "baseline" in {b.reference for b in (lower, upper) if b} and condition == "any":
            raise CriteriaError(f"{where}: a bound on the baseline needs baseline_condition "
                                "abnormal or known")
    elif lower is not None or upper is not None:
        raise CriteriaError(f"{where}: a rule that is not lab-derivable has no bounds")
    if not raw["ctcae_text"].strip():
        raise CriteriaError(f"{where}: ctcae_text is empty")
    return Rule(raw["term"].strip(), test, direction, grade, condition, lower, upper,  # type: ignore[arg-type]
                unit, derivable == "yes", raw["ctcae_text"].strip(), raw["note"].strip(), line)


@cache
def load_criteria(version: str = "5.0") -> Criteria:
    """The bundled CTCAE criteria table of `version`, checked against the rule grammar."""
    if version not in _VERSIONS:
        raise CriteriaError(f"no criteria table for CTCAE version {version!r}; have {sorted(_VERSIONS)}")
    return read_criteria(knowledge_path(_VERSIONS[version]), version)


def read_criteria(source: Path, version: str) -> Criteria:
    """A criteria table from a CSV file in the rule grammar; `CriteriaError` names the bad row."""
    source = Path(source)
    with source.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        expected = ["version", "term", "test", "direction", "grade", "baseline_condition",
                    "lower_op", "lower_factor", "lower_ref", "upper_op", "upper_factor",
                    "upper_ref", "unit", "lab_derivable", "ctcae_text", "note"]
        if reader.fieldnames != expected:
            raise CriteriaError(f"{source.name}: columns must be {expected}, got {reader.fieldnames}")
        rules = [_rule(raw, line, version) for line, raw in enumerate(reader, start=2)]

    by_term: dict[tuple[str, str], list[Rule]] = {}
    for r in rules:
        by_term.setdefault((r.term, r.direction), []).append(r)
    terms = []
    seen: set[tuple[str, str, int, str]] = set()
    for (name, direction), group in by_term.items():
        if len({r.test for r in group}) != 1:
            raise CriteriaError(f"term {name!r} ({direction}) is graded from more than one test")
        for r in group:
            key = (name, direction, r.grade, r.baseline_condition)
            if key in seen:
                raise CriteriaError(f"criteria row {r.row}: duplicate {key}")
            seen.add(key)
        term = Term(name, group[0].test, direction, tuple(group))  # type: ignore[arg-type]
        if not term.lab_rules:
            raise CriteriaError(f"term {name!r} has no lab-derivable grade")
        terms.append(term)
    if len({t.name for t in terms}) != len(terms):
        raise CriteriaError("a term name is used with both directions")
    return Criteria(version, tuple(terms), str(source))


# ---------------------------------------------------------------------------------------
# Compilation to Ibis


def _r(x: ir.NumericValue) -> ir.NumericValue:
    return x.round(ROUND_DIGITS)


def _compare(value: ir.NumericValue, op: str, other: ir.NumericValue) -> ir.BooleanValue:
    v, o = _r(value), _r(other)
    return {">": v > o, ">=": v >= o, "<": v < o, "<=": v <= o}[op]


@dataclass(frozen=True)
class _Refs:
    value: ir.FloatingValue
    lln: ir.FloatingValue
    uln: ir.FloatingValue
    baseline: ir.FloatingValue

    def of(self, reference: str) -> ir.FloatingValue | None:
        return {"LLN": self.lln, "ULN": self.uln, "baseline": self.baseline}.get(reference)


def _bound_expr(bound: Bound, refs: _Refs) -> ir.BooleanValue:
    if bound.reference == "abs":
        threshold = ibis.literal(bound.factor, type="float64")
    else:
        threshold = ibis.literal(bound.factor, type="float64") * refs.of(bound.reference)
    return _compare(refs.value, bound.op, threshold)


def _condition_expr(condition: str, refs: _Refs) -> ir.BooleanValue | None:
    # Section 9: baseline <= ULN, or no baseline, is "normal"; the comparison is null
    # (unknown) when there is a baseline but no ULN to classify it against.
    if condition == "any":
        return None
    if condition == "known":
        return refs.baseline.notnull()
    above = _compare(refs.baseline, ">", refs.uln)
    if condition == "normal":
        return ibis.cases((refs.baseline.isnull(), True), else_=~above)
    return ibis.cases((refs.baseline.isnull(), False), else_=above)


def _rule_expr(rule: Rule, refs: _Refs) -> ir.BooleanValue:
    """SQL three-valued: true, false, or null when a needed reference is missing."""
    parts = [_bound_expr(b, refs) for b in (rule.lower, rule.upper) if b is not None]
    condition = _condition_expr(rule.baseline_condition, refs)
    if condition is not None:
        parts.insert(0, condition)
    expr = parts[0]
    for p in parts[1:]:
        expr = expr & p
    return expr


def _missing_reason(rules: list[Rule], refs: _Refs, grade: int) -> ir.StringValue:
    needed = [ref for ref in ("LLN", "ULN", "baseline") if any(ref in r.references for r in rules)]
    branches = [(refs.of(ref).isnull(), f"no {ref} for a grade-{grade} decision") for ref in needed]
    fallback = ibis.literal(f"cannot decide grade {grade}", "string")
    return ibis.cases(*branches, else_=fallback) if branches else fallback


def _term_grade(term: Term, refs: _Refs) -> tuple[ir.IntegerValue, ir.StringValue]:
    """(grade, reason) of one term: highest grade whose interval holds; null if unknown first."""
    null_int = ibis.null("int64")
    null_str = ibis.null("string")
    grade_cases: list[tuple[ir.BooleanValue, ir.Value]] = []
    reason_cases: list[tuple[ir.BooleanValue, ir.Value]] = []
    for g in sorted({r.grade for r in term.lab_rules}, reverse=True):
        rules = [r for r in term.lab_rules if r.grade == g]
        holds = _rule_expr(rules[0], refs)
        for r in rules[1:]:
            holds = holds | _rule_expr(r, refs)
        grade_cases += [(holds.fill_null(False), ibis.literal(g, "int64")), (holds.isnull(), null_int)]
        reason_cases += [(holds.fill_null(False), null_str),
                         (holds.isnull(), _missing_reason(rules, refs, g))]
    grade = ibis.cases(*grade_cases, else_=ibis.literal(0, "int64"))
    reason = ibis.cases(*reason_cases, else_=null_str)
    return grade, reason


def derive_lab_grades(
    labs: ir.Table,
    criteria: Criteria | None = None,
    *,
    default_lln: dict[str, float] | None = None,
    default_uln: dict[str, float] | None = None,
) -> ir.Table:
    """CTCAE grade of every lab row, one output row per term its test has (K: Hypokalemia L
    and Hyperkalemia H, like admiral's ATOXGRL / ATOXGRH).

    Input: `patient_id, day, test, value, unit, lln, uln, baseline_value`, values and limits
    in canonical units, `unit` empty or null when the row's unit was unknown. A missing
    `lln` / `uln` is taken from `default_lln` / `default_uln` by test (the caller passes the
    protocol's defaults, sections 2 and 9). Baseline-dependent terms use the "baseline
    abnormal" branch when baseline > ULN, else (baseline <= ULN or none) the "normal" one.

    Output: the input columns plus `term`, `direction`, `grade` (null when not gradable) and
    `grade_reason` (null when graded). A row whose test has no term is kept once with null
    term and grade and the reason, so no row disappears. See the module docstring for
    boundaries and rounding.
    """
    criteria = criteria or load_criteria()
    missing = [c for c in INPUT_COLUMNS if c not in labs.columns]
    if missing:
        raise ValueError(f"derive_lab_grades: labs lacks column(s) {', '.join(missing)}")

    # One small projection per term, unioned: each carries only its own rules, with the
    # test's defaults and canonical unit as constants. A single CASE over every term grows
    # past Spark's 64 KB generated-method limit and loses whole-stage codegen.
    parts = [_grade_term(labs, t, default_lln, default_uln) for t in criteria.terms]
    graded_tests = sorted({t.test for t in criteria.terms})
    others = labs.filter(labs.test.isnull() | ~labs.test.isin(graded_tests)).mutate(
        term=ibis.null("string"),
        direction=ibis.null("string"),
        grade=ibis.null("int64"),
        grade_reason=ibis.literal(f"no CTCAE v{criteria.version} lab term for this test", "string"),
    )
    return ibis.union(*parts, others, distinct=False)


def _grade_term(
    labs: ir.Table,
    term: Term,
    default_lln: dict[str, float] | None,
    default_uln: dict[str, float] | None,
) -> ir.Table:
    rows = labs.filter(labs.test == term.test)

    def limit(column: ir.Column, defaults: dict[str, float] | None) -> ir.FloatingValue:
        value = column.cast("float64")
        if defaults and term.test in defaults:
            value = value.coalesce(ibis.literal(float(defaults[term.test]), "float64"))
        return value

    refs = _Refs(
        value=rows.value.cast("float64"),
        lln=limit(rows.lln, default_lln),
        uln=limit(rows.uln, default_uln),
        baseline=rows.baseline_value.cast("float64"),
    )
    canonical = lab_tests()[term.test].canonical_unit
    unit = rows.unit.cast("string").strip()
    grade, reason = _term_grade(term, refs)
    # Preconditions first: without a value in the canonical unit nothing can be compared.
    pre = [
        (refs.value.isnull(), "no value"),
        (unit.isnull() | (unit == ""), "unit unknown"),
        (unit.lower() != canonical.lower(), "unit " + unit + f" is not the canonical unit {canonical}"),
    ]
    null_int = ibis.null("int64")
    return rows.mutate(
        term=ibis.literal(term.name, "string"),
        direction=ibis.literal(term.direction, "string"),
        grade=ibis.cases(*((cond, null_int) for cond, _ in pre), else_=grade),
        grade_reason=ibis.cases(*((cond, ibis.literal(text, "string") if isinstance(text, str) else text)
                                  for cond, text in pre), else_=reason),
    )


def with_baseline(
    labs: ir.Table,
    lookback_days: int,
    *,
    ties: Literal["lower", "higher"] = "higher",
) -> ir.Table:
    """Labs with `baseline_value` per patient and test: a given non-null `baseline_value` is
    kept, else the last value in days [-lookback_days, 0] (same day: the higher), protocol
    section 9, from `ctit.engine.baseline.derive_baseline`. Rows of unknown unit are not
    baseline candidates, since their value is not in the canonical unit."""
    unit = labs.unit.cast("string").strip()
    candidates = labs.filter(unit.notnull() & (unit != ""))
    base = derive_baseline(candidates, lookback_days=lookback_days, ties=ties)
    base = base.select(_b_patient_id=base.patient_id, _b_test=base.test,
                       _b_value=base.baseline_value.cast("float64"))
    joined = labs.left_join(base, (labs.patient_id == base._b_patient_id) & (labs.test == base._b_test))
    if "baseline_value" in labs.columns:
        value = joined.baseline_value.cast("float64").coalesce(joined._b_value)
    else:
        value = joined._b_value
    return joined.mutate(baseline_value=value).drop("_b_patient_id", "_b_test", "_b_value")
