"""Descriptive summary of one numeric variable: n, median, range and quartiles."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ctit.stats._common import as_dict, finite_floats


@dataclass(frozen=True)
class Summary:
    """n and the five-number summary of the non-missing values (all None when n = 0)."""

    n: int
    median: float | None
    min: float | None
    max: float | None
    q1: float | None
    q3: float | None

    def as_dict(self) -> dict[str, Any]:
        return as_dict(self)


def summarize(values: Iterable[Any]) -> Summary:
    """n, median, min, max and quartiles of `values`, ignoring None and NaN.

    Quartiles interpolate linearly between order statistics (Hyndman-Fan type 7): R's
    `quantile(x, c(0.25, 0.75))` default and numpy's `quantile(method="linear")`. SAS's
    PROC UNIVARIATE default (QNTLDEF=5) differs; set QNTLDEF=7 there to agree.
    Infinite values raise ValueError.
    """
    data = finite_floats(values, name="summarize")
    if not data:
        return Summary(n=0, median=None, min=None, max=None, q1=None, q3=None)
    arr = np.asarray(data, dtype=float)
    q1, median, q3 = np.quantile(arr, [0.25, 0.5, 0.75], method="linear")
    return Summary(
        n=len(data),
        median=float(median),
        min=float(arr.min()),
        max=float(arr.max()),
        q1=float(q1),
        q3=float(q3),
    )
