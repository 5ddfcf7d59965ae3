"""Numbers as every output writes them: the terminal, HTML, DOCX, XLSX and the figures.

The manuscript style is a report option (`ReportStyle`, set once per render with `use_style`);
its default is AMA style, as JCO and Blood ask: `P < .001` below .001, otherwise two decimals
(three below .01; three significant digits where two decimals would round across .05), no leading zero; ranges and intervals
with an en dash (`12–40`; `−5 to 10` when a bound is negative); within one row or column of a
table, one decimal rule (one decimal for all when any value is not whole).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pandas as pd

DASH = "\u2013"  # en dash, for ranges and intervals
NE = "not estimable"
P_STYLES = ("ama", "scientific")


@dataclass(frozen=True)
class ReportStyle:
    """How the reports write results. `p_values`: 'ama' (P < .001) or 'scientific' (the
    abstract's 'm.mm × 10⁻ᵉ' below .001, three decimals above); `min_subgroup_n`: forest-plot
    subgroup levels with fewer patients are pooled into 'Other' or left out. (Small-cell
    suppression is a property of the results shown: ctit.reports.suppression.)"""

    p_values: str = "ama"
    min_subgroup_n: int = 5

    def __post_init__(self) -> None:
        if self.p_values not in P_STYLES:
            raise ValueError(f"p-value style must be one of: {', '.join(P_STYLES)}")
        if self.min_subgroup_n < 1:
            raise ValueError("the minimum subgroup size must be 1 or more")


STYLE = ReportStyle()


@contextmanager
def use_style(style: ReportStyle) -> Iterator[None]:
    """Render with `style` (set before figure workers fork, so they inherit it)."""
    global STYLE
    before, STYLE = STYLE, style
    try:
        yield
    finally:
        STYLE = before


def set_style(style: ReportStyle) -> None:
    """Make `style` the style of every later render in this process (the CLI's option)."""
    global STYLE
    STYLE = style


def _missing(x: Any) -> bool:
    return x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x))


def decimals(values: Iterable[Any], digits: int = 1) -> int:
    """The one decimal rule of a row or column: `digits` when any value is not whole, else 0."""
    return digits if any(not _missing(v) and not float(v).is_integer() for v in values) else 0


def fmt_num(x: Any, digits: int = 1) -> str:
    """A value as reported: integers without decimals, others with `digits` decimals (for one
    rule across a row or column use `fmt_fixed` with `decimals`)."""
    if _missing(x):
        return NE
    x = float(x)
    return str(int(x)) if x.is_integer() else f"{x:.{digits}f}"


def fmt_fixed(x: Any, digits: int) -> str:
    """A value with exactly `digits` decimals (or 'not estimable')."""
    return NE if _missing(x) else f"{float(x):.{digits}f}"


def fmt_interval(low: str, high: str, low_value: Any = None, high_value: Any = None) -> str:
    """'low–high', or 'low to high' when a bound is negative (a dash would read as a minus)."""
    negative = any(not _missing(v) and float(v) < 0 for v in (low_value, high_value))
    return f"{low} to {high}" if negative else f"{low}{DASH}{high}"


_SUPERSCRIPT = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")


def fmt_p(p: float | None, *, ascii: bool = False, style: str | None = None) -> str:
    """A p-value as a table cell writes it: '<.001', '.04', '.003' (AMA), or in the
    'scientific' style three decimals, 'm.mm × 10⁻ᵉ' below 0.001 (`ascii`: 'm.mm x 10^-e')."""
    if p is None:
        return NE
    style = style or STYLE.p_values
    if style == "scientific":
        if p < 0.001:
            mantissa, exponent = f"{p:.2e}".split("e")
            if ascii:
                return f"{mantissa} x 10^{int(exponent)}"
            return f"{mantissa} \u00d7 10{str(int(exponent)).translate(_SUPERSCRIPT)}"
        return f"{p:.3f}"
    if p < 0.001:
        return "<.001"
    if p > 0.99:
        return ">.99"
    if p < 0.01:
        text = f"{p:.3f}"
    elif (p < 0.05) != (round(p, 2) < 0.05):
        text = f"{p:.3g}"   # .0496, not .05: two decimals would round across the threshold
    else:
        text = f"{p:.2f}"
    return text.lstrip("0")


def p_text(p: float | None, *, ascii: bool = False, style: str | None = None) -> str:
    """A p-value in running text: 'P < .001', 'P = .04' (the scientific style: 'P = 5.91 × 10⁻⁶')."""
    value = fmt_p(p, ascii=ascii, style=style)
    if value == NE:
        return f"P {NE}"
    if value[0] in "<>":
        return f"P {value[0]} {value[1:]}"
    return f"P = {value}"


def fmt_pct(pct: float | None) -> str:
    return NE if pct is None else f"{pct:.1f}"


def fmt_ci(low: float | None, high: float | None) -> str:
    """A confidence interval to one decimal; a bound the data do not reach is 'not estimable'."""
    if low is None and high is None:
        return NE

    def one(x: float | None) -> str:
        return NE if x is None else f"{x:.1f}"

    return fmt_interval(one(low), one(high), low, high)


def fmt_n_pct(k: int, pct: float | None) -> str:
    return f"{k} ({fmt_pct(pct)})" if pct is not None else f"{k}"


def fmt_range(median: Any, low: Any, high: Any, digits: int | None = None) -> str:
    """'median (low–high)', one decimal rule for the three (`digits`: the caller's column rule)."""
    if _missing(median):
        return NE
    d = decimals((median, low, high)) if digits is None else digits
    return f"{fmt_fixed(median, d)} ({fmt_interval(fmt_fixed(low, d), fmt_fixed(high, d), low, high)})"


def fmt_count(n: int, noun: str, plural: str | None = None) -> str:
    """'1 patient', '2 patients': a count that agrees with its noun."""
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"
