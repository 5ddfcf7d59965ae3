"""Helpers shared by the statistics modules (private)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import Any


def is_missing(value: Any) -> bool:
    """None, NaN (float or numpy) and pandas' NA/NaT count as missing."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, pd.NA-free path; NaT compares unequal to itself
    except TypeError:
        # pd.NA raises on bool(); it is missing by definition.
        return True


def finite_floats(values: Iterable[Any], *, name: str) -> list[float]:
    """The non-missing values as floats; infinite values are a caller error, not data."""
    out: list[float] = []
    for value in values:
        if type(value) is float:  # the usual case, without is_missing's calls (10^6 values)
            if value != value:
                continue
            number = value
        elif is_missing(value):
            continue
        else:
            number = float(value)
        if math.isinf(number):
            raise ValueError(f"{name}: infinite value {value!r}")
        out.append(number)
    return out


def plain(value: Any) -> Any:
    """Numpy scalars become Python numbers so results serialise to JSON as they are."""
    if hasattr(value, "item") and not isinstance(value, (list, tuple, dict)):
        return value.item()
    return value


def as_dict(result: Any) -> dict[str, Any]:
    """`dataclasses.asdict` with nested rows turned into lists of dicts."""
    out: dict[str, Any] = {}
    for field in dataclasses.fields(result):
        value = getattr(result, field.name)
        if isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
            out[field.name] = [as_dict(row) for row in value]
        else:
            out[field.name] = plain(value)
    return out


def percent_label(level: float) -> str:
    """A confidence level as the percentage a method name states (0.95 -> '95')."""
    return f"{100 * level:.10g}"
