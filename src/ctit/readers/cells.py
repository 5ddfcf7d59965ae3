"""Cells into typed columns, one located problem per bad cell (data contract, "Bad input").

Each parser takes a raw string column and returns a typed column; a cell that cannot be read
becomes missing in the result and gets an error naming table, row, column and value, so one
pass over the input reports everything. A check that fails on many rows lists the first
`LISTED_PER_CHECK` of them and counts the rest in one more problem, so a million bad cells
cost a few lines, not a million. Dates are read with the formats of the knowledge file
`date_formats.csv`, tried in its order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from ctit import knowledge
from ctit.errors import ProblemLog
from ctit.readers.files import SOURCE_ROW
from ctit.study import TEXT

LISTED_PER_CHECK = 20

# ISO 8601 calendar date, optionally followed by a time: only the date part is used
# (protocol section 11).
_ISO_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ].*)?$")
_ISO_FORMAT = "%Y-%m-%d"
# A five-digit whole number in a date column is an Excel date serial (days since 1899-12-30,
# Excel's 1900 system), as a date cell formatted as a number exports; 10000-99999 is 1927-2173.
_EXCEL_SERIAL = re.compile(r"^\d{5}(?:\.0+)?$")
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")


# Beyond this a "whole number" cannot be held exactly (2^53) and is a typing error in any column.
_LARGEST_WHOLE = float(2**53)


plausible_range = knowledge.plausible_range


@dataclass(frozen=True)
class StudyPeriod:
    """Dates a record of a table can plausibly carry: outside `possible` an error, outside
    `usual` a warning."""

    first: pd.Timestamp
    usual_first: pd.Timestamp
    usual_last: pd.Timestamp
    last: pd.Timestamp
    why: str


def study_period(table: str) -> StudyPeriod | None:
    """The `date` row of the table, else of the table `*`, of knowledge/plausible_ranges.csv:
    lower bounds are calendar years (1 January), upper bounds years after today."""
    r = plausible_range(table, "date") or plausible_range("*", "date")
    if r is None:
        return None
    today = pd.Timestamp.today().normalize()
    return StudyPeriod(pd.Timestamp(year=int(r.impossible_below), month=1, day=1),
                       pd.Timestamp(year=int(r.unusual_below), month=1, day=1),
                       today + pd.DateOffset(years=int(r.unusual_above)),
                       today + pd.DateOffset(years=int(r.impossible_above)), r.why)


def parse_dates(s: pd.Series) -> pd.Series:
    """Texts -> dates at midnight (NaT where no accepted format reads the text): the formats of
    knowledge `date_formats.csv` in order (ISO 8601 first; a time part after the date is
    ignored), then an Excel serial."""
    parsed = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    # The date part of a date-time: before the first "T" or space.
    date_part = s.str.split(r"[T ]", n=1, regex=True).str[0]
    for fmt in knowledge.date_formats():
        todo = s.notna() & parsed.isna()
        if not todo.any():
            break
        if fmt == _ISO_FORMAT:
            candidates = [s[todo].str.extract(_ISO_DATE, expand=False)]
        else:
            candidates = [s[todo], date_part[todo]]
        for text in candidates:
            got = pd.to_datetime(text, format=fmt, errors="coerce")
            parsed = parsed.fillna(got.reindex(s.index)).astype("datetime64[ns]")
    serial = (parsed.isna() & date_part.str.match(_EXCEL_SERIAL)).fillna(False).astype(bool)
    if serial.any():
        days = pd.to_numeric(date_part.where(serial).astype("object"), errors="coerce")
        parsed = parsed.fillna(_EXCEL_EPOCH + pd.to_timedelta(days, unit="D"))
    return parsed.dt.normalize()


def is_in(values: pd.Series, allowed: Iterable[str] | pd.Series) -> pd.Series:
    """Whether each text is one of `allowed` (False where missing), by Arrow's set lookup:
    pandas converts the set value by value for Arrow strings."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def arrow(texts: Any) -> Any:
        texts = texts if isinstance(texts, pd.Series) else pd.Series(list(texts), dtype="object")
        return pa.array(texts.astype(TEXT).array, type=pa.string())

    found = pc.is_in(arrow(values), value_set=arrow(allowed))
    return pd.Series(found.to_numpy(zero_copy_only=False), index=values.index, dtype=bool)


def whole_days(span: pd.Series) -> pd.Series:
    """Time spans (timedelta64, NaT missing) -> whole days as Int64, built from the numbers and
    their mask (pandas' conversion tests each value)."""
    days = span.dt.days.to_numpy(dtype="float64", na_value=np.nan)
    missing = np.isnan(days)
    return pd.Series(pd.arrays.IntegerArray(np.where(missing, 0, days).astype("int64"), missing),
                     index=span.index)


def _decimal(texts: pd.Series) -> pd.Series:
    """Texts -> finite decimal numbers (Float64), missing where a text is not one."""
    num = pd.Series(pd.to_numeric(texts.astype("object"), errors="coerce"), dtype="float64")
    return num.where(np.isfinite(num)).astype("Float64")


class Cells:
    """Typed access to the columns of one raw table, logging problems against it.

    A column is parsed once per distinct text, not once per row: a million lab rows hold a few
    thousand distinct dates, units and values, and each parser's result is mapped back onto
    the rows by the column's codes (`pandas.factorize`).
    """

    def __init__(self, table: str, raw: pd.DataFrame, log: ProblemLog) -> None:
        self.table = table
        self.raw = raw
        self.log = log
        self.rows = raw[SOURCE_ROW].astype("Int64")
        self._distinct: dict[str, tuple[np.ndarray, pd.Series]] = {}
        self._trimmed_values: dict[str, pd.Series] = {}
        self._text: dict[str, pd.Series] = {}
        # Dates are checked against the plausible study period (knowledge/plausible_ranges.csv).
        self.check_period = True

    def has(self, column: str) -> bool:
        return column in self.raw.columns

    def distinct(self, column: str) -> tuple[np.ndarray, pd.Series]:
        """The column's codes (one per row, -1 where the cell is missing) and its distinct
        cells as written (untrimmed). An absent column is one whose every cell is missing."""
        if column not in self._distinct:
            cells = (self.raw[column] if column in self.raw.columns
                     else pd.Series(pd.NA, index=self.raw.index, dtype=TEXT))
            if isinstance(cells.dtype, pd.CategoricalDtype):
                codes = cells.cat.codes.to_numpy(dtype="int64")
                uniques = cells.cat.categories.astype(TEXT)
            else:
                codes, uniques = pd.factorize(cells.astype(TEXT), use_na_sentinel=True)
            self._distinct[column] = (codes, pd.Series(uniques, dtype=TEXT))
        return self._distinct[column]

    def per_value(self, column: str, parse: Callable[[pd.Series], pd.Series], *,
                  trimmed: bool = True) -> pd.Series:
        """`parse` applied to the column's distinct cells (trimmed, an empty cell missing; or as
        written), mapped back onto the rows; missing where the cell is."""
        codes, values = self.distinct(column)
        if trimmed:
            values = self._trimmed(column)
        parsed = pd.Series(parse(values)).reset_index(drop=True)
        if parsed.dtype == bool:
            parsed = parsed.astype("boolean")
        return pd.Series(parsed.array.take(codes, allow_fill=True), index=self.raw.index)

    def per_combination(self, columns: tuple[str, ...],
                        parse: Callable[..., pd.Series]) -> pd.Series:
        """`parse` applied once per distinct combination of the columns' trimmed cells (one
        series per column, missing where a cell is empty), mapped back onto the rows."""
        codes = [self.distinct(c)[0] + 1 for c in columns]   # 0: the cell is missing
        sizes = [len(self.distinct(c)[1]) + 1 for c in columns]
        combined, inverse = np.unique(np.ravel_multi_index(codes, sizes), return_inverse=True)
        parts = [pd.Series(pd.concat([pd.Series([pd.NA], dtype=TEXT),
                                      self._trimmed(c).astype(TEXT)], ignore_index=True)
                           .array.take(i)) for c, i in zip(columns, np.unravel_index(combined, sizes))]
        parsed = pd.Series(parse(*parts)).reset_index(drop=True)
        return pd.Series(parsed.array.take(inverse.reshape(-1)), index=self.raw.index)

    def per_patient(self, values: Mapping[str, Any] | pd.Series, dtype: str = "object") -> pd.Series:
        """A per-patient value (keyed by trimmed patient_id) on each row as `dtype`, looked up
        and typed once per distinct id; missing where the row has no id or the id no value."""
        return self.per_value("patient_id", lambda v: v.map(values, na_action="ignore").astype(dtype))

    def given(self, column: str) -> pd.Series:
        """Where the column has a cell that is not empty (all False when the column is absent)."""
        if column not in self.raw.columns:
            return pd.Series(False, index=self.raw.index)
        codes, _ = self.distinct(column)
        filled = self._trimmed(column).notna().to_numpy(dtype=bool)
        # A missing cell's code is -1, which picks the appended False.
        return pd.Series(np.append(filled, False)[codes], index=self.raw.index)

    def _trimmed(self, column: str) -> pd.Series:
        """The column's distinct cells trimmed, an empty cell missing (aligned with its codes)."""
        if column not in self._trimmed_values:
            values = self.distinct(column)[1].str.strip()
            self._trimmed_values[column] = values.mask(values == "")
        return self._trimmed_values[column]

    def text(self, column: str) -> pd.Series:
        """Trimmed text; missing when the cell is empty or the column absent."""
        if column not in self.raw.columns:
            return pd.Series(pd.NA, index=self.raw.index, dtype="string")
        if column not in self._text:
            self._text[column] = self.per_value(column, lambda v: v)
        return self._text[column]

    def lookup(self, column: str, find: Callable[[str], Any], dtype: str = "object") -> pd.Series:
        """`find` applied to each distinct text of a column once (a knowledge lookup), typed as
        `dtype` there and mapped back onto the rows; missing where the cell is empty or `find`
        gives None."""
        return self.per_value(column, lambda v: pd.Series(
            [None if pd.isna(t) else find(t) for t in v.astype("object")], dtype="object").astype(dtype))

    def error_at(self, mask: pd.Series, column: str, message: str | pd.Series,
                 values: pd.Series | None = None) -> None:
        """One error per row where `mask` holds (message building is the one per-row loop)."""
        self._report(self.log.error, mask, column, message, values)

    def warn_at(self, mask: pd.Series, column: str, message: str | pd.Series,
                values: pd.Series | None = None) -> None:
        """One warning per row where `mask` holds, listed as errors are."""
        self._report(self.log.warn, mask, column, message, values)

    def _report(self, emit: Callable[..., None], mask: pd.Series, column: str,
                message: str | pd.Series, values: pd.Series | None) -> None:
        """`message` is one text, or a text per row (a row's own detail in its message)."""
        hits = mask[mask.fillna(False).astype(bool)].index
        if len(hits) == 0:
            return
        shown = self.text(column) if values is None else values
        text = (lambda i: str(message.loc[i])) if isinstance(message, pd.Series) else (lambda i: message)
        for i in hits[:LISTED_PER_CHECK]:
            value = shown.loc[i]
            emit(self.table, text(i), int(self.rows.loc[i]), column,
                 None if pd.isna(value) else value)
        if len(hits) > LISTED_PER_CHECK:
            rest = len(hits) - LISTED_PER_CHECK
            emit(self.table, f"{rest} more row{'s' if rest != 1 else ''} with the same "
                 f"problem, not listed: {text(hits[0])}", column=column)

    def plausible(self, column: str, values: pd.Series, check: str | None = None,
                  scope: str | None = None) -> pd.Series:
        """`values` judged against the column's range in knowledge/plausible_ranges.csv (`check`
        and `scope` name the row's column and table when they are not this column's): outside the possible range an error (the
        value becomes missing), outside the usual range a warning."""
        r = plausible_range(scope or self.table, check or column)
        if r is None:
            return values
        impossible = values.notna() & ((values < r.impossible_below) | (values > r.impossible_above))
        self.error_at(impossible, column, f"{column} is impossible (possible "
                      f"{r.impossible_below:g}-{r.impossible_above:g} {r.unit}; {r.why})")
        unusual = values.notna() & ~impossible & ((values < r.unusual_below) | (values > r.unusual_above))
        self.warn_at(unusual, column, f"{column} is unusual (usual {r.unusual_below:g}-"
                     f"{r.unusual_above:g} {r.unit}); check it")
        return values.mask(impossible.fillna(False).astype(bool))

    def require(self, column: str, what: str = "a value") -> None:
        """Error for each empty cell of a required column (the column itself is checked elsewhere)."""
        if self.has(column):
            self.error_at(~self.given(column), column, f"required {what} is missing")

    def number(self, column: str, *, nonnegative: bool = False) -> pd.Series:
        """A decimal number (point as separator). Text such as '<5' is not a number."""
        if not self.has(column):
            return pd.Series(pd.NA, index=self.raw.index, dtype="Float64")
        # Typed per distinct cell, then spread onto the rows: nothing is converted row by row.
        out = self.per_value(column, _decimal)
        bad = self.given(column) & out.isna()
        if bad.any():
            censored = bad & self.per_value(column, lambda v: v.str.match(r"^\s*[<>≤≥]=?")).fillna(False)
            self.error_at(censored, column, "not a number: a censored value such as '<5' must be "
                          "replaced by a number or the row removed (the tool cannot decide what it means)")
            self.error_at(bad & ~censored, column, "not a number (use a decimal point, no units or "
                          "thousands separators in the cell)")
        if nonnegative:
            self.error_at(out < 0, column, "negative value; it must be 0 or more")
        return out

    def integer(self, column: str, *, low: int | None = None, high: int | None = None,
                what: str = "value") -> pd.Series:
        """A whole number (written 3 or 3.0), optionally within [low, high]."""
        num = self.number(column)
        fractional = num.notna() & (num != num.round())
        self.error_at(fractional, column, f"{what} must be a whole number")
        # A whole number too large for any count or day (1e20) is a typing error, not an overflow.
        huge = num.notna() & ~fractional & (num.abs() > _LARGEST_WHOLE)
        self.error_at(huge, column, f"{what} is far too large (more than {_LARGEST_WHOLE:g})")
        out = num.where(~fractional & ~huge)
        if low is not None or high is not None:
            lo = -np.inf if low is None else low
            hi = np.inf if high is None else high
            outside = out.notna() & ((out < lo) | (out > hi))
            self.error_at(outside, column, f"{what} outside its range {low}-{high}")
            out = out.where(~outside)
        return out.round().astype("Int64")

    def date(self, column: str) -> pd.Series:
        """A date in one of the accepted formats (knowledge `date_formats.csv`, in order; ISO
        8601 YYYY-MM-DD first, a time part after the date is ignored) or an Excel serial ->
        datetime64 at midnight."""
        s = self.text(column)
        if not self.has(column):
            parsed = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
        else:
            parsed = self.per_value(column, parse_dates).astype("datetime64[ns]")
        bad = self.given(column) & parsed.isna()
        self.error_at(bad, column, "not an ISO 8601 date (YYYY-MM-DD, e.g. 2024-03-05; "
                      "2024/03/05, 2024.03.05 and 2024年3月5日 are read too)")
        period = study_period(self.table) if self.check_period else None
        if period is not None:
            outside = parsed.notna() & ((parsed < period.first) | (parsed > period.last))
            self.error_at(outside, column, f"date outside the plausible study period "
                          f"{period.first.date().isoformat()} to {period.last.date().isoformat()} "
                          f"({period.why})")
            unusual = parsed.notna() & ~outside & ((parsed < period.usual_first)
                                                    | (parsed > period.usual_last))
            self.warn_at(unusual, column, f"date before or after the usual study period "
                         f"{period.usual_first.date().isoformat()} to "
                         f"{period.usual_last.date().isoformat()}; check it")
            parsed = parsed.mask(outside)
        return parsed

    def choice(self, column: str, allowed: Mapping[str, str], what: str) -> pd.Series:
        """A value from a fixed set, matched by `knowledge.word_key`; `allowed` maps normalised
        word -> canonical value, where an empty value accepts the word as saying nothing."""
        s = self.text(column)
        words = dict(allowed)
        out = self.per_value(column, lambda v: v.map(knowledge.word_key, na_action="ignore").map(
            words, na_action="ignore").astype("string")) if self.has(column) else s
        bad = self.given(column) & out.isna()
        shown = ", ".join(v for v in dict.fromkeys(allowed.values()) if v)
        self.error_at(bad, column, f"{what} must be one of: {shown}")
        return out.mask(out == "")
