"""The one results object: every output (JSON, terminal, HTML, DOCX, XLSX) renders from it.

`analyze_study` runs the derivations, then the statistics on the per-patient table. The
`to_dict()` form is exactly `results.json` of the data contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ctit import __version__
from ctit.engine.derivations import Derivations, derive_study
from ctit.errors import raise_if_errors
from ctit.protocol import EXCLUSION_REASONS, Protocol
from ctit.stats import clopper_pearson, kaplan_meier, summarize, wilcoxon_signed_rank
from ctit.study import Study
from ctit.subgroups import subgroup_orr

LAB_GRADES = ("1", "2", "3", "4")
REPORTED_GRADES = ("1", "2", "3", "4", "5")
LIVER_TERM = "Liver enzymes increased"


@dataclass
class StudyResults:
    """Everything `ctit analyze` found, with the methods that found it."""

    protocol: Protocol
    cohort: dict[str, Any]
    baseline_platelets: dict[str, Any]
    landmarks: list[dict[str, Any]]
    response: dict[str, Any]
    time_to_cr: dict[str, Any]
    safety_events: list[dict[str, Any]]
    inputs: list[dict[str, Any]]
    warnings: list[str]
    derivations: Derivations = field(repr=False)
    study: Study = field(repr=False)
    kaplan_meier: Any = field(default=None, repr=False)
    # Beyond the contract's keys: other graded lab terms worse than baseline, and subgroups.
    other_lab_events: list[dict[str, Any]] = field(default_factory=list)
    subgroups: list[dict[str, Any]] = field(default_factory=list)
    # The engine's best-response categories in order (code, label, counts_as_response, color_key).
    categories: list[dict[str, Any]] = field(default_factory=list)
    # `ctit analyze --sensitivity`: one row per response definition (ctit.sensitivity), or None.
    sensitivity: list[dict[str, Any]] | None = None
    version: str = __version__

    @property
    def patients(self) -> pd.DataFrame:
        return self.derivations.patients

    @property
    def included(self) -> pd.DataFrame:
        """The included patients' rows of the per-patient table."""
        return self.patients[self.patients.included.astype(bool)]

    def to_dict(self) -> dict[str, Any]:
        """results.json, as the data contract lists it."""
        return {
            "protocol": {**self.protocol.as_dict(), "version": self.version},
            "cohort": self.cohort,
            "baseline_platelets": self.baseline_platelets,
            "landmarks": self.landmarks,
            "response": self.response,
            "time_to_cr": self.time_to_cr,
            "safety": {"events": self.safety_events, "other_lab_events": self.other_lab_events},
            "subgroups": self.subgroups,
            "categories": self.categories,
            "inputs": self.inputs,
            "warnings": self.warnings,
            # Only when asked for, so results.json keeps the contract's keys otherwise.
            **({} if self.sensitivity is None else {"sensitivity": self.sensitivity}),
        }


def _cohort(patients: pd.DataFrame) -> dict[str, Any]:
    first = patients.loc[~patients.included.astype(bool), "first_exclusion_reason"]
    return {
        "screened": int(len(patients)),
        "included": int(patients.included.astype(bool).sum()),
        "excluded": [{"reason": r, "n": int((first == r).sum())} for r in EXCLUSION_REASONS],
    }


def _landmarks(included: pd.DataFrame, protocol: Protocol) -> list[dict[str, Any]]:
    out = []
    for day in protocol.landmark_days:
        change = included[f"change_d{day}"].dropna().astype(float).tolist()
        s = summarize(change)
        w = wilcoxon_signed_rank(change, exact_max_n=protocol.wilcoxon_exact_max_n,
                                 rounding_digits=protocol.difference_rounding_digits)
        out.append({
            "day": int(day),
            "n_pairs": w.n_pairs,
            "n_nonzero": w.n_nonzero,
            "median_change": s.median,
            "min_change": s.min,
            "max_change": s.max,
            "method": w.method,
            "p_value": w.p_value,
            "statistic": w.statistic,
        })
    return out


def _proportion(k: int, n: int, level: float) -> dict[str, Any]:
    p = clopper_pearson(k, n, level=level)
    return {"n": int(k), "pct": p.pct, "ci95_low": p.ci95_low, "ci95_high": p.ci95_high}


# results.json always has these keys (data contract), whatever the protocol's categories.
CONTRACT_CATEGORIES = ("cr", "pr", "nr", "ne")


def _response(included: pd.DataFrame, categories: list[dict[str, Any]], protocol: Protocol) -> dict[str, Any]:
    """Each category of the engine's categories table (and the contract's), and the ORR:
    the categories that count as a response."""
    n = int(len(included))
    best = included.best_response
    codes = [str(c["code"]) for c in categories]
    counts = {c.lower(): int((best == c).sum()) for c in codes}
    for key in CONTRACT_CATEGORIES:
        counts.setdefault(key, 0)
    responders = int(best.isin([str(c["code"]) for c in categories if c["counts_as_response"]]).sum())
    out: dict[str, Any] = {"n": n}
    for key, k in counts.items():
        out[key] = _proportion(k, n, protocol.ci_level)
    out["orr"] = _proportion(responders, n, protocol.ci_level)
    return out


def _time_to_cr(included: pd.DataFrame, protocol: Protocol) -> tuple[dict[str, Any], Any]:
    times = included.time_to_cr.dropna().astype(float).tolist()
    s = summarize(times)
    km_input = included[["km_time", "km_event"]].dropna()
    km = kaplan_meier(km_input.km_time.astype(float).tolist(), km_input.km_event.astype(bool).tolist(),
                      level=protocol.ci_level)
    return {
        "n": s.n,
        "median": s.median,
        "min": s.min,
        "max": s.max,
        "km_median": km.median,
        "km_ci95_low": km.ci_low,
        "km_ci95_high": km.ci_high,
    }, km


def _event(term: str, source: str, grades: pd.Series, n: int, scale: tuple[str, ...]) -> dict[str, Any]:
    """One safety entry: patients with any grade, n (%), and patients per grade (zeros kept)."""
    return {"term": term, "source": source, "n_any": int(len(grades)),
            "pct_any": 100.0 * len(grades) / n if n else None,
            "by_grade": {g: int((grades == int(g)).sum()) for g in scale}}


def _term_events(per_patient: pd.DataFrame, included: pd.DataFrame, source: str,
                 scale: tuple[str, ...]) -> list[dict[str, Any]]:
    """Entries per term from one row per patient and term (`max_grade`); the most frequent
    term first, then alphabetically, so the order is the same on every engine and run."""
    rows = per_patient[per_patient.patient_id.isin(included.patient_id)]
    order = rows.groupby("term").patient_id.nunique().reset_index(name="n")
    order = order.assign(key=order.term.str.lower()).sort_values(["n", "key"], ascending=[False, True])
    return [_event(term, source, rows.loc[rows.term == term, "max_grade"].astype(int), len(included), scale)
            for term in order.term]


def _safety(included: pd.DataFrame, reported: pd.DataFrame) -> list[dict[str, Any]]:
    """The contract's safety events (section 9): lab-derived liver enzymes, then each
    reported term; patients counted once at their highest grade; terms with a patient only."""
    events = []
    liver = included.liver_max_grade.dropna().astype(int)
    liver = liver[liver >= 1]
    if len(liver):
        events.append(_event(LIVER_TERM, "lab", liver, len(included), LAB_GRADES))
    return events + _term_events(reported, included, "reported", REPORTED_GRADES)


def _inputs(study: Study, unused: dict[str, int]) -> list[dict[str, Any]]:
    """Each input file with its rows, the rows a result rests on (every row not listed as
    unused, by the reader or the derivations), and SHA-256."""
    out = []
    for f in study.inputs:
        n_unused = unused.get(f.table, 0)
        out.append({"name": f.name, "table": f.table, "rows": f.rows, "rows_used": f.rows - n_unused,
                    "sha256": f.sha256})
    return out


def analyze_study(study: Study, protocol: Protocol, con: Any = None) -> StudyResults:
    """Derivations, then statistics: the study's Results from its canonical tables."""
    d = derive_study(study, protocol, con)
    # The recorded dose against the protocol's dose per m2 (data contract, plausibility): an
    # impossible dose stops the run before anything is written, an unusual one is a warning.
    from ctit.engine.dose_check import dose_problems

    dose = dose_problems(d.dose_checks, protocol.dose_mg_per_m2)
    raise_if_errors(dose)
    categories = [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
                  for row in d.categories.to_dict("records")]
    patients = d.patients
    included = patients[patients.included.astype(bool)]
    time_to_cr, km = _time_to_cr(included, protocol)
    base = summarize(included.baseline_plt.dropna().astype(float).tolist())
    return StudyResults(
        protocol=protocol,
        cohort=_cohort(patients),
        baseline_platelets={"n": base.n, "median": base.median, "min": base.min, "max": base.max,
                            "q1": base.q1, "q3": base.q3},
        landmarks=_landmarks(included, protocol),
        response=_response(included, categories, protocol),
        categories=categories,
        time_to_cr=time_to_cr,
        safety_events=_safety(included, d.reported_events),
        other_lab_events=_term_events(d.other_lab_events, included, "lab", LAB_GRADES),
        subgroups=subgroup_orr(patients, protocol),
        inputs=_inputs(study, d.unused_row_counts()),
        warnings=[str(w) for w in [*study.warnings, *dose]],
        derivations=d,
        study=study,
        kaplan_meier=km,
    )


def add_sensitivity(results: StudyResults, con: Any = None) -> StudyResults:
    """The definition-sensitivity table (ctit.sensitivity) on `results`: the study already read,
    the protocol's own per-patient table reused for its row."""
    from ctit.sensitivity import run_sensitivity

    table = run_sensitivity(results.study, results.protocol, con, patients=results.patients)
    # Python scalars at full precision, None for missing: as results.json will hold them.
    table = table.astype("object").where(table.notna(), None)
    results.sensitivity = [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
                           for row in table.to_dict("records")]
    return results
