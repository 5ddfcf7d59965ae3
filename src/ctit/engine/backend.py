"""Where derivations run: DuckDB in memory by default, or any Ibis backend a user connects."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pandas as pd

from ctit.study import Study


def connect(backend: str = "duckdb") -> ibis.BaseBackend:
    """A fresh connection; DuckDB in memory unless another backend is named."""
    if backend == "duckdb":
        return ibis.duckdb.connect()
    raise ValueError(f"unknown backend {backend!r}; connect it with ibis and pass the connection")


def table(con: ibis.BaseBackend, name: str, df: pd.DataFrame) -> ir.Table:
    """Load one canonical table into the backend as a (temporary) table or view."""
    # Engines disagree on pandas' nullable extension types; Arrow carries them faithfully.
    import pyarrow as pa

    data = pa.Table.from_pandas(df, preserve_index=False)
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


def materialize(con: ibis.BaseBackend, name: str, expr: ir.Table) -> ir.Table:
    """Compute `expr` once into a temporary table (or cached view) that later steps reuse."""
    if con.name == "duckdb":
        # Compiled once (Ibis's create_table would compile the expression a second time).
        con._run_pre_execute_hooks(expr)
        con.raw_sql(f'CREATE OR REPLACE TEMP TABLE "{name}" AS {con.compile(expr)}')
        return con.table(name, database="temp")
    if con.name == "pyspark":
        # Ibis registers in-memory tables (the CTCAE criteria) only when it runs a query
        # itself; a cached Spark view built from its SQL needs them registered first.
        con._run_pre_execute_hooks(expr)
        sdf = con._session.sql(con.compile(expr)).cache()
        sdf.createOrReplaceTempView(name)
        return con.table(name)
    return con.create_table(name, expr, overwrite=True)


def fetch(con: ibis.BaseBackend, expr: ir.Table) -> pd.DataFrame:
    """Execute `expr` into pandas with nullable dtypes, the same whatever the engine.

    Spark types literal arithmetic as DECIMAL where DuckDB uses DOUBLE; results are doubles.
    """
    import pyarrow as pa

    data = con.to_pyarrow(expr)
    schema = pa.schema([
        f.with_type(pa.float64()) if pa.types.is_decimal(f.type) else f for f in data.schema
    ])
    # Types follow the schema, never the values: a float column of whole numbers stays float.
    nullable = {pa.int8(): pd.Int64Dtype(), pa.int16(): pd.Int64Dtype(), pa.int32(): pd.Int64Dtype(),
                pa.int64(): pd.Int64Dtype(), pa.float32(): pd.Float64Dtype(), pa.float64(): pd.Float64Dtype(),
                pa.bool_(): pd.BooleanDtype(), pa.string(): pd.StringDtype(), pa.large_string(): pd.StringDtype()}
    return data.cast(schema).to_pandas(types_mapper=nullable.get)


def study_tables(con: ibis.BaseBackend, study: Study) -> dict[str, ir.Table]:
    """Every canonical table of a study, loaded into `con`, by table name."""
    return {name: table(con, f"ctit_{name}", df) for name, df in study.tables()}
