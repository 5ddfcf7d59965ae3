"""Compiled query plans, kept between runs.

The derivations compile to SQL that depends only on the engine's code, the clinical
knowledge files, the effective protocol and the shape (columns and types) of the input
tables, never on the data. Building and compiling the Ibis expressions costs about a second;
running the SQL a few tenths. So a run on DuckDB records its statements, and a later run
with the same key replays them. The key covers everything the SQL depends on; a change to
any of it is a new plan. `CTIT_PLAN_CACHE=off` turns the cache off; `CTIT_CACHE_DIR` moves it
(default: $XDG_CACHE_HOME/ctit or ~/.cache/ctit).

A stored plan is replayed only if it still hashes to the digest stored with it: a plan
edited or damaged after it was written is rebuilt. The digest guards against accidents and
casual edits, not against someone able to rewrite both files; keep the cache directory
private (it is the user's own, like any cache).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from ctit.engine.local import duckdb_connect
from ctit.protocol import Protocol
from ctit.study import Study

FORMAT = 3  # of the stored plan; bump when this module changes what it stores


@dataclass
class Plan:
    """Statements in run order: ("create", table, sql), ("view", view, sql), ("fetch", result,
    sql) or ("keep", result, table); and the in-memory tables (such as the CTCAE criteria)
    the statements read, by name."""

    steps: list[tuple[str, str, str]] = field(default_factory=list)
    memtables: dict[str, pa.Table] = field(default_factory=dict)

    def record(self, kind: str, name: str, con: Any, expr: Any) -> str:
        """Compile `expr` on `con`, remember the statement and its in-memory tables."""
        import ibis.expr.operations as ops

        sql = con.compile(expr)
        for m in expr.op().find(ops.InMemoryTable):
            self.memtables[m.name] = m.data.to_pyarrow(m.schema)
        self.steps.append((kind, name, sql))
        return sql


def cache_dir() -> Path | None:
    if os.environ.get("CTIT_PLAN_CACHE", "").lower() in ("off", "0", "no", "false"):
        return None
    root = os.environ.get("CTIT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ctit")
    return Path(root) / "plans"


@cache
def _code_fingerprint() -> str:
    """The package's source, knowledge and protocol files: the SQL is written from these."""
    import ctit

    root = Path(ctit.__file__).parent
    h = hashlib.sha256()
    # The whole package: the SQL depends on the engine, and on whatever it imports.
    files = [p for p in root.rglob("*") if p.is_file() and p.suffix in (".py", ".csv", ".yaml", ".json")
             and "__pycache__" not in p.parts]
    for path in sorted(files):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    for package in ("ibis-framework", "duckdb", "sqlglot", "pyarrow"):
        h.update(f"{package}={version(package)}".encode())
    return h.hexdigest()


def plan_key(study: Study, protocol: Protocol) -> str:
    shapes = {name: [(c, str(t)) for c, t in df.dtypes.items()] for name, df in study.tables()}
    text = json.dumps([FORMAT, _code_fingerprint(), protocol.as_dict(), shapes], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def load_plan(key: str) -> Plan | None:
    folder = cache_dir()
    if folder is None or not (folder / key / "steps.json").is_file():
        return None
    try:
        if (folder / key / "digest").read_text(encoding="utf-8").strip() != _digest(key, folder / key):
            return None  # a plan changed after it was stored is rebuilt, never replayed
        steps = [tuple(s) for s in json.loads((folder / key / "steps.json").read_text(encoding="utf-8"))]
        memtables = {p.stem: pa.ipc.open_file(p).read_all() for p in (folder / key).glob("*.arrow")}
    except (OSError, ValueError, pa.ArrowException):
        return None  # an unreadable plan is rebuilt, never trusted
    return Plan(steps, memtables)  # type: ignore[arg-type]


def _digest(key: str, folder: Path) -> str:
    """What a stored plan must still hash to: its key, statements and in-memory tables."""
    h = hashlib.sha256(key.encode())
    for path in sorted(p for p in folder.iterdir() if p.name != "digest"):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def save_plan(key: str, plan: Plan) -> None:
    """Store atomically; a plan that cannot be stored only costs the next run its speed."""
    folder = cache_dir()
    if folder is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=folder))
        (tmp / "steps.json").write_text(json.dumps(plan.steps), encoding="utf-8")
        for name, table in plan.memtables.items():
            with pa.ipc.new_file(tmp / f"{name}.arrow", table.schema) as writer:
                writer.write_table(table)
        (tmp / "digest").write_text(_digest(key, tmp), encoding="utf-8")
        try:
            tmp.rename(folder / key)
        except OSError:  # another run stored the same plan first
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError:
        pass


def replay(plan: Plan, study: Study) -> dict[str, Any]:
    """Run a stored plan on DuckDB over `study`: the same tables the live run returns (the
    row-level ones kept in the engine, whose connection stays open for them)."""
    from ctit.engine.arrow import arrow_table, to_pandas
    from ctit.engine.derivations import EngineRows

    con = duckdb_connect()
    for name, df in study.tables():
        con.register(f"ctit_{name}", arrow_table(df))
    for name, table in plan.memtables.items():
        con.register(name, table)
    out: dict[str, Any] = {}
    for kind, name, sql in plan.steps:
        if kind == "create":
            con.execute(f'CREATE OR REPLACE TEMP TABLE "{name}" AS {sql}')
        elif kind == "view":
            con.execute(f'CREATE OR REPLACE TEMP VIEW "{name}" AS {sql}')
        elif kind == "keep":
            out[name] = EngineRows(con, f'"{sql}"')
        else:
            out[name] = to_pandas(con.sql(sql).fetch_arrow_table())
    return out
