"""One helper for per-patient columns, shared by the statistics and the reports."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd


def per_distinct(column: pd.Series, cell: Callable[[Any], Any]) -> pd.Series:
    """`cell` applied once per distinct value of a column (missing values: to None), as an
    object column: a per-patient table of a million rows has few distinct values per column."""
    codes, values = pd.factorize(column, use_na_sentinel=True)
    # A missing value's code is -1, which picks the last entry: the one of None.
    mapped = np.empty(len(values) + 1, dtype=object)
    mapped[:] = [cell(v) for v in values] + [cell(None)]
    return pd.Series(mapped[codes], index=column.index, dtype=object)
