"""DuckDB connections as ctit opens them: the embedded engine, with its own progress bar off
(ctit reports its phases itself, and a bar must never reach a pipe or a log), and results
in insertion order wherever a query has no ORDER BY (the readers number a file's rows by
that order and do not sort millions of rows to keep it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Session settings (DuckDB refuses them as start-up configuration).
SETTINGS = "SET enable_progress_bar = false; SET preserve_insertion_order = true"


def duckdb_connect(database: str | Path = ":memory:", read_only: bool = False) -> Any:
    """A raw DuckDB connection."""
    import duckdb

    con = duckdb.connect(str(database), read_only=read_only)
    con.execute(SETTINGS)
    return con


def ibis_duckdb(database: str | Path = ":memory:", read_only: bool = False) -> Any:
    """A DuckDB connection as an Ibis backend."""
    import ibis

    con = ibis.duckdb.connect(str(database), read_only=read_only)
    con.raw_sql(SETTINGS)
    return con
