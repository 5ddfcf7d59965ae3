"""CTCAE lab grading (v5.0, v6.0): the criteria tables as data, compiled to Ibis expressions.

The criteria live in `ctit/knowledge/ctcae_v5.csv` and `ctcae_v6.csv` (the protocol's
`ctcae_version` picks one), one row per (term, direction, grade, baseline condition). A row is a half-open or closed interval: a lower and an upper bound,
each `operator factor x reference` with reference `abs` (the factor is the threshold, in
the test's canonical unit), `LLN`, `ULN` or `baseline`. Nothing in the table is code; the
loader checks every field, and `derive_lab_grades` joins the rows, as a table, with the
distinct (test, value, limits, baseline) keys of the labs in the engine: one set-based query
that runs unchanged on DuckDB and PySpark.

Grade of a value (CTCAE; protocol sections 2 and 9): the highest grade whose interval
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
# normal: baseline <= ULN or none; abnormal: baseline > ULN; known: any baseline;
# known_normal: a baseline <= ULN (none: undecided); low: a baseline below the LLN.
BaselineCondition = Literal["any", "normal", "abnormal", "known", "known_normal", "low"]

_LOWER_OPS = (">", ">=")
_UPPER_OPS = ("<", "<=")
_REFERENCES = ("abs", "LLN", "ULN", "baseline")
_CONDITIONS = ("any", "normal", "abnormal", "known", "known_normal", "low")
_VERSIONS = {"5.0": "ctcae_v5.csv", "6.0": "ctcae_v6.csv"}

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
        if self.baseline_condition in ("normal", "abnormal", "known_normal"):
            refs |= {"ULN", "baseline"}
        if self.baseline_condition in ("known", "low"):
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
            raise CriteriaError(f"{where}: a bound on the baseline needs a baseline_condition "
                                "other than any")
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
# Grading as a join: the criteria table meets the labs inside the engine


_MISSING_REASONS = ("LLN", "ULN", "baseline")  # in the order a reason names them


def criteria_rows(criteria: Criteria) -> list[dict[str, object]]:
    """The lab-derivable rules as plain rows (no nulls, so every engine infers the same types)."""
    rows = []
    term_ids: dict[tuple[str, str], int] = {}
    for rule_id, rule in enumerate(r for t in criteria.terms for r in t.lab_rules):
        bounds = {}
        for side, bound in (("lo", rule.lower), ("hi", rule.upper)):
            bounds[f"{side}_op"] = bound.op if bound else ""
            bounds[f"{side}_factor"] = float(bound.factor) if bound else 0.0
            bounds[f"{side}_ref"] = bound.reference if bound else ""
        refs = rule.references
        rows.append({
            "rule_id": rule_id,
            "term_id": term_ids.setdefault((rule.term, rule.direction), len(term_ids)),
            "term": rule.term, "test": rule.test, "direction": rule.direction,
            "grade": rule.grade, "condition": rule.baseline_condition, **bounds,
            **{f"needs_{r}": r in refs for r in _MISSING_REASONS},
            "canonical_unit": lab_tests()[rule.test].canonical_unit,
        })
    return rows


def _r(x: ir.NumericValue) -> ir.NumericValue:
    return x.round(ROUND_DIGITS)


def _holds(value: ir.FloatingValue, op: ir.StringValue, factor: ir.FloatingValue, ref: ir.StringValue,
           lln: ir.FloatingValue, uln: ir.FloatingValue, baseline: ir.FloatingValue) -> ir.BooleanValue:
    """`value <op> factor x reference`, three-valued: null when the reference is missing."""
    reference = ibis.cases((ref == "abs", ibis.literal(1.0)), (ref == "LLN", lln), (ref == "ULN", uln),
                           (ref == "baseline", baseline), else_=ibis.null("float64"))
    v, t = _r(value), _r(factor * reference)
    return ibis.cases((op == "", ibis.literal(True)), (op == ">", v > t), (op == ">=", v >= t),
                      (op == "<", v < t), (op == "<=", v <= t), else_=ibis.null("boolean"))


def _defaults(test: ir.StringValue, defaults: dict[str, float] | None) -> ir.FloatingValue:
    pairs = [(test == t, ibis.literal(float(v), "float64")) for t, v in (defaults or {}).items()]
    return ibis.cases(*pairs, else_=ibis.null("float64")) if pairs else ibis.null("float64")


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

    Output: the input columns plus `term`, `direction`, `lln_applied` / `uln_applied` (the
    limits used, defaults included), `grade` (null when not gradable) and `grade_reason`
    (null when graded). A row whose test has no term is kept once with null
    term and grade and the reason, so no row disappears. See the module docstring for
    boundaries and rounding.
    """
    criteria = criteria or load_criteria()
    missing = [c for c in INPUT_COLUMNS if c not in labs.columns]
    if missing:
        raise ValueError(f"derive_lab_grades: labs lacks column(s) {', '.join(missing)}")
    columns = list(labs.columns)
    rules = ibis.memtable(criteria_rows(criteria))
    graded_tests = sorted({t.test for t in criteria.terms})
    # Only these tests' rules read the baseline; for the others it is left out of the key.
    baseline_tests = sorted({r.test for t in criteria.terms for r in t.lab_rules if "baseline" in r.references})
    lab = labs.mutate(
        _value=labs.value.cast("float64"),
        _lln=labs.lln.cast("float64").coalesce(_defaults(labs.test, default_lln)),
        _uln=labs.uln.cast("float64").coalesce(_defaults(labs.test, default_uln)),
        _base=ibis.cases((labs.test.isin(baseline_tests), labs.baseline_value.cast("float64")),
                         else_=ibis.null("float64")),
        _unit=labs.unit.cast("string").strip(),
    )
    # A grade depends on the test, the value, the limits and the baseline, nothing else: the
    # rules are joined with the distinct such keys (a few hundred platelet keys among
    # millions of counts), not with every lab row, and each row then finds its grades by key.
    # The rule table joins in the engine, so the query stays the same size whatever the
    # number of terms (compilation is fast, and Spark's generated code stays small).
    key = ["test", "_value", "_lln", "_uln", "_base"]
    keys = lab.filter(lab.test.isin(graded_tests)).select(*key).distinct()
    j = keys.join(rules, "test")
    above = _r(j._base) > _r(j._uln)
    condition = ibis.cases(
        (j.condition == "any", ibis.literal(True)),
        (j.condition == "known", j._base.notnull()),
        # Section 9: baseline <= ULN, or no baseline, is "normal"; with a baseline but no ULN
        # the branch is unknown (null).
        (j.condition == "normal", ibis.cases((j._base.isnull(), ibis.literal(True)), else_=~above)),
        (j.condition == "abnormal", ibis.cases((j._base.isnull(), ibis.literal(False)), else_=above)),
        # v6 ALP ("> baseline and ULN"): without a baseline the grade cannot be decided.
        (j.condition == "known_normal", ibis.cases((j._base.isnull(), ibis.null("boolean")), else_=~above)),
        # v6 creatinine's baseline alternative needs a baseline known to be below the LLN;
        # without an LLN the ULN alternative alone applies (as admiral's BNRIND rule).
        (j.condition == "low", (j._base.notnull() & j._lln.notnull()).ifelse(_r(j._base) < _r(j._lln), False)),
        else_=ibis.null("boolean"),
    )
    status = (condition
              & _holds(j._value, j.lo_op, j.lo_factor, j.lo_ref, j._lln, j._uln, j._base)
              & _holds(j._value, j.hi_op, j.hi_factor, j.hi_ref, j._lln, j._uln, j._base))
    # The first missing reference a rule needs names the reason (1 LLN, 2 ULN, 3 baseline).
    missing_first = ibis.cases(
        *[(j[f"needs_{r}"] & value.isnull(), i + 1)
          for i, (r, value) in enumerate(zip(_MISSING_REASONS, (j._lln, j._uln, j._base)))],
        else_=len(_MISSING_REASONS) + 1,
    )
    unknown = status.isnull()
    per_key = j.group_by([*key, "term_id"]).aggregate(
        # One term per term_id: its columns are the same on every joined rule row.
        **{c: j[c].arbitrary() for c in ("term", "direction", "canonical_unit")},
        _true=ibis.cases((status.fill_null(False), j.grade), else_=ibis.null("int64")).max(),
        _unknown=ibis.cases((unknown, j.grade), else_=ibis.null("int64")).max(),
        # The reason is that of the highest undecided grade, its first missing reference:
        # one key orders both (grade first; the smaller reason code wins a tie).
        _reason_key=ibis.cases((unknown, j.grade * 10 + (9 - missing_first)), else_=ibis.null("int64")).max(),
    )
    # Null-safe: a missing limit or baseline is part of the key like any value.
    matched = lab.join(per_key, [lab[c].identical_to(per_key[c]) for c in key])
    per_term = matched.select(
        *columns, "_value", "_lln", "_uln", "_unit", "term", "direction", "canonical_unit",
        "_true", "_unknown", "_reason_key")
    j = per_term.mutate(_undecided=per_term._unknown.notnull() & (per_term._unknown > per_term._true.fill_null(0)),
                        _reason_code=9 - per_term._reason_key % 10)
    reason_text = ibis.cases(
        *[(j._reason_code == i + 1, "no " + ibis.literal(r) + " for a grade-" + j._unknown.cast("string")
           + " decision") for i, r in enumerate(_MISSING_REASONS)],
        else_="cannot decide grade " + j._unknown.cast("string"),
    )
    # Preconditions first: without a value in the canonical unit nothing can be compared.
    pre = [
        (j._value.isnull(), ibis.literal("no value")),
        (j._unit.isnull() | (j._unit == ""), ibis.literal("unit unknown")),
        (j._unit.lower() != j.canonical_unit.lower(),
         "unit " + j._unit + " is not the canonical unit " + j.canonical_unit),
    ]
    graded = j.select(
        *columns,
        term=j.term,
        direction=j.direction,
        # The limits the grade was decided with: the row's own, else the protocol default.
        lln_applied=j._lln,
        uln_applied=j._uln,
        grade=ibis.cases(*((c, ibis.null("int64")) for c, _ in pre), (j._undecided, ibis.null("int64")),
                         else_=j._true.fill_null(0)),
        grade_reason=ibis.cases(*pre, (j._undecided, reason_text), else_=ibis.null("string")),
    )
    others = labs.filter(labs.test.isnull() | ~labs.test.isin(graded_tests)).mutate(
        term=ibis.null("string"),
        direction=ibis.null("string"),
        lln_applied=labs.lln.cast("float64"),
        uln_applied=labs.uln.cast("float64"),
        grade=ibis.null("int64"),
        grade_reason=ibis.literal(f"no CTCAE v{criteria.version} lab term for this test", "string"),
    )
    return ibis.union(graded, others, distinct=False)


def derive_lab_baselines(
    labs: ir.Table,
    lookback_days: int,
    *,
    ties: Literal["lower", "higher"] = "higher",
) -> ir.Table:
    """One row per patient and test: the last value in days [-lookback_days, 0] (same day:
    the higher), its day and record, protocol section 9, from
    `ctit.engine.baseline.derive_baseline`. Rows of unknown unit are not baseline candidates,
    since their value is not in the canonical unit."""
    unit = labs.unit.cast("string").strip()
    candidates = labs.filter(unit.notnull() & (unit != ""))
    base = derive_baseline(candidates, lookback_days=lookback_days, ties=ties, keep=_source_row(candidates))
    return base.select(_b_patient_id=base.patient_id, _b_test=base.test,
                       _b_value=base.baseline_value.cast("float64"), _b_day=base.baseline_day,
                       _b_row=base.baseline_source_row if "source_row" in labs.columns else ibis.null("int64"))


def with_baseline(
    labs: ir.Table,
    lookback_days: int,
    *,
    ties: Literal["lower", "higher"] = "higher",
    baselines: ir.Table | None = None,
) -> ir.Table:
    """Labs with `baseline_value` per patient and test: a given non-null `baseline_value` is
    kept, else the section-9 baseline of `derive_lab_baselines` (`baselines`, when the caller
    has stored it: the grading query reads it three times)."""
    base = baselines if baselines is not None else derive_lab_baselines(labs, lookback_days, ties=ties)
    joined = labs.left_join(base, (labs.patient_id == base._b_patient_id) & (labs.test == base._b_test))
    if "baseline_value" in labs.columns:
        given = joined.baseline_value.notnull()
        value = joined.baseline_value.cast("float64").coalesce(joined._b_value)
        day = ibis.cases((given, ibis.null("int64")), else_=joined._b_day)
    else:
        value, day = joined._b_value, joined._b_day
    row = ibis.cases((given, ibis.null("int64")), else_=joined._b_row) if "baseline_value" in labs.columns \
        else joined._b_row
    # The baseline's day and record (null for a given baseline_value) let ADaM flag it (ABLFL).
    return joined.mutate(baseline_value=value, baseline_day=day, baseline_source_row=row.cast("int64")).drop(
        "_b_patient_id", "_b_test", "_b_value", "_b_day", "_b_row")


def _source_row(t: ir.Table) -> tuple[str, ...]:
    return ("source_row",) if "source_row" in t.columns else ()
