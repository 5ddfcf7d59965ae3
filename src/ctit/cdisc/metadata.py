"""Variable-level metadata of the ADaM datasets (define-style): name, label, type, derivation.

The texts are data (`knowledge/adam_variables.csv`, dataset '*' = every dataset); `write_adam`
refuses a dataset variable that has no metadata row, so the sheet never lags the data.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache

import pandas as pd

from ctit import knowledge


@dataclass(frozen=True)
class Variable:
    dataset: str
    name: str
    label: str
    type: str          # char / num / date (a SAS date: numeric with format DATE9.)
    derivation: str
    origin: str = "Derived"  # define.xml def:Origin: Derived, Assigned, Predecessor, Collected
    codelist: str = ""       # define.xml CodeList name (NY, Y, PARAMCD, ...): terms from the data


@cache
def _rows() -> tuple[Variable, ...]:
    with knowledge.path("adam_variables.csv").open(encoding="utf-8", newline="") as fh:
        return tuple(Variable(r["dataset"], r["variable"], r["label"], r["type"], r["derivation"],
                              r.get("origin") or "Derived", r.get("codelist") or "")
                     for r in csv.DictReader(fh))


def variable(dataset: str, name: str) -> Variable:
    """The metadata of one variable; KeyError names what is missing."""
    for v in _rows():
        if v.name == name and v.dataset in (dataset, "*"):
            if v.dataset == dataset:
                return v
    for v in _rows():
        if v.name == name and v.dataset == "*":
            return v
    raise KeyError(f"{dataset}.{name}: no row in knowledge/adam_variables.csv")


def sheet(datasets: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The metadata sheet of the datasets as written: one row per (dataset, variable)."""
    rows = []
    for name, frame in datasets.items():
        for order, column in enumerate(frame.columns, 1):
            v = variable(name, column)
            rows.append({"dataset": name, "order": order, "variable": column, "label": v.label,
                         "type": v.type, "origin": v.origin, "codelist": v.codelist,
                         "derivation": v.derivation})
    return pd.DataFrame(rows)
