"""Files into raw tables: a CSV folder or an `.xlsx` workbook -> string tables with file row numbers.

Data contract, "Input: a study folder": UTF-8 (a byte-order mark is accepted), comma, header
row; column names case-insensitive (and trimmed here); one CSV per table or one sheet per
table. Nothing is interpreted at this stage: every cell stays text (empty cells are missing),
and each row carries `source_row`, its row number as a spreadsheet shows it (header = row 1).
Blank rows are skipped but still counted, so row numbers stay those of the file.
An entirely empty file or sheet (no header row, no records) of an optional table is read like
an absent table, with a warning; of a required table it is an error.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import pandas as pd

from ctit.errors import Problem, ProblemLog
from ctit.study import OPTIONAL_TABLES, TABLES, InputFile

SOURCE_ROW = "source_row"


@dataclass
class RawInput:
    """What the file layer found: raw tables by contract name, provenance and problems."""

    tables: dict[str, pd.DataFrame]
    inputs: list[InputFile]
    problems: list[Problem]
    source: str
    # Where each table was looked for, to make "missing table" messages actionable.
    expected: dict[str, str] = field(default_factory=dict)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def header_name(text: Any) -> str:
    """Contract column names are case-insensitive; surrounding spaces are not part of a name."""
    return "" if text is None else str(text).strip().lower()


Record = tuple[int, list[str | None]]


def _blank(cells: Iterable[Any]) -> bool:
    return all(c is None or str(c).strip() == "" for c in cells)


def nonempty_records(records: Iterable[Record]) -> Iterator[Record] | None:
    """The records unchanged, or None when none has a non-blank cell (an entirely empty table).

    Only leading blank records are buffered, so a large sheet is still streamed.
    """
    it = iter(records)
    head: list[Record] = []
    for record in it:
        head.append(record)
        if not _blank(record[1]):
            return itertools.chain(head, it)
    return None


def empty_optional(table: str, what: str, log: ProblemLog) -> bool:
    """An entirely empty optional table reads as absent: True, with a warning. Else False."""
    if table not in OPTIONAL_TABLES:
        return False
    log.warn(table, f"{what} is empty (no header row, no records); {table} is optional, so it "
             "is read as no records, as if absent")
    return True


def records_to_frame(
    records: Iterable[tuple[int, list[str | None]]], table: str, log: ProblemLog
) -> pd.DataFrame:
    """Numbered records (row number, cells; the first is the header) -> a string table.

    Cells are trimmed and empty cells become missing. A row with more cells than the header
    is an error (its columns cannot be trusted); a shorter row is padded with missing cells,
    as spreadsheets export trailing empty cells that way.
    """
    from ctit.readers.header import locate_header

    it = locate_header(records, table, log)
    try:
        _, header_cells = next(it)
    except StopIteration:
        log.error(table, "the table is empty: it needs a header row", row=1)
        return pd.DataFrame({SOURCE_ROW: pd.Series(dtype="Int64")})

    names = [header_name(c) for c in header_cells]
    rows: list[list[str | None]] = []
    numbers: list[int] = []
    for number, cells in it:
        cleaned = [None if c is None or str(c).strip() == "" else str(c).strip() for c in cells]
        if all(c is None for c in cleaned):
            continue
        if len(cleaned) > len(names):
            extra = [c for c in cleaned[len(names):] if c is not None]
            if extra:
                log.error(table, f"the row has {len(cleaned)} cells but the header has {len(names)} "
                          "columns; check for an unquoted comma", row=number, value=extra[0])
            cleaned = cleaned[: len(names)]
        rows.append(cleaned + [None] * (len(names) - len(cleaned)))
        numbers.append(number)

    columns: dict[str, list[str | None]] = {}
    for i, name in enumerate(names):
        values = [r[i] for r in rows]
        if name == "":
            # Trailing commas and phantom spreadsheet columns give unnamed, empty columns.
            if any(v is not None for v in values):
                name = f"unnamed_{i + 1}"
                log.warn(table, f"column {i + 1} has values but no header; kept as {name!r}",
                         row=1, column=name)
            else:
                continue
        if name in columns:
            log.error(table, f"column name appears twice (column {i + 1} repeats it); "
                      "only the first is read", row=1, column=name)
            continue
        columns[name] = values
    frame = pd.DataFrame({k: pd.Series(v, dtype="string") for k, v in columns.items()},
                         index=range(len(rows)))
    if SOURCE_ROW in frame.columns:
        log.error(table, f"{SOURCE_ROW!r} is reserved for the row number in the file; rename "
                  "the column", row=1, column=SOURCE_ROW)
        frame = frame.drop(columns=SOURCE_ROW)
    frame[SOURCE_ROW] = pd.Series(numbers, dtype="Int64")
    return frame


def csv_records(text: str) -> Iterator[Record]:
    """CSV text (comma) -> records numbered as a spreadsheet numbers rows."""
    # csv.reader yields [] for a blank line, so record numbers are the spreadsheet's row numbers
    # (a quoted field spanning lines is still one row, as in a spreadsheet).
    # The text is in memory already: no cell is too long to read (csv's default limit is 128 KiB).
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    reader = csv.reader(io.StringIO(text, newline=""))
    return ((i, r) for i, r in enumerate(reader, start=1))


def read_csv_text(text: str, table: str, log: ProblemLog) -> pd.DataFrame:
    """CSV text (comma, header row) -> a raw string table with `source_row`."""
    return records_to_frame(csv_records(text), table, log)


def decode_csv(path: Path, table: str, log: ProblemLog) -> str | None:
    """A CSV file's text; None (with an error logged) when it is not UTF-8 text."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        log.error(table, f"{path.name} is not UTF-8 text (byte {exc.start}); save it as "
                  "'CSV UTF-8'")
        return None


def read_csv_file(path: Path, table: str, log: ProblemLog) -> pd.DataFrame | None:
    """One CSV file -> raw table; None (with an error logged) when it is not UTF-8 text."""
    text = decode_csv(path, table, log)
    return None if text is None else read_csv_text(text, table, log)


def excel_cell_text(value: Any) -> str | None:
    """An Excel cell as the text a CSV export would hold: ISO dates, integers without '.0'."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return str(value).upper()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _table_for(name: str) -> str | None:
    key = name.strip().lower()
    return key if key in TABLES else None


def read_folder(path: Path) -> RawInput:
    """A folder with one CSV per table (`patients.csv`, ...; file names case-insensitive)."""
    log = ProblemLog()
    tables: dict[str, pd.DataFrame] = {}
    inputs: list[InputFile] = []
    found: dict[str, Path] = {}
    for f in sorted(path.iterdir()):
        if not f.is_file() or f.name.startswith("."):
            continue
        table = _table_for(f.stem) if f.suffix.lower() == ".csv" else None
        if table is None:
            if f.suffix.lower() in (".csv", ".xlsx"):
                log.warn(f.stem, f"{f.name} is not a contract table ({', '.join(TABLES)}); "
                         "it is not read")
            continue
        if table in found:
            log.error(table, f"two files for the table: {found[table].name} and {f.name}")
            continue
        found[table] = f
        text = decode_csv(f, table, log)
        if text is None:
            continue
        records = nonempty_records(csv_records(text))
        if records is None and empty_optional(table, f.name, log):
            # Kept in the inputs (0 rows) for provenance; no table, as when the file is absent.
            inputs.append(InputFile(table, f.name, 0, sha256_of(f)))
            continue
        frame = records_to_frame(records or (), table, log)
        tables[table] = frame
        inputs.append(InputFile(table, f.name, len(frame), sha256_of(f)))
    expected = {t: f"no {t}.csv in {path}" for t in TABLES}
    inputs.sort(key=lambda i: TABLES.index(i.table))
    return RawInput(tables, inputs, log.problems, f"CSV folder {path}", expected)


def read_workbook(path: Path, only: Iterable[str] | None = None) -> RawInput:
    """An `.xlsx` workbook with a sheet per table (sheet names case-insensitive).

    Cells keep the values Excel shows (`data_only`: a formula's last computed value);
    date cells become ISO dates.
    """
    import openpyxl

    log = ProblemLog()
    wanted = set(only) if only is not None else set(TABLES)
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several types for a file that is not a workbook
        log.error("workbook", f"{path.name} cannot be read as an .xlsx workbook: {exc}")
        return RawInput({}, [], log.problems, f"Excel workbook {path}")
    digest = sha256_of(path)
    tables: dict[str, pd.DataFrame] = {}
    inputs: list[InputFile] = []
    seen: set[str] = set()
    try:
        for sheet in book.worksheets:
            table = _table_for(sheet.title)
            if table is None or table not in wanted:
                if only is None:
                    log.warn(sheet.title, f"sheet {sheet.title!r} is not a contract table "
                             f"({', '.join(TABLES)}); it is not read")
                continue
            if table in seen:
                log.error(table, f"two sheets for the table (another is {sheet.title!r})")
                continue
            records = (
                (i, [excel_cell_text(v) for v in row])
                for i, row in enumerate(sheet.iter_rows(values_only=True), start=1)
            )
            present = nonempty_records(records)
            name = f"{path.name}#{sheet.title}"
            if present is None and empty_optional(table, f"sheet {sheet.title!r}", log):
                inputs.append(InputFile(table, name, 0, digest))
                seen.add(table)
                continue
            frame = records_to_frame(present or (), table, log)
            tables[table] = frame
            seen.add(table)
            inputs.append(InputFile(table, name, len(frame), digest))
    finally:
        book.close()
    expected = {t: f"no sheet {t!r} in {path.name}" for t in TABLES}
    return RawInput(tables, inputs, log.problems, f"Excel workbook {path}", expected)


def read_raw(path: Path) -> RawInput:
    """A study folder or workbook -> raw tables. A missing path raises FileNotFoundError."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such study folder or workbook: {path}")
    if path.is_dir():
        return read_folder(path)
    if path.suffix.lower() == ".xlsx":
        return read_workbook(path)
    log = ProblemLog()
    log.error("study", f"{path.name} is neither a folder of CSV files nor an .xlsx workbook")
    return RawInput({}, [], log.problems, str(path))
