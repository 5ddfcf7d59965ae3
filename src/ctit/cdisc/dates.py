"""ISO 8601 dates as SDTM writes them, partial dates, imputation and CDISC study days.

SDTM IG 3.4 section 4.4 ("Date and time"): --DTC variables are ISO 8601 text, complete or
partial (right-truncated, "2003", "2003-07"; or with a missing middle component written as a
hyphen, "2003---15"); a time part after "T" may follow. Only the date part is used
(protocol section 11).

Imputation of a partial date (the rule each date kind follows is named in the mapping file,
`imputation:`; the defaults follow admiral's `derive_vars_dt(highest_imputation = "M")`):

- `first`: missing day -> the first of the month; missing month -> January 1 (admiral
  `date_imputation = "first"`; used for start dates: --STDTC, RFXSTDTC);
- `last`: missing day -> the last day of the month; missing month -> December 31 (admiral
  `date_imputation = "last"`; used for end dates: --ENDTC);
- `none`: a partial date is not imputed; the record cannot be placed in time (used for
  findings collection dates --DTC: a platelet count placed on an imputed day could become
  a baseline or a response count).

A day without a month ("2003---15") imputes as if only the year were given. Every imputed
value gets a warning from the caller.

CDISC study days (SDTM IG 3.4 section 4.4.4): --DY = date - RFSTDTC + 1 on or after the
reference date and date - RFSTDTC before it, so there is no day 0. The contract's days have
a day 0 (protocol section 1): day = --DY - 1 when --DY >= 1, else --DY.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

import pandas as pd

Imputation = Literal["first", "last", "none"]
IMPUTATIONS: tuple[str, ...] = ("first", "last", "none")

# YYYY[-MM[-DD]] or YYYY---DD (missing month), optionally Thh[:mm[:ss[.fff]]][zone]; a time
# without a date is not a date.
_DTC = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2}|-)(?:-(?P<d>\d{2}))?)?"
    r"(?:T(?:\d{2}|-)(?::(?:\d{2}|-)(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$"
)


class DtcError(ValueError):
    """Text that is not an ISO 8601 date as SDTM writes one."""


@dataclass(frozen=True)
class Dtc:
    """A parsed --DTC: year, and month and day when given."""

    year: int
    month: int | None
    day: int | None

    @property
    def complete(self) -> bool:
        return self.month is not None and self.day is not None

    def impute(self, rule: Imputation) -> dt.date | None:
        """The date, imputed by `rule` when partial; None when partial and `rule` is none."""
        if self.complete:
            return dt.date(self.year, self.month, self.day)  # type: ignore[arg-type]
        if rule == "none":
            return None
        if self.month is None:
            return dt.date(self.year, 1, 1) if rule == "first" else dt.date(self.year, 12, 31)
        if rule == "first":
            return dt.date(self.year, self.month, 1)
        return dt.date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])


def parse_dtc(text: str) -> Dtc:
    """Parse an ISO 8601 --DTC value; `DtcError` says why it is not one."""
    s = str(text).strip()
    m = _DTC.match(s)
    if not m:
        raise DtcError("not an ISO 8601 date (YYYY-MM-DD, or partial YYYY-MM / YYYY, "
                       "optionally followed by Thh:mm)")
    year = int(m["y"])
    month = None if m["m"] in (None, "-") else int(m["m"])
    day = None if m["d"] is None or month is None else int(m["d"])
    if month is not None and not 1 <= month <= 12:
        raise DtcError(f"month {month:02d} does not exist")
    if month is not None and day is not None:
        try:
            dt.date(year, month, day)
        except ValueError:
            raise DtcError(f"day {day:02d} does not exist in {year}-{month:02d}") from None
    return Dtc(year, month, day)


def study_day_to_day(study_day: int) -> int:
    """CDISC --DY (no day 0) -> the contract's day (day 0 = first dose). --DY 0 is invalid."""
    if study_day == 0:
        raise ValueError("--DY 0 does not exist: CDISC study days have no day 0")
    return study_day - 1 if study_day > 0 else study_day


def day_to_study_day(day: int) -> int:
    """The contract's day -> CDISC --DY/ADY: day 0 is --DY 1, day -1 is --DY -1."""
    return day + 1 if day >= 0 else day


def study_days(days: pd.Series) -> pd.Series:
    """`day_to_study_day` on a column of contract days (null stays null)."""
    d = pd.to_numeric(days, errors="coerce").astype("Int64")
    return d.where(d.lt(0).fillna(True), d + 1).astype("Int64")


def day_dates(anchor: dict[str, dt.date], pids: pd.Series, days: pd.Series) -> pd.Series:
    """Each record's date: its subject's day-0 date (`anchor`, by patient id) plus its
    contract day; null without a day."""
    day0 = pd.to_datetime(pids.astype(str).map({k: pd.Timestamp(v) for k, v in anchor.items()}))
    offset = pd.to_timedelta(pd.to_numeric(pd.Series(days, index=pids.index), errors="coerce")
                             .astype("float64"), unit="D")
    return (day0 + offset).astype("datetime64[ns]")
