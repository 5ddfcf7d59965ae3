"""Days and dates: every record in time resolved to an integer day (protocol sections 1 and 11).

Rules (data contract, "Input"; protocol section 1 "Time" and section 11 "Conventions"):
- A time-bearing table gives `day` or `date` columns (exposures and adverse events:
  start_day/start_date, end_day/end_date). One row gives one or the other, and one patient uses
  either days or dates for all of their records, across all tables.
- Only the date part of an ISO 8601 date-time is used.
- With dates, a patient's day 0 is their first dated study-drug start date; without a dated
  study-drug record it is `patients.index_date`. With neither: a patient with study-drug
  records (none dated) is a data gap (error); a patient with no study-drug record at all is a
  screened patient without study drug (protocol section 4.1, `no_study_drug`: "no study drug
  means no day 0"), so their dated rows keep an empty day and one warning names the patient;
  the analysis excludes them and lists those rows as unused. An `index_date` that disagrees
  with the first dated dose: warning, the dose wins.
- day = (date - day 0) in days. There is no CDISC "no day 0" shift: day 0 exists.
- With days, the first study-drug record must start on day 0, else an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Collection

import pandas as pd

from ctit.errors import ProblemLog
from ctit.readers.cells import Cells, is_in, whole_days

# (day column, date column) per time-bearing table; the first pair is required.
TIME_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "exposures": (("start_day", "start_date"), ("end_day", "end_date")),
    "labs": (("day", "date"),),
    "transfusions": (("day", "date"),),
    "bleeding": (("day", "date"),),
    "adverse_events": (("start_day", "start_date"), ("end_day", "end_date")),
}


@dataclass
class TimePair:
    """One day/date column pair as given: text (for messages) and parsed values."""

    day_column: str
    date_column: str
    day_text: pd.Series
    date_text: pd.Series
    days: pd.Series      # Int64, as given
    dates: pd.Series     # datetime64, date part only


@dataclass
class TableTimes:
    """The parsed time columns of one table."""

    cells: Cells
    pairs: list[TimePair] = field(default_factory=list)

    @property
    def table(self) -> str:
        return self.cells.table

    @property
    def patient_id(self) -> pd.Series:
        return self.cells.text("patient_id")

    @property
    def rows(self) -> pd.Series:
        return self.cells.rows

    def pair(self, day_column: str) -> TimePair:
        return next(p for p in self.pairs if p.day_column == day_column)


def parse_times(cells: Cells) -> TableTimes:
    """Parse a table's day and date columns; errors for bad cells, both given, or neither."""
    times = TableTimes(cells)
    for k, (day_col, date_col) in enumerate(TIME_COLUMNS[cells.table]):
        pair = TimePair(day_col, date_col, cells.text(day_col), cells.text(date_col),
                        cells.plausible(day_col, cells.integer(day_col, what="day"), "day", "*"),
                        cells.date(date_col))
        both = pair.day_text.notna() & pair.date_text.notna()
        cells.error_at(both, date_col, f"both {day_col} and {date_col} are given; give one")
        # Already an error: the row's date must not also count towards mixing or day 0.
        pair.date_text = pair.date_text.mask(both)
        pair.dates = pair.dates.mask(both)
        if k == 0 and (cells.has(day_col) or cells.has(date_col)):
            neither = pair.day_text.isna() & pair.date_text.isna()
            shown = day_col if cells.has(day_col) else date_col
            cells.error_at(neither, shown, f"required: give {day_col} or {date_col}")
        times.pairs.append(pair)
    return times


def _giving(all_times: list[TableTimes], mode: str) -> set[str]:
    """The patients with at least one time cell of `mode` ('day' or 'date')."""
    ids = [t.patient_id[(pair.day_text if mode == "day" else pair.date_text).notna()].dropna()
           for t in all_times for pair in t.pairs]
    ids = [i for i in ids if len(i)]
    return set(pd.concat(ids).unique().astype("object")) if ids else set()


def _cells_long(all_times: list[TableTimes], patients: set[str]) -> pd.DataFrame:
    """Every given time cell of `patients`: patient, table, row, column, value, mode ('day'
    or 'date')."""
    parts = []
    for order, t in enumerate(all_times):
        of_patients = t.patient_id.isin(patients).fillna(False).astype(bool)
        for pair in t.pairs:
            for mode, column, text in (("day", pair.day_column, pair.day_text),
                                       ("date", pair.date_column, pair.date_text)):
                given = text.notna() & of_patients
                parts.append(pd.DataFrame({
                    "patient_id": t.patient_id[given], "table": t.table, "order": order,
                    "row": t.rows[given], "column": column, "value": text[given], "mode": mode,
                }))
    if not parts:
        return pd.DataFrame(columns=["patient_id", "table", "order", "row", "column", "value", "mode"])
    return pd.concat(parts, ignore_index=True).sort_values(["order", "row"], kind="stable")


def check_mixing(all_times: list[TableTimes], log: ProblemLog) -> set[str]:
    """Patients giving both days and dates: an error on each cell of their less-used kind."""
    mixed = {str(p) for p in _giving(all_times, "day") & _giving(all_times, "date")}
    if not mixed:
        return mixed
    cells = _cells_long(all_times, mixed)
    for pid, g in cells.groupby("patient_id", sort=False):
        counts = g["mode"].value_counts()
        # The less-used kind is reported (ties: the kind that appears later in the files).
        first_seen = list(dict.fromkeys(g["mode"]))
        minority = min(first_seen, key=lambda m: (counts[m], -first_seen.index(m)))
        majority = "date" if minority == "day" else "day"
        ref = g[g["mode"] == majority].iloc[0]
        for _, c in g[g["mode"] == minority].iterrows():
            log.error(c["table"],
                      f"patient {pid!r} mixes days and dates: this cell gives a {minority}, "
                      f"{counts[majority]} other cell(s) give {majority}s (first: {ref['table']} "
                      f"row {ref['row']}, column {ref['column']!r}); use one kind for all of a "
                      "patient's records", int(c["row"]), c["column"], c["value"])
    return mixed


def day_zero(exposures: TableTimes, study_drug: pd.Series, index_date: pd.Series,
             index_text: pd.Series, patient_rows: pd.Series, patient_ids: pd.Series,
             log: ProblemLog) -> dict[str, pd.Timestamp]:
    """Day 0 per patient with dates: first dated study-drug start, else `index_date`.

    `study_drug` is a boolean mask over exposures; `index_date` (parsed), `index_text`,
    `patient_rows` and `patient_ids` are aligned with the patients table.
    """
    start = exposures.pair("start_day")
    dated = study_drug & start.dates.notna() & exposures.patient_id.notna()
    first = (pd.DataFrame({"pid": exposures.patient_id[dated], "date": start.dates[dated],
                           "row": exposures.rows[dated]})
             .sort_values(["date", "row"]).drop_duplicates("pid"))
    dosed = first.set_index(first["pid"].astype(str))
    given = pd.DataFrame({"pid": patient_ids.astype("string"), "idx": index_date,
                          "row": patient_rows, "text": index_text}).dropna(subset=["pid", "idx"])
    dose_date = given["pid"].map(dosed["date"])
    disagree = given[dose_date.notna() & (given["idx"] != dose_date)]
    for r in disagree.itertuples():
        log.warn("patients", f"index_date disagrees with the first dated study-drug dose "
                 f"({dosed.at[r.pid, 'date'].date().isoformat()}, exposures row "
                 f"{int(dosed.at[r.pid, 'row'])}); day 0 is the study-drug date", int(r.row),
                 "index_date", r.text)
    # The first index_date of a patient without a dated dose (a repeated id is already an error).
    undosed = given[dose_date.isna()].drop_duplicates("pid")
    return {**dict(zip(undosed["pid"].astype(str), undosed["idx"])),
            **dict(zip(dosed.index, dosed["date"]))}


def resolve_days(all_times: list[TableTimes], day0: dict[str, pd.Timestamp],
                 log: ProblemLog, skip: set[str] = frozenset(),
                 with_study_drug: Collection[str] | None = None,
                 ) -> dict[tuple[str, str], pd.Series]:
    """Integer days for every pair: given days, or (date - day 0). Keyed (table, day column).

    A patient with dated cells but no day 0 (not in `skip`, those mixing days and dates: that
    error comes first) gets one problem, at their first dated cell: a warning when they have
    no study-drug record at all (their days stay empty; protocol section 4.1 excludes them as
    `no_study_drug`), else an error. `with_study_drug` holds the patients with at least one
    study-drug record; None when that is unknown (no exposures table), then always an error.
    """
    out: dict[tuple[str, str], pd.Series] = {}
    missing: dict[str, list[tuple[str, int, str, str]]] = {}
    for t in all_times:
        zero = t.cells.per_patient(day0, "datetime64[ns]")
        for pair in t.pairs:
            from_dates = whole_days(pair.dates - zero)
            out[(t.table, pair.day_column)] = pair.days.fillna(from_dates)
            lost = pair.dates.notna() & zero.isna() & t.patient_id.notna() \
                & ~is_in(t.patient_id, skip)
            for i in lost[lost].index:
                missing.setdefault(str(t.patient_id.loc[i]), []).append(
                    (t.table, int(t.rows.loc[i]), pair.date_column, str(pair.date_text.loc[i])))
    for pid, where in missing.items():
        table, row, column, value = where[0]
        n = len(where)
        if with_study_drug is not None and pid not in with_study_drug:
            log.warn(table, f"patient {pid!r} has no study-drug record, so their {n} dated "
                     f"cell(s) have no day 0 (first shown) and their days are left empty; the "
                     "analysis excludes the patient as no_study_drug and lists these rows as "
                     "unused", row, column, value)
            continue
        log.error(table, f"patient {pid!r} has {n} dated cell(s) but no day 0 (first "
                  "shown): give patients.index_date or a dated study-drug record (exposures "
                  "start_date with role study_drug)", row, column, value)
    return out


def check_study_drug_day0(exposures: TableTimes, study_drug: pd.Series, skip: set[str],
                          log: ProblemLog) -> None:
    """With days, each patient's first study-drug record must start on day 0 (protocol 11)."""
    start = exposures.pair("start_day")
    given = study_drug & start.days.notna() & exposures.patient_id.notna()
    frame = pd.DataFrame({"pid": exposures.patient_id[given], "day": start.days[given],
                          "row": exposures.rows[given], "text": start.day_text[given]})
    first = frame.sort_values(["day", "row"]).drop_duplicates("pid")
    first = first[(first.day != 0) & ~first.pid.astype(str).isin(list(skip))]
    for r in first.itertuples():
        log.error("exposures", f"the first study-drug record of patient {r.pid!r} starts on "
                  f"day {r.day}; days count from the first study-drug dose, so it must "
                  "start on day 0 (protocol section 1)", int(r.row), "start_day", r.text)


def check_end_after_start(table: str, start: pd.Series, end: pd.Series, rows: pd.Series,
                          end_text: pd.Series, end_column: str, log: ProblemLog) -> None:
    """An end before its start is an error, reported on the end cell."""
    bad = (end < start).fillna(False)
    for i in bad[bad].index:
        log.error(table, f"ends on day {end.loc[i]}, before its start on day {start.loc[i]}",
                  int(rows.loc[i]), end_column, end_text.loc[i])
