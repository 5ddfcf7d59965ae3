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
        return con.create_table(name, data, temp=True, overwrite=True)
    if con.name == "pyspark":
        sdf = con._session.createDataFrame(data.to_pandas())
        sdf.createOrReplaceTempView(name)
        return con.table(name)
    return con.create_table(name, data, overwrite=True)


def materialize(con: ibis.BaseBackend, name: str, expr: ir.Table) -> ir.Table:
    """Compute `expr` once into a temporary table (or cached view) that later steps reuse."""
    if con.name == "duckdb":
        return con.create_table(name, expr, temp=True, overwrite=True)
    if con.name == "pyspark":
        sdf = con._session.sql(con.compile(expr)).cache()
        sdf.createOrReplaceTempView(name)
        return con.table(name)
    return con.create_table(name, expr, overwrite=True)


def study_tables(con: ibis.BaseBackend, study: Study) -> dict[str, ir.Table]:
    """Every canonical table of a study, loaded into `con`, by table name."""
    return {name: table(con, f"ctit_{name}", df) for name, df in study.tables()}
