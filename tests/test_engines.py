"""One code path, every engine: the derivations on DuckDB and on PySpark give identical
outputs and identical derivation tables (the door to data that outgrows one machine)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd
import pytest

from ctit.reports.store import load_results

EXAMPLE = Path(str(resources.files("ctit").joinpath("examples", "atra-ctit")))


def _comparable(df: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    out = df.sort_values(key).reset_index(drop=True).astype("object")
    return out.where(out.notna(), None).map(lambda v: float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)


# Every derivation table the store keeps (read back by `load_results`), by the key that orders it.
DERIVATION_KEYS = {
    "patients": ["patient_id"],
    "onsets": ["patient_id", "category"],
    "unused_rows": ["table", "source_row"],
    "landmarks": ["patient_id", "landmark_day"],
    "reported_events": ["patient_id", "term"],
    "other_lab_events": ["patient_id", "term"],
    "tpo_ra_courses": ["patient_id", "course_start"],
    "graded_labs": ["source_row", "term"],
    "categories": ["order"],
    "visits": ["patient_id", "visit_day"],
    "transfusions": ["source_row"],
    "bleeding": ["source_row"],
    "dose_checks": ["source_row"],
}


@pytest.mark.spark
def test_the_cli_runs_on_spark_with_identical_outputs(tmp_path: Path) -> None:
    """`ctit analyze --engine spark` as a user runs it: its own local session (a fresh JVM,
    with the driver heap ctit sets), Spark's progress quiet, results.json and patients.csv
    byte-identical to the DuckDB run. The tiny-data settings only keep the test short."""
    import subprocess
    import sys

    from conftest import TINY_DATA_SPARK_CONF

    pytest.importorskip("pyspark")
    ctit = [str(Path(sys.executable).with_name("ctit"))]
    fast = [arg for key, value in TINY_DATA_SPARK_CONF.items() for arg in ("--spark-conf", f"{key}={value}")]
    import tempfile

    homes = set(Path(tempfile.gettempdir()).glob("ctit-spark-*"))
    runs = {}
    for engine, extra in (("duckdb", []), ("spark", fast)):
        out = tmp_path / engine
        proc = subprocess.run([*ctit, "analyze", str(EXAMPLE), "-o", str(out), "-f", "json", "-q",
                               "--engine", engine, *extra], capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "[Stage" not in proc.stderr + proc.stdout
        # Nothing from Spark's log: at most the JVM's own notice of the module Spark adds.
        assert [line for line in proc.stderr.splitlines()
                if line.strip() and "Using incubator modules" not in line] == [], proc.stderr[-3000:]
        runs[engine] = out
    # The session's scratch folder (its log settings, warehouse) goes with the process.
    assert set(Path(tempfile.gettempdir()).glob("ctit-spark-*")) == homes
    for name in ("results.json", "patients.csv"):
        assert (runs["spark"] / name).read_bytes() == (runs["duckdb"] / name).read_bytes(), name
    # And every derivation behind them, row by row.
    duck, spark = (load_results(runs[e]).derivations for e in ("duckdb", "spark"))
    for name, key in DERIVATION_KEYS.items():
        pd.testing.assert_frame_equal(_comparable(getattr(duck, name), key), _comparable(getattr(spark, name), key),
                                      check_dtype=False, obj=name)
