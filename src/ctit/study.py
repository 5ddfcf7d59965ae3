"""The canonical study: the contract's tables after reading, whatever the source.

Every reader (CSV folder, Excel workbook, SDTM, OMOP) returns a `Study`. Downstream code
knows nothing else about where data came from. Times are resolved to integer `day`
(day 0 = first study-drug dose, protocol section 1); values are in canonical units.
Each row keeps `source_row`, its row number in the input file (header = row 1), so
every derived number can be traced back and every unused row listed.

What a reader must return (the contract every entry of `ctit.sources.READERS` keeps):
- a `Study` whose six tables have the columns of `CANONICAL_COLUMNS` (extra columns after
  them are kept), with canonical codes, units and integer days, and `source_row` on every row;
  a reader whose rows come from several input tables (SDTM domains, OMOP tables) adds a
  `source_table` column naming each row's input table, which the row accounting uses;
- `inputs`: one `InputFile` per file or table read (rows excluding any header, SHA-256);
- `warnings`; and in `unused_rows` the input rows it could not map, with the reason;
- on bad input, `InputError` with every problem (table, row, column, value), never a partial Study.
The tables are pandas frames today; the engine loads them through Arrow
(`ctit.engine.backend.study_tables`), and the row-level results derived from them stay in
the engine (`ctit.engine.derivations`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import pandas as pd

from ctit.errors import Problem

# Text columns hold Arrow strings: a third of the memory of Python string objects, and
# handed to the engine without conversion.
TEXT = "string[pyarrow]"

# Canonical columns per table, in output order, with pandas dtypes.
# Extra input columns are kept by readers after these.
CANONICAL_COLUMNS: dict[str, dict[str, str]] = {
    "patients": {
        "patient_id": TEXT,
        "sex": TEXT,                         # M / F / U
        "age_years": "Float64",
        "height_cm": "Float64",
        "weight_kg": "Float64",
        "tumor_type": TEXT,
        "pre_therapy_platelets": "Float64",  # 10^9/L
        "index_date": TEXT,                  # ISO date as given, or empty
        "source_row": "Int64",
    },
    "exposures": {
        "patient_id": TEXT,
        "drug": TEXT,                        # as written
        "drug_name": TEXT,                   # dictionary name (e.g. tretinoin), or the written name
        "role": TEXT,                        # study_drug / tpo_ra / anticancer / other
        "start_day": "Int64",
        "end_day": "Int64",                  # empty: ongoing
        "dose": "Float64",
        "dose_unit": TEXT,
        "source_row": "Int64",
    },
    "labs": {
        "patient_id": TEXT,
        "day": "Int64",
        "test": TEXT,                        # canonical code: PLT, ALT, AST, ...
        "test_as_written": TEXT,
        "value": "Float64",                  # canonical unit of the test
        "unit": TEXT,                        # canonical unit; empty when the row's unit is unknown/missing
        "lln": "Float64",                    # canonical unit
        "uln": "Float64",                    # canonical unit
        "value_as_written": "Float64",
        "unit_as_written": TEXT,
        "source_row": "Int64",
    },
    "transfusions": {
        "patient_id": TEXT,
        "day": "Int64",
        "product": TEXT,                     # platelets / rbc / plasma / other
        "units": "Float64",
        "source_row": "Int64",
    },
    "bleeding": {
        "patient_id": TEXT,
        "day": "Int64",
        "who_grade": "Int64",                # 0-4
        "site": TEXT,
        "source_row": "Int64",
    },
    "adverse_events": {
        "patient_id": TEXT,
        "term": TEXT,                        # as written (trimmed)
        "grade": "Int64",                    # 1-5
        "start_day": "Int64",
        "end_day": "Int64",
        "serious": TEXT,
        "related": TEXT,
        "source_row": "Int64",
    },
}

REQUIRED_TABLES = ("patients", "exposures", "labs")
OPTIONAL_TABLES = ("transfusions", "bleeding", "adverse_events")
TABLES = REQUIRED_TABLES + OPTIONAL_TABLES


def empty_table(name: str) -> pd.DataFrame:
    """An empty canonical table with the right columns and dtypes."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in CANONICAL_COLUMNS[name].items()})


def conform(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """Cast a table to its canonical dtypes; canonical columns first, extra columns kept after.

    The result may share a column's data with `df` where it already has its dtype (a
    million-row table is not copied to be retyped): pass a table nothing else will change."""
    spec = CANONICAL_COLUMNS[name]
    columns = {column: (df[column].astype(dtype, copy=False) if column in df.columns
                        else pd.Series(pd.NA, index=df.index, dtype=dtype)).array
               for column, dtype in spec.items()}
    columns.update({c: df[c].array for c in df.columns if c not in spec})
    return pd.DataFrame(columns, index=pd.RangeIndex(len(df)), copy=False)


@dataclass(frozen=True)
class InputFile:
    """One input file (or workbook sheet) as read: for provenance and row accounting."""

    table: str
    name: str          # file name, or "workbook.xlsx#sheet"
    rows: int          # data rows, header excluded
    sha256: str


@dataclass
class Study:
    """The canonical tables of one study, plus what reading them found."""

    patients: pd.DataFrame
    exposures: pd.DataFrame
    labs: pd.DataFrame
    transfusions: pd.DataFrame = field(default_factory=lambda: empty_table("transfusions"))
    bleeding: pd.DataFrame = field(default_factory=lambda: empty_table("bleeding"))
    adverse_events: pd.DataFrame = field(default_factory=lambda: empty_table("adverse_events"))
    inputs: list[InputFile] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    # Input rows that never enter a derivation, with the reason (table, source_row, reason).
    unused_rows: list[tuple[str, int, str]] = field(default_factory=list)
    source: str = ""   # human description: "CSV folder /path", "SDTM /path", ...

    def tables(self) -> Iterator[tuple[str, pd.DataFrame]]:
        for name in TABLES:
            yield name, getattr(self, name)
