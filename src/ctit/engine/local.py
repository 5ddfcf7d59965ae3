"""DuckDB connections as ctit opens them: the embedded engine, with its own progress bar off
(ctit reports its phases itself, and a bar must never reach a pipe or a log), results
in insertion order wherever a query has no ORDER BY (the readers number a file's rows by
that order and do not sort millions of rows to keep it), and what does not fit in memory
spilled to a folder of its own under the system's temporary folder, which DuckDB removes
when the connection closes (its default, `.tmp` in the working directory, would leave
gigabytes beside a user's study)."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

# Session settings (DuckDB refuses them as start-up configuration).
SETTINGS = "SET enable_progress_bar = false; SET preserve_insertion_order = true"


def _settings() -> str:
    # One folder per connection: two connections spilling to one folder would share file names.
    spill = os.path.join(tempfile.gettempdir(), f"ctit-duckdb-{uuid.uuid4().hex[:12]}").replace("'", "''")
    return f"{SETTINGS}; SET temp_directory = '{spill}'"


def duckdb_connect(database: str | Path = ":memory:", read_only: bool = False) -> Any:
    """A raw DuckDB connection."""
    import duckdb

    con = duckdb.connect(str(database), read_only=read_only)
    con.execute(_settings())
    return con


def ibis_duckdb(database: str | Path = ":memory:", read_only: bool = False) -> Any:
    """A DuckDB connection as an Ibis backend."""
    import ibis

    con = ibis.duckdb.connect(str(database), read_only=read_only)
    con.raw_sql(_settings())
    return con
