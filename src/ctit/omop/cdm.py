"""An OMOP CDM 5.4 source opened in the engine: a DuckDB file, or a folder of CSV or Parquet
tables (file names in any case: PERSON.csv, person.parquet).

Every table is read as text and typed column by column (`Cdm.column`), so a bad cell is a
located problem (table, record id, column, value) rather than a failed cast deep in a query.
Nothing is loaded into Python: tables stay engine views.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import ibis.expr.types as ir

from ctit.errors import ProblemLog

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

    def column(self, table: str, column: str, kind: str, log: ProblemLog) -> ir.Value:
        """A column typed as `kind` (int64, float64, date, string); a missing column is null.

        Cells that are given but are not a `kind` are errors, the first few located by the
        table's record id."""
        t = self.tables[table]
        if column not in t.columns:
            return ibis.null(kind)
        raw = t[column].cast("string").strip()
        raw = ibis.cases((raw == "", ibis.null("string")), else_=raw)
        if kind == "string":
            return raw
        # A date-time keeps its date part (protocol section 11).
        text = raw.substr(0, 10) if kind == "date" else raw
        typed = text.try_cast(kind)
        if kind == "int64":
            # OMOP ids written as 8507.0 by some exports.
            typed = typed.coalesce(text.try_cast("float64").cast("int64"))
        key = TABLES.get(table, column)
        bad = t.filter(raw.notnull() & typed.isnull())
        rows = bad.select(_id=bad[key].cast("string") if key in t.columns else ibis.literal(""),
                          _v=raw).limit(BAD_SHOWN + 1).to_pyarrow().to_pylist()
        for r in rows[:BAD_SHOWN]:
            log.error(table.upper(), f"not a {_KIND_WORD[kind]} ({key} {r['_id']})", None, column, r["_v"])
        if len(rows) > BAD_SHOWN:
            log.error(table.upper(), f"more cells that are not a {_KIND_WORD[kind]} (first {BAD_SHOWN} shown)",
                      None, column)
        return typed


_KIND_WORD = {"int64": "whole number", "float64": "number", "date": "date (YYYY-MM-DD)"}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_sha256(cdm: Cdm, table: str) -> str:
    path = cdm.files.get(table)
    return _sha256(path) if path is not None and path.is_file() else ""


def open_cdm(path: Path, con: ibis.BaseBackend | None = None) -> Cdm:
    """Open a DuckDB file or a CSV/Parquet folder as a `Cdm`; FileNotFoundError when absent."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such OMOP source: {path}")
    if path.is_file():
        con = ibis.duckdb.connect(str(path), read_only=True)
        present = {n.lower(): n for n in con.list_tables()}
        tables = {n: con.table(present[n]) for n in TABLES if n in present}
        override = path.with_name(path.name + ".concepts.yaml")
        return Cdm(con, tables, {}, f"OMOP CDM DuckDB file {path}",
                   override if override.is_file() else None)
    con = con or ibis.duckdb.connect()
    files: dict[str, Path] = {}
    for f in sorted(path.iterdir()):
        name, suffix = f.stem.lower(), f.suffix.lower()
        if suffix in SUFFIXES and name in TABLES and name not in files:
            files[name] = f
    tables: dict[str, ir.Table] = {}
    for name, f in files.items():
        view = f"omop_{name}"
        if f.suffix.lower() == ".csv":
            tables[name] = con.read_csv(str(f), table_name=view, all_varchar=True, header=True)
        else:
            tables[name] = con.read_parquet(str(f), table_name=view)
    override = path / "omop_concepts.yaml"
    return Cdm(con, tables, files, f"OMOP CDM folder {path}", override if override.is_file() else None)
