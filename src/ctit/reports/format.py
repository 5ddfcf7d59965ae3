"""Numbers as every output writes them: the terminal, HTML, DOCX, XLSX and the figures."""

from __future__ import annotations

from typing import Any

import pandas as pd

DASH = "\u2013"  # en dash, for ranges and intervals
NE = "not estimable"


def fmt_num(x: Any, digits: int = 1) -> str:
    """A value as reported: integers without decimals, others with `digits` decimals."""
    if x is None or (isinstance(x, float) and pd.isna(x)):
        return NE
    x = float(x)
    return str(int(x)) if x.is_integer() else f"{x:.{digits}f}"


_SUPERSCRIPT = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")


def fmt_p(p: float | None, *, ascii: bool = False) -> str:
    """A p-value: three decimals, or 'm.mm × 10⁻ᵉ' below 0.001; `ascii` writes
    'm.mm x 10^-e' for the terminal."""
    if p is None:
        return NE
    if p < 0.001:
        mantissa, exponent = f"{p:.2e}".split("e")
        if ascii:
            return f"{mantissa} x 10^{int(exponent)}"
        return f"{mantissa} \u00d7 10{str(int(exponent)).translate(_SUPERSCRIPT)}"
    return f"{p:.3f}"


def fmt_pct(pct: float | None) -> str:
    return NE if pct is None else f"{pct:.1f}"


def fmt_ci(low: float | None, high: float | None) -> str:
    """A confidence interval to one decimal; a bound the data do not reach is 'not estimable'."""
    if low is None and high is None:
        return NE

    def one(x: float | None) -> str:
        return NE if x is None else f"{x:.1f}"

    return f"{one(low)} {DASH} {one(high)}"


def fmt_n_pct(k: int, pct: float | None) -> str:
    return f"{k} ({fmt_pct(pct)})" if pct is not None else f"{k}"


def fmt_range(median: Any, low: Any, high: Any) -> str:
    if median is None:
        return NE
    return f"{fmt_num(median)} ({fmt_num(low)} {DASH} {fmt_num(high)})"
