"""Shared fixtures: where the shared test data lives, and one Spark connection per session."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

# The repo sits beside `shared/` (here /work/main and /work/shared; in CI <clone>/../shared).
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder; tests that need it are skipped when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA} (expected beside the repo)")
    return SHARED_DATA


# Test data is tiny: compiling generated code and re-planning stages cost more than they
# save (the derivations suite takes about half the time without them).
TINY_DATA_SPARK_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
}


@pytest.fixture(scope="session")
def spark_con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """An Ibis PySpark connection in local mode, started once per worker that needs it; mark
    users `spark` (`make test-fast` skips them)."""
    pytest.importorskip("pyspark")
    import ibis
    from pyspark.sql import SparkSession

    # Its own warehouse and Derby home: a shared default dir gives LOCATION_ALREADY_EXISTS.
    home = tmp_path_factory.mktemp("spark")
    builder = (
        SparkSession.builder.master("local[1]")
        .appName("ctit-tests")
        .config("spark.sql.warehouse.dir", str(home / "warehouse"))
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={home}")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
    )
    for key, value in TINY_DATA_SPARK_CONF.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    yield ibis.pyspark.connect(spark)
    spark.stop()


@pytest.fixture(autouse=True, scope="session")
def _isolated_plan_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Compiled plans go to a test-only folder, never the user's cache."""
    import os

    old = os.environ.get("CTIT_CACHE_DIR")
    os.environ["CTIT_CACHE_DIR"] = str(tmp_path_factory.mktemp("ctit-cache"))
    yield
    if old is None:
        os.environ.pop("CTIT_CACHE_DIR", None)
    else:
        os.environ["CTIT_CACHE_DIR"] = old
