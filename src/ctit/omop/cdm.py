"""An OMOP CDM 5.4 source opened in the engine: a DuckDB file, a folder of CSV or Parquet
tables (file names in any case: PERSON.csv, person.parquet), or on Spark a database of the
session's catalogue.

Every table is read as text and typed column by column (`Cdm.typed`), so a bad cell is a
located problem (table, record id, column, value) rather than a failed cast deep in a query.
Nothing is loaded into Python: tables stay engine views.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import ibis
import ibis.expr.types as ir

from ctit.engine.backend import materialize
from ctit.engine.local import ibis_duckdb
from ctit.errors import InputError, Problem, ProblemLog
from ctit.readers.files import CSV_DIALECT, sha256_of

# The CDM tables the reader uses, with their primary key (the row a problem names).
TABLES: dict[str, str] = {
    "person": "person_id",
    "drug_exposure": "drug_exposure_id",
    "measurement": "measurement_id",
    "procedure_occurrence": "procedure_occurrence_id",
    "device_exposure": "device_exposure_id",
    "condition_occurrence": "condition_occurrence_id",
    "observation": "observation_id",
    "death": "person_id",
    "concept": "concept_id",
    "concept_ancestor": "ancestor_concept_id",
    "cdm_source": "cdm_source_name",
}
# Columns without which a table's records cannot be placed (CDM 5.4 required fields).
REQUIRED: dict[str, tuple[str, ...]] = {
    "person": ("person_id", "gender_concept_id"),
    "drug_exposure": ("person_id", "drug_concept_id", "drug_exposure_start_date"),
    "measurement": ("person_id", "measurement_concept_id", "measurement_date"),
    "procedure_occurrence": ("person_id", "procedure_concept_id", "procedure_date"),
    "device_exposure": ("person_id", "device_concept_id", "device_exposure_start_date"),
    "condition_occurrence": ("person_id", "condition_concept_id", "condition_start_date"),
    "observation": ("person_id", "observation_concept_id", "observation_date"),
    "death": ("person_id", "death_date"),
    "concept": ("concept_id",),
    "concept_ancestor": ("ancestor_concept_id", "descendant_concept_id"),
}
SUFFIXES = (".csv", ".parquet")
BAD_SHOWN = 5   # located problems shown per column before a count


@dataclass
class Cdm:
    """The opened CDM: its connection, the tables present (raw, as text), their files."""

    con: ibis.BaseBackend
    tables: dict[str, ir.Table]
    files: dict[str, Path] = field(default_factory=dict)
    source: str = ""
    override: Path | None = None   # a concept-set override found beside the tables

    def has(self, name: str) -> bool:
        return name in self.tables

    def keep(self, name: str, expr: ir.Table) -> ir.Table:
        """Compute `expr` once into a temporary table (a checkpointed view on Spark), so later
        queries start from it rather than from the CDM's files."""
        return materialize(self.con, f"ctit_omop_{name}", expr)

    def typed(self, table: str, columns: dict[str, str], log: ProblemLog) -> ir.Table:
        """The table with `columns` typed (name -> int64, float64, date, string), computed once;
        a missing column is null. Cells that are given but are not of their kind are errors,
        the first few located by the table's record id: one query finds whether any is bad."""
        t = self.tables[table]
        for c in REQUIRED.get(table, ()):
            if c in columns and c not in t.columns:
                log.error(table.upper(), "required column is missing (OMOP CDM 5.4)", 1, c)
        raw = {c: _clean(t[c]) for c in columns if c in t.columns}
        typed = {c: (_typed(raw[c], k) if c in raw else ibis.null(k)) for c, k in columns.items()}
        checks = [c for c, k in columns.items() if c in raw and k != "string"]
        if checks:
            counts = t.aggregate(**{c: (raw[c].notnull() & typed[c].isnull()).cast("int64").sum()
                                    for c in checks}).to_pyarrow().to_pylist()[0]
            key = TABLES.get(table)
            for c in checks:
                if not counts[c]:
                    continue
                bad = t.filter(raw[c].notnull() & typed[c].isnull())
                ident = bad[key].cast("string") if key in t.columns else ibis.literal("")
                rows = bad.select(_id=ident, _v=raw[c]).limit(BAD_SHOWN).to_pyarrow().to_pylist()
                word = _KIND_WORD[columns[c]]
                for r in rows:
                    log.error(table.upper(), f"not a {word} ({key} {r['_id']})", None, c, r["_v"])
                if counts[c] > BAD_SHOWN:
                    log.error(table.upper(), f"{counts[c]} cells are not a {word} (first {BAD_SHOWN} shown)",
                              None, c)
        return self.keep(table, t.select(**typed))


def _clean(column: ir.Value) -> ir.StringValue:
    raw = column.cast("string").strip()
    return ibis.cases((raw == "", ibis.null("string")), else_=raw)


def _typed(raw: ir.StringValue, kind: str) -> ir.Value:
    if kind == "string":
        return raw
    # A date-time keeps its date part (protocol section 11).
    text = raw.substr(0, 10) if kind == "date" else raw
    typed = text.try_cast(kind)
    if kind == "int64":
        # OMOP ids written as 8507.0 by some exports.
        typed = typed.coalesce(text.try_cast("float64").cast("int64"))
    return typed


_KIND_WORD = {"int64": "whole number", "float64": "number", "date": "date (YYYY-MM-DD)"}


def file_sha256(cdm: Cdm, table: str) -> str:
    path = cdm.files.get(table)
    return sha256_of(path) if path is not None and path.is_file() else ""


def open_cdm(path: Path, con: ibis.BaseBackend | None = None) -> Cdm:
    """Open an OMOP CDM as a `Cdm`: a DuckDB file, or a folder of CSV or Parquet tables read
    by `con`'s engine (DuckDB unless given); on another engine (Spark), a name that is no
    local path is a database of that engine's catalogue holding the CDM tables.
    FileNotFoundError when it is none of these."""
    path = Path(path)
    elsewhere = con is not None and con.name != "duckdb"
    if not path.exists():
        database = _database_named(con, str(path)) if elsewhere else None
        if database is not None:
            return _catalog_cdm(con, database)
        raise FileNotFoundError(f"no such OMOP source: {path}" + (
            f" (neither a local path nor a database of the {con.name} catalogue)" if elsewhere else ""))
    if path.is_file():
        # A DuckDB file is read by DuckDB, whatever engine then runs the derivations.
        con = ibis_duckdb(path, read_only=True)
        present = {n.lower(): n for n in con.list_tables()}
        tables = _opened({n: (present[n], lambda n=n: con.table(present[n])) for n in TABLES if n in present})
        override = path.with_name(path.name + ".concepts.yaml")
        return Cdm(con, tables, {}, f"OMOP CDM DuckDB file {path}",
                   override if override.is_file() else None)
    con = con or ibis_duckdb()
    files: dict[str, Path] = {}
    for f in sorted(path.iterdir()):
        name, suffix = f.stem.lower(), f.suffix.lower()
        if suffix in SUFFIXES and name in TABLES and name not in files:
            files[name] = f
    tables = _opened({n: (f.name, lambda n=n, f=f: _read_table(con, f, f"omop_{n}")) for n, f in files.items()})
    override = path / "omop_concepts.yaml"
    return Cdm(con, tables, files, f"OMOP CDM folder {path}", override if override.is_file() else None)


def _opened(readers: dict[str, tuple[str, Callable[[], ir.Table]]]) -> dict[str, ir.Table]:
    """Each CDM table (name -> (where it is, how to open it)) with its columns named in lower
    case, as the CDM names them (an Oracle or SQL Server export writes PERSON_ID); every table
    that cannot be opened is an input error, the engine's own message saying why."""
    tables: dict[str, ir.Table] = {}
    problems = []
    for name, (where, read) in readers.items():
        try:
            t = read()
            _check_named_once(list(t.columns))
            tables[name] = t.rename({c.lower(): c for c in t.columns if c != c.lower()})
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            problems.append(Problem(name.upper(), f"{where} cannot be read as a table: {first}"))
    if problems:
        raise InputError(problems)
    return tables


def _read_table(con: ibis.BaseBackend, f: Path, view: str) -> ir.Table:
    """One CDM file as an engine view; a CSV's cells as text, typed later by `Cdm.typed`.
    A CSV is read as RFC 4180 (comma, doubled quotes, quoted line breaks) on every engine,
    and a malformed record fails the query that meets it (`reading` names it)."""
    if f.suffix.lower() == ".parquet":
        return con.read_parquet(str(f), table_name=view)
    if con.name == "duckdb":
        # The dialect is given, not sniffed: the sniffer, meeting one record with an extra
        # field, took another header and every column went missing.
        columns = {name: "VARCHAR" for name in _csv_header(f)}
        return con.read_csv(str(f), table_name=view, columns=columns, **CSV_DIALECT)
    # Spark reads text unless told to infer, and nulls a malformed record unless FAILFAST.
    return con.read_csv(str(f), table_name=view, header=True, inferSchema=False, escape='"',
                        multiLine=True, mode="FAILFAST")


def _csv_header(f: Path) -> list[str]:
    with f.open(encoding="utf-8-sig", newline="") as fh:
        header = next(csv.reader(fh), [])
    if not header or "" in header:
        raise ValueError("the first line must name every column")
    # Checked here as well as by `_opened`: DuckDB, given a name twice, would keep one column
    # and count each record's fields against the shorter list.
    _check_named_once(header)
    return header


def _check_named_once(names: list[str]) -> None:
    lower = [n.lower() for n in names]
    twice = next((n for i, n in enumerate(lower) if n in lower[:i]), None)
    if twice is not None:
        raise ValueError(f"column {twice!r} is named twice (names are read in any case)")


@contextmanager
def reading(cdm: Cdm) -> Iterator[None]:
    """Run queries over the CDM's files, turning an engine's failure to read one of them (a
    malformed CSV record is met only when a query reads it) into an input error naming the
    table, the row where the engine gives it, and the record."""
    try:
        yield
    except InputError:
        raise
    except Exception as exc:
        problem = _read_failure(cdm, str(exc))
        if problem is None:
            raise
        raise InputError([problem]) from None


def _read_failure(cdm: Cdm, text: str) -> Problem | None:
    failed = _failed_file(cdm, text)
    if failed is None:
        return None
    table, f = failed
    line = re.search(r"CSV Error on Line: (\d+)", text)
    # DuckDB: the record (its line breaks kept; a CRLF file's starts with the stray LF), then
    # one line saying what is wrong with it, then its suggestions.
    duck = re.search(r"Original Line: \r?\n?(.*?)\n([^\n]+)\n(?:Possible fixes|\n)", text, re.DOTALL)
    spark = re.search(r"Malformed CSV record: (.*?)(?: SQLSTATE|$)", text, re.MULTILINE)
    fields = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", text)
    if fields:
        why = f"a record has {fields[2]} fields where the header names {fields[1]}"
    elif duck:
        why = duck[2].strip()
    elif spark:
        why = "a record is not well-formed CSV"
    else:
        why = text.strip().splitlines()[0] if text.strip() else "the engine could not read it"
    record = duck[1] if duck else spark[1] if spark else None
    return Problem(table.upper(), f"{f.name} cannot be read as a table: {why}",
                   int(line[1]) if line else None, None, record.rstrip("\r") if record else None)


def _failed_file(cdm: Cdm, text: str) -> tuple[str, Path] | None:
    """The CDM file an engine's message names: DuckDB's `file = PATH`, Spark's `reading file
    URI`, compared with each file's real path (a relative path, a link, an encoded URI)."""
    named = re.search(r"^\s*file = (.+)$", text, re.MULTILINE) or re.search(r"reading file (\S+?)\.?(?:\s|$)", text)
    if named is None:
        return None
    where = named[1].strip()
    if where.startswith("file:"):
        where = unquote(urlparse(where).path)
    real = os.path.realpath(where)
    return next(((t, f) for t, f in cdm.files.items() if os.path.realpath(f) == real), None)


def _database_named(con: ibis.BaseBackend, name: str) -> str | None:
    """The catalogue's database called `name`, in any case (catalogues fold names)."""
    try:
        databases = con.list_databases()
    except Exception:  # an engine without a catalogue has no database by that name
        return None
    return next((d for d in databases if d.lower() == name.lower()), None)


def _catalog_cdm(con: ibis.BaseBackend, database: str) -> Cdm:
    """The CDM tables of `database` in the engine's catalogue, as they are (any case)."""
    present = {n.lower(): n for n in con.list_tables(database=database)}
    tables = _opened({n: (f"{database}.{present[n]}", lambda n=n: con.table(present[n], database=database))
                      for n in TABLES if n in present})
    return Cdm(con, tables, {}, f"OMOP CDM database {database} ({con.name})")
