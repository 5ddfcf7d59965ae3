"""The protocol: every clinical rule's parameters, loaded from a YAML file.

`load_protocol()` reads the bundled `atra-ctit` protocol (or a user's file) and applies
`--set name=value` overrides. Unknown names and wrongly typed values are refused, so a
typo never silently falls back to a default.
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass, field, fields
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml


class ProtocolError(ValueError):
    """A protocol file or override that cannot be used; the message says which parameter."""


@dataclass(frozen=True)
class Target:
    """What makes a platelet count meet a response rule's target (protocol section 6).

    Exactly one of the two kinds is set:
    - `count_at_least`: the name of a per-patient threshold (``cr_threshold``): count >= it;
    - `grade_improvement_from_nadir`: the name of a parameter holding n: grade <= nadir grade - n.
    """

    count_at_least: str | None = None
    grade_improvement_from_nadir: str | None = None

    @property
    def kind(self) -> Literal["count_at_least", "grade_improvement_from_nadir"]:
        return "count_at_least" if self.count_at_least else "grade_improvement_from_nadir"


@dataclass(frozen=True)
class ResponseRule:
    """One response category as data (protocol sections 5-6)."""

    category: str
    target: Target
    max_bleeding_who_grade: int | None = None


@dataclass(frozen=True)
class Protocol:
    name: str
    title: str
    ctcae_version: str
    followup_end_day: int
    default_platelet_lln: float
    baseline_lookback_days: int
    nadir_lookback_days: int
    baseline_bleeding_lookback_days: int
    tpo_ra_min_days: int
    tpo_ra_switch_gap_days: int
    onset_by_day: int
    sustain_days: int
    transfusion_washout_days: int
    transfusion_products: tuple[str, ...]
    cr_threshold: float
    use_individual_baseline: bool
    pr_grade_improvement: int
    response_rules: tuple[ResponseRule, ...]
    ci_level: float
    landmark_days: tuple[int, ...]
    landmark_window_days: int
    wilcoxon_exact_max_n: int
    difference_rounding_digits: int
    teae_window_days: int
    planned_treatment_days: int
    enzyme_baseline_lookback_days: int
    default_enzyme_uln: float
    dose_mg_per_m2: float
    dose_rounding_mg: float
    source: str = field(default="", compare=False)

    def as_dict(self) -> dict[str, Any]:
        """Effective parameters, JSON-ready, in file order."""
        d = asdict(self)
        d.pop("source")
        return _jsonable(d)

    def parameter(self, name: str) -> Any:
        """A parameter by name, for rules that refer to parameters (e.g. a target)."""
        if name not in {f.name for f in fields(self)}:
            raise ProtocolError(f"rule refers to unknown protocol parameter {name!r}")
        return getattr(self, name)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


BUNDLED = ("atra-ctit",)


def bundled_path(name: str = "atra-ctit") -> Path:
    return Path(str(resources.files("ctit").joinpath("protocols", f"{name}.yaml")))


def _coerce(name: str, value: Any, annotation: Any) -> Any:
    """Check and convert one parameter to its declared type."""
    ann = str(annotation)
    try:
        if name == "response_rules":
            return tuple(_rule(r) for r in value)
        if ann == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise TypeError
            return int(value)
        if ann == "float":
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if ann == "bool":
            if isinstance(value, str):
                if value.lower() in ("true", "yes", "1"):
                    return True
                if value.lower() in ("false", "no", "0"):
                    return False
                raise TypeError
            if not isinstance(value, bool):
                raise TypeError
            return value
        if ann == "str":
            return str(value)
        if ann == "tuple[int, ...]":
            return tuple(int(v) for v in value)
        if ann == "tuple[str, ...]":
            if isinstance(value, str):
                raise TypeError
            # Products and similar vocabularies are compared as the readers store them.
            return tuple(str(v).strip().lower() for v in value)
    except (TypeError, ValueError, KeyError) as exc:
        raise ProtocolError(f"parameter {name!r}: {value!r} is not a valid {ann}") from exc
    raise ProtocolError(f"parameter {name!r}: unsupported type {ann}")


def _rule(raw: dict[str, Any]) -> ResponseRule:
    if not isinstance(raw, dict) or "category" not in raw or "target" not in raw:
        raise KeyError("a response rule needs 'category' and 'target'")
    target = raw["target"]
    if not isinstance(target, dict) or len(target) != 1 or not set(target) <= {
            "count_at_least", "grade_improvement_from_nadir"}:
        raise KeyError("a target is one of {count_at_least: NAME} or {grade_improvement_from_nadir: NAME}")
    bleed = raw.get("max_bleeding_who_grade")
    return ResponseRule(str(raw["category"]), Target(**{k: str(v) for k, v in target.items()}),
                        None if bleed is None else int(bleed))


def _parse_override(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise ProtocolError(f"--set takes name=value, got {text!r}")
    name, _, raw = text.partition("=")
    return name.strip(), load_yaml(raw, f"--set {name.strip()}")


def load_yaml(text: str, where: str) -> Any:
    """YAML as plain data: a syntax error or any tag (``!!python/...``, ``!!binary``) is a
    ProtocolError naming `where` (the file or the --set) and the line."""
    def fail(mark: Any, what: str) -> ProtocolError:
        line = f", line {mark.line + 1}" if mark is not None else ""
        return ProtocolError(f"{where}{line}: {what}")

    try:
        for token in yaml.scan(text):
            if isinstance(token, yaml.TagToken):
                raise fail(token.start_mark, "YAML tags are not allowed in a protocol; write the plain value")
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        what = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise fail(mark, f"not valid YAML ({what})") from None


def load_protocol(path: str | Path | None = None, overrides: list[str] | dict[str, Any] | None = None) -> Protocol:
    """Load a protocol file (default: the bundled atra-ctit) and apply overrides.

    A user's file may give only the parameters it changes; the rest come from atra-ctit.
    """
    base_path = bundled_path()
    data = load_yaml(base_path.read_text(encoding="utf-8"), str(base_path))
    source = str(base_path)
    if path is not None:
        p = Path(path)
        if not p.exists() and str(path) in BUNDLED:
            p = bundled_path(str(path))
        if not p.exists():
            raise ProtocolError(f"protocol file not found: {path}")
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ProtocolError(f"protocol file {p} cannot be read: {exc}") from None
        user = load_yaml(text, str(p)) or {}
        if not isinstance(user, dict):
            raise ProtocolError(f"protocol file {p} is not a mapping of parameters")
        data.update(user)
        source = str(p)
    if isinstance(overrides, dict):
        items = list(overrides.items())
    else:
        items = [_parse_override(o) for o in overrides or []]
    for name, value in items:
        data[name] = value
    if items:
        source += " with " + ", ".join(f"{k}={v}" for k, v in items)

    declared = {f.name: f for f in fields(Protocol) if f.name != "source"}
    unknown = sorted(set(data) - set(declared))
    if unknown:
        raise ProtocolError(f"unknown protocol parameter(s): {', '.join(unknown)}")
    missing = sorted(set(declared) - set(data))
    if missing:
        raise ProtocolError(f"protocol lacks parameter(s): {', '.join(missing)}")
    values = {n: _coerce(n, data[n], f.type) for n, f in declared.items()}
    protocol = Protocol(**values, source=source)
    _check(protocol)
    return protocol


TRANSFUSION_PRODUCTS = ("platelets", "rbc", "plasma", "other")
# Targets compare a count with a per-patient threshold; cr_threshold is the one the engine
# derives (section 6: 100, or the individual baseline below it).
PER_PATIENT_THRESHOLDS = ("cr_threshold",)


@dataclass(frozen=True)
class ParameterRange:
    """The values a numeric parameter may take (protocols/parameter_ranges.csv)."""

    parameter: str
    min: float
    max: float
    unit: str
    why: str


@cache
def parameter_ranges() -> dict[str, ParameterRange]:
    """Every numeric parameter's range, from the data file beside the bundled protocol."""
    path = resources.files("ctit").joinpath("protocols", "parameter_ranges.csv")
    with path.open(encoding="utf-8", newline="") as fh:
        return {r["parameter"]: ParameterRange(r["parameter"], float(r["min"]), float(r["max"]),
                                               r["unit"], r["why"]) for r in csv.DictReader(fh)}


def check_ranges(p: Protocol) -> None:
    """Refuse a numeric parameter that is not finite or lies outside its range."""
    ranges = parameter_ranges()
    for f in fields(p):
        value = getattr(p, f.name)
        values = value if isinstance(value, tuple) else (value,)
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if not numbers:
            continue
        r = ranges.get(f.name)   # every numeric parameter has one (a test checks)
        for v in numbers:
            if not math.isfinite(v):
                raise ProtocolError(f"parameter {f.name!r} must be a finite number, got {v}")
            if r is not None and not r.min <= v <= r.max:
                raise ProtocolError(f"parameter {f.name!r} must be between {r.min:g} and {r.max:g} "
                                    f"{r.unit} ({r.why}), got {v:g}")


def _check(p: Protocol) -> None:
    """Refuse values that make no clinical sense."""
    check_ranges(p)
    if p.onset_by_day > p.followup_end_day:
        raise ProtocolError(f"onset_by_day ({p.onset_by_day}) is after followup_end_day ({p.followup_end_day})")
    for day in p.landmark_days:
        if not 1 <= day <= p.followup_end_day:
            raise ProtocolError(f"landmark day {day} is outside days 1 to followup_end_day ({p.followup_end_day})")
    unknown = sorted(set(p.transfusion_products) - set(TRANSFUSION_PRODUCTS))
    if unknown:
        raise ProtocolError(f"transfusion_products: unknown product(s) {', '.join(unknown)}; "
                            f"choose from {', '.join(TRANSFUSION_PRODUCTS)}")
    categories = [r.category for r in p.response_rules]
    if not categories or len(set(categories)) != len(categories) or {"NR", "NE"} & set(categories):
        raise ProtocolError(f"response_rules need distinct categories other than NR and NE, got {categories}")
    for rule in p.response_rules:
        if rule.target.count_at_least is not None:
            if rule.target.count_at_least not in PER_PATIENT_THRESHOLDS:
                raise ProtocolError(f"rule {rule.category}: count_at_least must name a per-patient threshold "
                                    f"({', '.join(PER_PATIENT_THRESHOLDS)}), got {rule.target.count_at_least!r}")
        else:
            n = p.parameter(rule.target.grade_improvement_from_nadir)
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ProtocolError(f"rule {rule.category}: grade_improvement_from_nadir must name a whole-number "
                                    f"parameter of at least 1, got {rule.target.grade_improvement_from_nadir}={n!r}")
