"""Files into raw tables: a folder of CSV or Parquet files, an `.xlsx` workbook or a DuckDB
database file -> string tables with file row numbers.

Data contract, "Input: a study folder": UTF-8 (a byte-order mark is accepted), comma, header
row; column names case-insensitive (and trimmed here); one CSV per table or one sheet per
table. Nothing is interpreted at this stage: every cell stays text (empty cells are missing),
and each row carries `source_row`, its row number as a spreadsheet shows it (header = row 1).
Blank rows are skipped but still counted, so row numbers stay those of the file.
CSV and Parquet files and database tables are parsed by the engine (DuckDB: every column as
text), so a file of millions of rows is never walked record by record in Python; a CSV file
the engine cannot number exactly as a spreadsheet does (blank lines, a quoted or irregular
header, rows of the wrong width, text that is not UTF-8) is read record by record instead,
which reports its problems row by row. Parquet and database values are read as text too
(the same checks then type them); their rows are numbered from 2, as if a header were row 1.
An entirely empty file or sheet (no header row, no records) of an optional table is read like
an absent table, with a warning; of a required table it is an error.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import pandas as pd

from ctit.engine.local import duckdb_connect
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
    fast = fast_csv(path)
    if fast is not None:
        return fast
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


def _name_key(name: str) -> str:
    """A table name as compared for "did you mean": case, spaces and punctuation folded."""
    import unicodedata

    folded = unicodedata.normalize("NFKC", name).strip().lower()
    return "_".join(w for w in re.split(r"[^0-9a-z]+", folded) if w)


# How close (difflib ratio of the folded names) a name must be to a contract table's name to
# be taken for a misspelling of it: `lab` for labs, `adverse-events` for adverse_events.
_CLOSE_NAME = 0.8


def close_table(name: str) -> str | None:
    """The contract table a file, sheet or table name seems meant for, or None."""
    import difflib

    key = _name_key(name)
    if not key:
        return None
    match = difflib.get_close_matches(key, list(TABLES), n=1, cutoff=_CLOSE_NAME)
    return match[0] if match else None


def not_a_table(name: str, what: str, table_key: str, log: ProblemLog,
                present: Iterable[str] = ()) -> None:
    """A source the contract does not know: an error when its name is close to a contract
    table's that no other source provides (the table would otherwise be silently absent),
    else a warning."""
    meant = close_table(table_key)
    if meant is not None and meant not in set(present):
        log.error(meant, f"{what} is not a contract table name; did you mean {meant}? Rename "
                  f"it to {meant!r} (as written it would not be read, and {meant} would be "
                  "absent)", value=name)
        return
    log.warn(table_key, f"{what} is not a contract table ({', '.join(TABLES)}); it is not read")


def unreadable_path(f: Path) -> str | None:
    """Why a table path is not a regular readable file (a directory, a FIFO, a symlink loop,
    no permission), or None when it is one."""
    import os
    import stat

    try:
        mode = os.stat(f).st_mode
    except OSError as exc:
        return f"cannot be opened ({exc.strerror or exc})"
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(mode):
        return "is not a regular file (a pipe, socket or device)"
    if not os.access(f, os.R_OK):
        return "cannot be read (no permission)"
    return None


# --- Engine-side parsing -------------------------------------------------------------------
# DuckDB parses and trims the cells and numbers the rows; Python sees only the finished
# columns. Whatever the engine cannot number exactly as a spreadsheet does (blank lines,
# header anomalies, rows of the wrong width, text that is not UTF-8) goes through the
# record-by-record path above, which reports those problems precisely.

_BLANK_LINES = (b"\n\n", b"\n\r\n", b"\r\r")


def _header_cells(path: Path) -> list[str] | None:
    """The header's names, or None when the engine cannot be trusted to read the file."""
    import mmap

    if path.stat().st_size == 0:
        return None
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        if mm[:1] in (b"\n", b"\r") or mm[:4] in (b"\xef\xbb\xbf\n", b"\xef\xbb\xbf\r"):
            return None
        if any(mm.find(b) != -1 for b in _BLANK_LINES):
            return None
        head = mm[: 1 << 16]
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:
            return None
        text = head[: exc.start].decode("utf-8-sig")
    first = text.split("\n", 1)[0]
    if first.count('"') % 2:
        return None  # a quoted header cell spanning lines
    names = [header_name(c) for c in next(csv.reader([first.rstrip("\r")]))]
    if "" in names or len(set(names)) != len(names) or SOURCE_ROW in names:
        return None
    return names


def _quoted(column: str) -> str:
    """A column as SQL: a name is quoted; an expression (written by this module) kept."""
    return column[1:] if column.startswith("=") else '"' + column.replace('"', '""') + '"'


def engine_frame(con: Any, relation: str, names: dict[str, str]) -> pd.DataFrame:
    """Cells of `relation` (a DuckDB table or table function, read in file order; `names`
    maps contract name -> column, or "=" and an SQL expression) trimmed, empty cells missing,
    blank records dropped, in file order (the connection preserves insertion order:
    engine.local); `source_row` = record number + 2 (the header is row 1)."""
    cell = {n: f"nullif(trim(CAST({_quoted(c)} AS VARCHAR)), '')" for n, c in names.items()}
    blank = " AND ".join(f'"{n}" IS NULL' for n in cell) or "FALSE"
    import pyarrow as pa

    # Cleaned into a table straight from the file: that runs on every core, where a streamed
    # query runs on one. Blank records are kept there, so its rowid is the record number.
    con.execute("CREATE OR REPLACE TEMP TABLE ctit_cells AS SELECT "
                + ", ".join(f'{e} AS "{n}"' for n, e in cell.items()) + f" FROM {relation}")
    # Fetched in batches, each dictionary-encoded as it arrives: the text of a large table
    # is never held whole as Arrow strings beside the engine's copy. Text columns become
    # pandas categoricals, so the checks parse each distinct text once (`Cells.distinct`).
    columns = ", ".join([f'"{n}"' for n in cell] + ["CAST(rowid + 2 AS BIGINT) AS source_row"])
    reader = con.sql(f"SELECT {columns} FROM ctit_cells WHERE NOT ({blank})").fetch_record_batch(_BATCH_ROWS)
    batches = [_dictionary_encoded(b) for b in reader]
    if not batches:
        batches = [_dictionary_encoded(pa.RecordBatch.from_pylist([], schema=reader.schema))]
    return pa.Table.from_batches(batches).unify_dictionaries().to_pandas(
        types_mapper={pa.int64(): pd.Int64Dtype()}.get)


_BATCH_ROWS = 1 << 20


def _dictionary_encoded(batch: Any) -> Any:
    import pyarrow as pa

    columns = [c.dictionary_encode() if pa.types.is_string(c.type) or pa.types.is_large_string(c.type)
               else c for c in batch.columns]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


# The CSV dialect DuckDB is given, never sniffed, by this reader and the OMOP reader: RFC 4180
# (comma, doubled quotes, quoted line breaks), the header row naming the columns.
CSV_DIALECT: dict[str, Any] = {"header": True, "auto_detect": False, "delim": ",", "quote": '"', "escape": '"'}


def _sql_options(options: dict[str, Any]) -> str:
    def literal(v: Any) -> str:
        return ("true" if v else "false") if isinstance(v, bool) else "'" + str(v).replace("'", "''") + "'"

    return ", ".join(f"{k}={literal(v)}" for k, v in options.items())


def fast_csv(path: Path) -> pd.DataFrame | None:
    """A CSV file parsed by the engine; None when it needs the record-by-record path."""
    import duckdb

    names = _header_cells(path)
    if names is None:
        return None
    columns = "{" + ", ".join(f"'{n.replace(chr(39), chr(39) * 2)}': 'VARCHAR'" for n in names) + "}"
    where = str(path).replace("'", "''")
    options = f"columns={columns}, {_sql_options(CSV_DIALECT)}, encoding='utf-8'"
    con = duckdb_connect()
    try:
        for extra in ("", ", null_padding=true, parallel=false"):
            try:
                return engine_frame(con, f"read_csv('{where}', {options}{extra})", {n: n for n in names})
            except duckdb.Error:
                continue
        return None
    finally:
        con.close()


def _typed_columns(table: str, columns: list[str], log: ProblemLog) -> dict[str, str]:
    """Contract names of a typed source's columns (case-insensitive, trimmed), as a CSV
    header is read: a repeated name is an error and only the first is read."""
    out: dict[str, str] = {}
    for i, column in enumerate(columns):
        name = header_name(column)
        if name in out:
            log.error(table, f"column name appears twice (column {i + 1} repeats it); "
                      "only the first is read", row=1, column=name)
            continue
        if name == SOURCE_ROW:
            log.error(table, f"{SOURCE_ROW!r} is reserved for the row number in the file; rename "
                      "the column", row=1, column=SOURCE_ROW)
            continue
        out[name] = column
    return out


def _typed_frame(con: Any, relation: str, table: str, log: ProblemLog) -> pd.DataFrame:
    described = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    names = _typed_columns(table, [r[0] for r in described], log)
    # A boolean column of a typed source is the contract's yes/no.
    booleans = {r[0] for r in described if r[1] == "BOOLEAN"}
    names = {n: (f"=CASE WHEN {_quoted(c)} THEN 'yes' WHEN NOT {_quoted(c)} THEN 'no' END"
                 if c in booleans else c) for n, c in names.items()}
    return engine_frame(con, relation, names)


def read_parquet_file(path: Path, table: str, log: ProblemLog) -> pd.DataFrame | None:
    """One Parquet file -> raw table: values as text, `source_row` = record number + 1."""
    import duckdb

    con = duckdb_connect()
    try:
        where = str(path).replace("'", "''")
        return _typed_frame(con, f"read_parquet('{where}')", table, log)
    except duckdb.Error as exc:
        log.error(table, f"{path.name} cannot be read as a Parquet file: {str(exc).splitlines()[0]}")
        return None
    finally:
        con.close()


DATABASE_SUFFIXES = (".duckdb", ".db", ".ddb")


def read_database(path: Path) -> RawInput:
    """A DuckDB database file with a table per contract table (table names case-insensitive).

    Each table's rows are numbered in its stored order, from 2 (as if a header were row 1).
    """
    import duckdb

    log = ProblemLog()
    tables: dict[str, pd.DataFrame] = {}
    inputs: list[InputFile] = []
    try:
        con = duckdb_connect(path, read_only=True)
    except duckdb.Error as exc:
        log.error("study", f"{path.name} cannot be read as a DuckDB database: {str(exc).splitlines()[0]}")
        return RawInput({}, [], log.problems, f"DuckDB database {path}")
    digest = sha256_of(path)
    try:
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "ORDER BY table_name").fetchall()]
        others: list[str] = []
        for name in names:
            table = _table_for(name)
            if table is None:
                others.append(name)
                continue
            if table in tables:
                log.error(table, f"two tables for the table (another is {name!r})")
                continue
            frame = _typed_frame(con, f'main."{name}"', table, log)
            tables[table] = frame
            inputs.append(InputFile(table, f"{path.name}#{name}", len(frame), digest))
        for name in others:
            not_a_table(name, f"table {name!r}", name, log, tables)
    finally:
        con.close()
    expected = {t: f"no table {t!r} in {path.name}" for t in TABLES}
    inputs.sort(key=lambda i: TABLES.index(i.table))
    return RawInput(tables, inputs, log.problems, f"DuckDB database {path}", expected)


def read_folder(path: Path) -> RawInput:
    """A folder with one CSV per table (`patients.csv`, ...; file names case-insensitive)."""
    log = ProblemLog()
    tables: dict[str, pd.DataFrame] = {}
    inputs: list[InputFile] = []
    found: dict[str, Path] = {}
    others: list[Path] = []
    for f in sorted(path.iterdir()):
        if f.name.startswith("."):
            continue
        suffix = f.suffix.lower()
        table = _table_for(f.stem) if suffix in (".csv", ".parquet") else None
        if table is None:
            if suffix in (".csv", ".xlsx", ".parquet"):
                others.append(f)
            continue
        why = unreadable_path(f)
        if why is not None:
            # Read as absent, an optional table would silently change the results.
            log.error(table, f"{f.name} {why}; the {table} table must be a readable file",
                      value=f.name)
            continue
        if table in found:
            log.error(table, f"two files for the table: {found[table].name} and {f.name}")
            continue
        found[table] = f
        if f.suffix.lower() == ".parquet":
            parquet = read_parquet_file(f, table, log)
            if parquet is not None:
                tables[table] = parquet
                inputs.append(InputFile(table, f.name, len(parquet), sha256_of(f)))
            continue
        fast = fast_csv(f)
        if fast is not None:
            tables[table] = fast
            inputs.append(InputFile(table, f.name, len(fast), sha256_of(f)))
            continue
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
    for f in others:
        not_a_table(f.name, f.name, f.stem, log, found)
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
    others: list[str] = []
    try:
        for sheet in book.worksheets:
            table = _table_for(sheet.title)
            if table is None or table not in wanted:
                if only is None:
                    others.append(sheet.title)
                continue
            if table in seen:
                log.error(table, f"two sheets for the table (another is {sheet.title!r})")
                continue
            # Files written by other tools often under-state the sheet's <dimension>, where
            # read-only openpyxl would stop: every row is read whatever the tag says.
            if hasattr(sheet, "reset_dimensions"):
                sheet.reset_dimensions()
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
        for title in others:
            not_a_table(title, f"sheet {title!r}", title, log, seen)
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
    if path.suffix.lower() in DATABASE_SUFFIXES:
        return read_database(path)
    log = ProblemLog()
    log.error("study", f"{path.name} is neither a folder of CSV files nor an .xlsx workbook")
    return RawInput({}, [], log.problems, str(path))
