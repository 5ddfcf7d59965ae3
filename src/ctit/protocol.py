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


TargetKind = Literal["count_at_least", "times_baseline_at_least", "rise_from_baseline_at_least",
                     "grade_improvement_from_nadir", "any_of", "all_of"]
TARGET_KINDS: tuple[str, ...] = ("count_at_least", "times_baseline_at_least", "rise_from_baseline_at_least",
                                 "grade_improvement_from_nadir", "any_of", "all_of")


# Protocol section 4, in order: the first failed criterion places a patient in the flow diagram.
EXCLUSION_REASONS = (
    "no_study_drug",
    "no_prior_tpo_ra",
    "no_baseline_platelets",
    "baseline_not_grade_2_plus",
    "no_post_baseline_platelets",
)
# Criteria a protocol may waive (`waived_criteria`): their absence leaves every derivation defined.
WAIVABLE_CRITERIA = ("no_prior_tpo_ra", "baseline_not_grade_2_plus")


@dataclass(frozen=True)
class Target:
    """What makes a platelet count meet a response rule's target (protocol section 6).

    One `kind` with its `value` (a number, or the name of a protocol parameter), or, for
    `any_of` / `all_of`, the `parts` it combines:
    - `count_at_least`: count >= a per-patient threshold named by `value` (``cr_threshold``) or a number;
    - `times_baseline_at_least`: count >= value x the baseline count (section 3);
    - `rise_from_baseline_at_least`: count - baseline count >= value;
    - `grade_improvement_from_nadir`: grade <= nadir grade - value (a whole number);
    - `any_of` / `all_of`: at least one / every part is met.
    """

    kind: TargetKind
    value: float | str | None = None
    parts: tuple["Target", ...] = ()

    @property
    def count_at_least(self) -> str | float | None:
        return self.value if self.kind == "count_at_least" else None

    @property
    def grade_improvement_from_nadir(self) -> str | float | None:
        return self.value if self.kind == "grade_improvement_from_nadir" else None

    def as_dict(self) -> dict[str, Any]:
        if self.kind in ("any_of", "all_of"):
            return {self.kind: [p.as_dict() for p in self.parts]}
        return {self.kind: self.value}

    def leaves(self) -> tuple["Target", ...]:
        return tuple(x for p in self.parts for x in p.leaves()) if self.parts else (self,)


@dataclass(frozen=True)
class Confirmation:
    """How a response is confirmed (section 5): every count for `days` days (`sustained_days`,
    the seed's rule), or a second qualifying count at least `days` days after the first
    (`two_counts_min_days_apart`, as IWG's "two occasions"). `days` is a number or the name of
    a protocol parameter (``sustain_days``); or `single_count`: one count meeting the target is
    the response (trials whose endpoint is "a count of at least X by day D")."""

    kind: Literal["sustained_days", "two_counts_min_days_apart", "single_count"] = "sustained_days"
    days: int | str = "sustain_days"

    def as_dict(self) -> dict[str, Any] | str:
        return "single_count" if self.kind == "single_count" else {self.kind: self.days}


@dataclass(frozen=True)
class ResponseRule:
    """One response category as data (protocol sections 5-6). Optional fields left empty take
    the protocol-wide value (onset_by_day, transfusion_washout_days, sustain_days)."""

    category: str
    target: Target
    max_bleeding_who_grade: int | None = None
    label: str = ""
    counts_as_response: bool = True
    confirmation: Confirmation = Confirmation()
    onset_by_day: int | None = None
    transfusion_washout_days: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"category": self.category, "label": self.label, "target": self.target.as_dict(),
                "confirmation": self.confirmation.as_dict(),
                "max_bleeding_who_grade": self.max_bleeding_who_grade,
                "counts_as_response": self.counts_as_response, "onset_by_day": self.onset_by_day,
                "transfusion_washout_days": self.transfusion_washout_days}


@dataclass(frozen=True)
class Protocol:
    name: str
    title: str
    reference: str      # the publication or document the definitions come from
    not_encoded: str    # what of that source the rule grammar could not express
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
    refractory_min_grade: int
    waived_criteria: tuple[str, ...] = ()
    source: str = field(default="", compare=False)

    def as_dict(self) -> dict[str, Any]:
        """Effective parameters, JSON-ready, in file order; `load_protocol` reads it back."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "source"}
        d["response_rules"] = [r.as_dict() for r in self.response_rules]
        return _jsonable(d)

    # Effective values of a rule's optional fields.
    def onset_by(self, rule: ResponseRule) -> int:
        return self.onset_by_day if rule.onset_by_day is None else rule.onset_by_day

    def washout(self, rule: ResponseRule) -> int:
        return self.transfusion_washout_days if rule.transfusion_washout_days is None else rule.transfusion_washout_days

    def confirmation_days(self, rule: ResponseRule) -> int:
        days = rule.confirmation.days
        return int(self.parameter(days) if isinstance(days, str) else days)

    def number(self, value: float | str) -> float:
        """A target's number: given, or the protocol parameter it names."""
        return float(self.parameter(value)) if isinstance(value, str) else float(value)

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


def bundled_names() -> tuple[str, ...]:
    """The protocol library shipped with ctit (src/ctit/protocols/*.yaml), atra-ctit first."""
    folder = resources.files("ctit").joinpath("protocols")
    names = sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))
    return tuple(sorted(names, key=lambda n: n != "atra-ctit"))


BUNDLED = bundled_names()


def bundled_path(name: str = "atra-ctit") -> Path:
    return Path(str(resources.files("ctit").joinpath("protocols", f"{name}.yaml")))


def _coerce(name: str, value: Any, annotation: Any) -> Any:
    """Check and convert one parameter to its declared type."""
    ann = str(annotation)
    try:
        if name == "ctcae_version" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return f"{float(value):.1f}"  # --set ctcae_version=6 or 6.0 (YAML reads a number)
        if name == "response_rules":
            if not isinstance(value, (list, tuple)):
                raise TypeError
            try:
                return tuple(_rule(r) for r in value)
            except KeyError as exc:
                raise ProtocolError(f"parameter 'response_rules': {exc.args[0]}") from None
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
    except ProtocolError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise ProtocolError(f"parameter {name!r}: {value!r} is not a valid {ann}") from exc
    raise ProtocolError(f"parameter {name!r}: unsupported type {ann}")


RULE_KEYS = ("category", "label", "target", "confirmation", "max_bleeding_who_grade", "counts_as_response",
             "onset_by_day", "transfusion_washout_days")


def _number_or_name(value: Any) -> float | str:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise KeyError(f"{value!r} is neither a number nor a parameter name")
    return value.strip() if isinstance(value, str) else float(value)


def _target(raw: Any) -> Target:
    if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in TARGET_KINDS:
        raise KeyError("a target is one mapping {KIND: VALUE}, KIND one of " + ", ".join(TARGET_KINDS))
    kind, value = next(iter(raw.items()))
    if kind in ("any_of", "all_of"):
        if not isinstance(value, list) or not value:
            raise KeyError(f"{kind} takes a non-empty list of targets")
        return Target(kind, None, tuple(_target(v) for v in value))
    return Target(kind, _number_or_name(value))


def _optional_int(raw: dict[str, Any], key: str) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
        raise KeyError(f"{key} must be a whole number, got {value!r}")
    return int(value)


def _rule(raw: dict[str, Any]) -> ResponseRule:
    if not isinstance(raw, dict) or "category" not in raw or "target" not in raw:
        raise KeyError("a response rule needs 'category' and 'target'")
    unknown = sorted(set(raw) - set(RULE_KEYS))
    if unknown:
        raise KeyError(f"unknown response rule key(s) {', '.join(unknown)}; known: {', '.join(RULE_KEYS)}")
    confirmation = Confirmation()
    if raw.get("confirmation") == "single_count":
        confirmation = Confirmation("single_count", 0)
    elif raw.get("confirmation") is not None:
        c = raw["confirmation"]
        kinds = ("sustained_days", "two_counts_min_days_apart")
        if not isinstance(c, dict) or len(c) != 1 or next(iter(c)) not in kinds:
            raise KeyError("confirmation is {sustained_days: N}, {two_counts_min_days_apart: N} or single_count")
        kind, days = next(iter(c.items()))
        days = _number_or_name(days)
        confirmation = Confirmation(kind, days if isinstance(days, str) else int(days))
    counts = raw.get("counts_as_response", True)
    if not isinstance(counts, bool):
        raise KeyError("counts_as_response must be true or false")
    return ResponseRule(str(raw["category"]), _target(raw["target"]), _optional_int(raw, "max_bleeding_who_grade"),
                        label=str(raw.get("label") or ""), counts_as_response=counts, confirmation=confirmation,
                        onset_by_day=_optional_int(raw, "onset_by_day"),
                        transfusion_washout_days=_optional_int(raw, "transfusion_washout_days"))


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
        # A file's source is its own: never inherit atra-ctit's citation.
        data.update({"reference": "", "not_encoded": ""})
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


CTCAE_VERSIONS = ("5.0", "6.0")


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
    if p.ctcae_version not in CTCAE_VERSIONS:
        raise ProtocolError(f"parameter 'ctcae_version': {p.ctcae_version!r} is not one of "
                            f"{', '.join(CTCAE_VERSIONS)}")
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
    # Without the study drug there is no day 0, without baseline or post-baseline counts no response.
    unknown = sorted(set(p.waived_criteria) - set(WAIVABLE_CRITERIA))
    if unknown:
        raise ProtocolError(f"waived_criteria: unknown or unwaivable criterion {', '.join(unknown)}; "
                            f"choose from {', '.join(WAIVABLE_CRITERIA)}")
    categories = [r.category for r in p.response_rules]
    if not categories or len(set(categories)) != len(categories) or {"NR", "NE"} & set(categories):
        raise ProtocolError(f"response_rules need distinct categories other than NR and NE, got {categories}")
    for rule in p.response_rules:
        _check_rule(p, rule)


def _check_rule(p: Protocol, rule: ResponseRule) -> None:
    where = f"rule {rule.category}"
    for t in rule.target.leaves():
        if t.kind == "count_at_least":
            if isinstance(t.value, str) and t.value not in PER_PATIENT_THRESHOLDS:
                raise ProtocolError(f"{where}: count_at_least must be a number or name a per-patient threshold "
                                    f"({', '.join(PER_PATIENT_THRESHOLDS)}), got {t.value!r}")
            if not isinstance(t.value, str) and t.value <= 0:
                raise ProtocolError(f"{where}: count_at_least must be positive, got {t.value}")
        elif t.kind == "grade_improvement_from_nadir":
            n = p.parameter(t.value) if isinstance(t.value, str) else t.value
            if isinstance(n, bool) or not isinstance(n, (int, float)) or float(n) != int(n) or n < 1 \
                    or (isinstance(t.value, str) and not isinstance(n, int)):
                raise ProtocolError(f"{where}: grade_improvement_from_nadir must name a whole-number "
                                    f"parameter of at least 1, got {t.value}={n!r}")
        else:
            n = p.parameter(t.value) if isinstance(t.value, str) else t.value
            if isinstance(n, bool) or not isinstance(n, (int, float)) or n <= 0:
                raise ProtocolError(f"{where}: {t.kind} must be a positive number, got {t.value}={n!r}")
    days = rule.confirmation.days
    n = p.parameter(days) if isinstance(days, str) else days
    if (isinstance(n, bool) or not isinstance(n, int) or n <= 0) and rule.confirmation.kind != "single_count":
        raise ProtocolError(f"{where}: confirmation days must be a positive whole number, got {days}={n!r}")
    if rule.onset_by_day is not None and not 1 <= rule.onset_by_day <= p.followup_end_day:
        raise ProtocolError(f"{where}: onset_by_day {rule.onset_by_day} is outside days 1 to followup_end_day")
    if rule.transfusion_washout_days is not None and rule.transfusion_washout_days < 0:
        raise ProtocolError(f"{where}: transfusion_washout_days must not be negative")
    if rule.max_bleeding_who_grade is not None and not 0 <= rule.max_bleeding_who_grade <= 4:
        raise ProtocolError(f"{where}: max_bleeding_who_grade must be a WHO grade 0-4")
