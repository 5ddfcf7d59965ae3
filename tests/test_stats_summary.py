"""Descriptive summaries; quartiles pinned against R 4.2.2 (type 7):
`quantile(x, c(.25, .5, .75))`.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from ctit.stats import Summary, summarize


@pytest.mark.parametrize(
    ("values", "q1", "median", "q3"),
    [
        # quantile(c(140, 12, 55, 78, 33, 91, 7, 260), c(.25, .5, .75))
        ([140, 12, 55, 78, 33, 91, 7, 260], 27.75, 66.5, 103.25),
        # quantile(c(23.5, 8.25, 41), c(.25, .5, .75))
        ([23.5, 8.25, 41], 15.875, 23.5, 32.25),
        # quantile(c(3, 9), c(.25, .5, .75))
        ([3, 9], 4.5, 6.0, 7.5),
        # quantile(5, c(.25, .5, .75))
        ([5], 5.0, 5.0, 5.0),
    ],
)
def test_quartiles_match_r(values: list[float], q1: float, median: float, q3: float) -> None:
    s = summarize(values)
    assert (s.q1, s.median, s.q3) == pytest.approx((q1, median, q3), rel=1e-12)
    assert (s.n, s.min, s.max) == (len(values), min(values), max(values))


def test_empty() -> None:
    assert summarize([]) == Summary(0, None, None, None, None, None)
    assert summarize([None, math.nan]) == Summary(0, None, None, None, None, None)


def test_missing_values_are_ignored() -> None:
    values = [None, 140, float("nan"), 12, np.nan, 55, pd.NA, 78, 33, 91, 7, 260]
    assert summarize(values) == summarize([140, 12, 55, 78, 33, 91, 7, 260])


def test_accepts_pandas_and_numpy() -> None:
    series = pd.Series([1.0, None, 3.0, 2.0])
    assert summarize(series) == summarize(np.array([1.0, 3.0, 2.0])) == summarize([1, 2, 3])


def test_infinite_is_an_error() -> None:
    with pytest.raises(ValueError):
        summarize([1, math.inf])


def test_as_dict_is_json_ready() -> None:
    d = json.loads(json.dumps(summarize(np.array([3, 9])).as_dict()))
    assert d == {"n": 2, "median": 6.0, "min": 3.0, "max": 9.0, "q1": 4.5, "q3": 7.5}
    assert all(type(v) in (int, float) for v in summarize(np.array([3, 9])).as_dict().values())
