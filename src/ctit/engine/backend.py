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


ENGINES = ("duckdb", "spark")


def connect(backend: str = "duckdb", spark_conf: dict[str, str] | None = None) -> ibis.BaseBackend:
    """A fresh connection; DuckDB in memory unless another backend is named."""
    if backend == "duckdb":
        from ctit.engine.local import ibis_duckdb

        return ibis_duckdb()
    if backend == "spark":
        return connect_spark(spark_conf or {})
    raise ValueError(f"unknown backend {backend!r}; connect it with ibis and pass the connection")


def connect_spark(conf: dict[str, str]) -> ibis.BaseBackend:
    """A Spark session as an Ibis backend: Spark Connect when SPARK_REMOTE is set, else a local
    session (`local[*]`) unless `conf` names a master; `conf` holds Spark settings
    (`--spark-conf key=value`). Workers run the driver's Python; Spark's own log is quiet."""
    import atexit
    import os
    import shutil
    import sys
    import tempfile

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("ctit")
    remote = os.environ.get("SPARK_REMOTE")
    if remote:
        builder = builder.remote(remote)
    else:
        home = tempfile.mkdtemp(prefix="ctit-spark-")
        # Registered before the session starts, so it runs after PySpark's own exit handler.
        atexit.register(shutil.rmtree, home, ignore_errors=True)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        # Spark's own start-up and progress lines are not the user's concern: errors only, by
        # the console's filter. The root level stays WARN: a PySpark driver counts as Spark's
        # shell, which sets WARN where the root has another level, and says so on stderr.
        log4j = os.path.join(home, "log4j2.properties")
        with open(log4j, "w", encoding="utf-8") as fh:
            fh.write("rootLogger.level = warn\nrootLogger.appenderRef.stderr.ref = console\n"
                     "appender.console.type = Console\nappender.console.name = console\n"
                     "appender.console.target = SYSTEM_ERR\nappender.console.layout.type = PatternLayout\n"
                     "appender.console.layout.pattern = %p %c: %m%n\n"
                     "appender.console.filter.threshold.type = ThresholdFilter\n"
                     "appender.console.filter.threshold.level = error\n"
                     # A failed task's error and Java stack reach the driver as the query's
                     # exception, which ctit reports (a malformed input file as an input
                     # error): the executor's own copy on the console would only repeat it.
                     "logger.executor.name = org.apache.spark.executor.Executor\n"
                     "logger.executor.level = off\n"
                     "logger.tasks.name = org.apache.spark.scheduler.TaskSetManager\n"
                     "logger.tasks.level = off\n")
        defaults = {
            "spark.master": "local[*]",
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.shuffle.partitions": "8",
            "spark.sql.warehouse.dir": os.path.join(home, "warehouse"),
            "spark.driver.extraJavaOptions": f"-Dderby.system.home={home} -Dlog4j2.configurationFile=file:{log4j}",
            "spark.pyspark.python": sys.executable,
            # Local mode runs every task in the driver's JVM, whose default 1 GB heap runs out
            # at about 100 k patients: half the machine's memory, as a user would give it.
            "spark.driver.memory": _half_of_memory(),
        }
        for key, value in {**defaults, **conf}.items():
            builder = builder.config(key, value)
    if remote:
        for key, value in conf.items():
            builder = builder.config(key, value)
    session = builder.getOrCreate()
    if not remote:
        session.sparkContext.setLogLevel("ERROR")
    return ibis.pyspark.connect(session)


def _half_of_memory() -> str:
    """Half the machine's physical memory as a JVM size (at least 1 GB)."""
    import os

    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "1g"
    return f"{max(1, total // 2 // 2**30)}g"


def parse_conf(pairs: list[str] | None) -> dict[str, str]:
    """`key=value` settings (`--spark-conf`), in order; a later key wins."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected key=value, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


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


def materialize(con: ibis.BaseBackend, name: str, expr: ir.Table, plan: Plan | None = None,
                *, view: bool = False) -> ir.Table:
    """Compute `expr` once into a temporary table (on Spark a checkpointed view) that later steps reuse;
    `plan` records the statement for a later replay. `view` (DuckDB): a temporary view
    instead, computed by each read, for a row-level result read once or twice (written, listed),
    which a table would hold in memory beside the tables it is made from."""
    if con.name == "duckdb":
        kind = "view" if view else "create"
        # Compiled once (Ibis's create_table would compile the expression a second time).
        sql = plan.record(kind, name, con, expr) if plan is not None else con.compile(expr)
        con._run_pre_execute_hooks(expr)
        con.raw_sql(f'CREATE OR REPLACE TEMP {"VIEW" if view else "TABLE"} "{name}" AS {sql}')
        return _as_typed(con.table(name, database="temp"), expr)
    if con.name == "pyspark":
        # Ibis registers in-memory tables (the CTCAE criteria) only when it runs a query
        # itself; a Spark view built from its SQL needs them registered first.
        con._run_pre_execute_hooks(expr)
        # A local checkpoint, not a cache: it computes the rows now and cuts the lineage, so
        # each later step plans from a stored table instead of re-analysing every step before
        # it (a cached view keeps the whole plan; the example's analysis took twice as long).
        # Its blocks live on the executors, which a cluster must keep for the run.
        sdf = con._session.sql(con.compile(expr)).localCheckpoint()
        sdf.createOrReplaceTempView(name)
        return _as_typed(con.table(name), expr)
    return con.create_table(name, expr, overwrite=True)


def _as_typed(stored: ir.Table, expr: ir.Table) -> ir.Table:
    """`stored` with `expr`'s column types: an engine types an integer literal as its INT, so
    a table stored from the SQL can come back narrower than Ibis typed it (int32 for int64),
    and a later union with the expression's other tables needs the expression's types."""
    wanted = expr.schema()
    differ = {c: wanted[c] for c, t in stored.schema().items() if wanted[c] != t}
    return stored.cast(differ) if differ else stored


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
