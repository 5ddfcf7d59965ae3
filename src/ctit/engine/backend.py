"""Where derivations run: DuckDB in memory by default, or any Ibis backend a user connects."""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir
import pandas as pd

from ctit.engine.arrow import arrow_table, to_pandas
from ctit.study import Study

if TYPE_CHECKING:
    from ctit.engine.plan import Plan


def connect(backend: str = "duckdb") -> ibis.BaseBackend:
    """A fresh connection; DuckDB in memory unless another backend is named."""
    if backend == "duckdb":
        return ibis.duckdb.connect()
    raise ValueError(f"unknown backend {backend!r}; connect it with ibis and pass the connection")


def table(con: ibis.BaseBackend, name: str, df: pd.DataFrame) -> ir.Table:
    """Load one canonical table into the backend as a (temporary) table or view."""
    data = arrow_table(df)
    if con.name == "duckdb":
        # A view over the Arrow data: no copy, and DuckDB reads it in place.
        con.con.register(name, data)
        return con.table(name)
    if con.name == "pyspark":
        # Spark infers types row by row from pandas and fails on all-null or mixed columns;
        # an Arrow table carries the schema.
        sdf = con._session.createDataFrame(data)
        sdf.createOrReplaceTempView(name)
        return con.table(name)
    return con.create_table(name, data, overwrite=True)


def materialize(con: ibis.BaseBackend, name: str, expr: ir.Table, plan: Plan | None = None) -> ir.Table:
    """Compute `expr` once into a temporary table (or cached view) that later steps reuse;
    `plan` records the statement for a later replay."""
    if con.name == "duckdb":
        # Compiled once (Ibis's create_table would compile the expression a second time).
        sql = plan.record("create", name, con, expr) if plan is not None else con.compile(expr)
        con._run_pre_execute_hooks(expr)
        con.raw_sql(f'CREATE OR REPLACE TEMP TABLE "{name}" AS {sql}')
        return con.table(name, database="temp")
    if con.name == "pyspark":
        # Ibis registers in-memory tables (the CTCAE criteria) only when it runs a query
        # itself; a cached Spark view built from its SQL needs them registered first.
        con._run_pre_execute_hooks(expr)
        sdf = con._session.sql(con.compile(expr)).cache()
        sdf.createOrReplaceTempView(name)
        return con.table(name)
    return con.create_table(name, expr, overwrite=True)


def fetch(con: ibis.BaseBackend, expr: ir.Table, name: str = "", plan: Plan | None = None) -> pd.DataFrame:
    """Execute `expr` into pandas with nullable dtypes, the same whatever the engine."""
    if plan is not None and con.name == "duckdb":
        sql = plan.record("fetch", name, con, expr)
        con._run_pre_execute_hooks(expr)
        return to_pandas(con.con.sql(sql).fetch_arrow_table())
    if plan is not None:
        plan.record("fetch", name, con, expr)
    return to_pandas(con.to_pyarrow(expr))


def study_tables(con: ibis.BaseBackend, study: Study) -> dict[str, ir.Table]:
    """Every canonical table of a study, loaded into `con`, by table name."""
    return {name: table(con, f"ctit_{name}", df) for name, df in study.tables()}
