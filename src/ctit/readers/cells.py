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
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from ctit import knowledge
from ctit.errors import ProblemLog
from ctit.readers.files import SOURCE_ROW

LISTED_PER_CHECK = 20

# ISO 8601 calendar date, optionally followed by a time: only the date part is used
# (protocol section 11).
_ISO_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ].*)?$")
_ISO_FORMAT = "%Y-%m-%d"
# A five-digit whole number in a date column is an Excel date serial (days since 1899-12-30,
# Excel's 1900 system), as a date cell formatted as a number exports; 10000-99999 is 1927-2173.
_EXCEL_SERIAL = re.compile(r"^\d{5}(?:\.0+)?$")
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")


class Cells:
    """Typed access to the columns of one raw table, logging problems against it."""

    def __init__(self, table: str, raw: pd.DataFrame, log: ProblemLog) -> None:
        self.table = table
        self.raw = raw
        self.log = log
        self.rows = raw[SOURCE_ROW].astype("Int64")
        self._text: dict[str, pd.Series] = {}

    def has(self, column: str) -> bool:
        return column in self.raw.columns

    def text(self, column: str) -> pd.Series:
        """Trimmed text; missing when the cell is empty or the column absent."""
        if column not in self.raw.columns:
            return pd.Series(pd.NA, index=self.raw.index, dtype="string")
        if column not in self._text:
            s = self.raw[column].astype("string").str.strip()
            self._text[column] = s.mask(s == "")
        return self._text[column]

    def lookup(self, column: str, find: Callable[[str], Any]) -> pd.Series:
        """`find` applied to each distinct text of a column once (a knowledge lookup), mapped
        back onto the rows: object values, missing where the cell is empty."""
        s = self.text(column)
        distinct = s.dropna().unique()
        return s.map({v: find(v) for v in distinct}, na_action="ignore")

    def error_at(self, mask: pd.Series, column: str, message: str,
                 values: pd.Series | None = None) -> None:
        """One error per row where `mask` holds (message building is the one per-row loop)."""
        hits = mask[mask.fillna(False)].index
        if len(hits) == 0:
            return
        shown = self.text(column) if values is None else values
        for i in hits[:LISTED_PER_CHECK]:
            value = shown.loc[i]
            self.log.error(self.table, message, int(self.rows.loc[i]), column,
                           None if pd.isna(value) else value)
        if len(hits) > LISTED_PER_CHECK:
            rest = len(hits) - LISTED_PER_CHECK
            self.log.error(self.table, f"{rest} more row{'s' if rest != 1 else ''} with the same "
                           f"problem, not listed: {message}", column=column)

    def require(self, column: str, what: str = "a value") -> None:
        """Error for each empty cell of a required column (the column itself is checked elsewhere)."""
        if self.has(column):
            self.error_at(self.text(column).isna(), column, f"required {what} is missing")

    def number(self, column: str, *, nonnegative: bool = False) -> pd.Series:
        """A decimal number (point as separator). Text such as '<5' is not a number."""
        s = self.text(column)
        num = pd.to_numeric(s.astype("object"), errors="coerce").astype("float64")
        bad = s.notna() & ~np.isfinite(num)
        censored = bad & s.str.match(r"^\s*[<>≤≥]=?").fillna(False)
        self.error_at(censored, column, "not a number: a censored value such as '<5' must be "
                      "replaced by a number or the row removed (the tool cannot decide what it means)")
        self.error_at(bad & ~censored, column, "not a number (use a decimal point, no units or "
                      "thousands separators in the cell)")
        out = pd.Series(num, index=s.index).where(~bad).astype("Float64")
        if nonnegative:
            self.error_at(out < 0, column, "negative value; it must be 0 or more")
        return out

    def integer(self, column: str, *, low: int | None = None, high: int | None = None,
                what: str = "value") -> pd.Series:
        """A whole number (written 3 or 3.0), optionally within [low, high]."""
        num = self.number(column)
        fractional = num.notna() & (num != num.round())
        self.error_at(fractional, column, f"{what} must be a whole number")
        out = num.where(~fractional)
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
        parsed = parsed.dt.normalize()
        bad = s.notna() & parsed.isna()
        self.error_at(bad, column, "not an ISO 8601 date (YYYY-MM-DD, e.g. 2024-03-05; "
                      "2024/03/05, 2024.03.05 and 2024年3月5日 are read too)")
        return parsed

    def choice(self, column: str, allowed: Mapping[str, str], what: str) -> pd.Series:
        """A value from a fixed set, matched by `knowledge.word_key`; `allowed` maps normalised
        word -> canonical value, where an empty value accepts the word as saying nothing."""
        s = self.text(column)
        out = s.map(knowledge.word_key, na_action="ignore").map(dict(allowed), na_action="ignore")
        out = out.astype("string")
        bad = s.notna() & out.isna()
        shown = ", ".join(v for v in dict.fromkeys(allowed.values()) if v)
        self.error_at(bad, column, f"{what} must be one of: {shown}")
        return out.mask(out == "")
