"""Running the protocol's derivations: canonical tables in, the small result tables out.

On DuckDB (the default) a compiled plan of the same key is replayed when one is stored
(`ctit.engine.plan`); otherwise the Ibis graph of `ctit.engine.analysis` is built, run and
its plan stored. Any other engine (a user's connection, e.g. PySpark) always runs the graph.

On DuckDB the row-level tables (graded labs, unused rows: as many rows as the input) stay in
the engine: they are written by it (`write_rows`, ordered in SQL) and fetched into pandas
only when a caller reads the attribute (a report listing them, a test). Only the per-patient
and per-event tables come into Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ctit.engine import plan as plans
from ctit.errors import Problem
from ctit.protocol import Protocol
from ctit.study import Study

# The contract's patients.csv columns, in order (data contract, Output).
PATIENT_COLUMNS_BASE = [
    "patient_id", "included", "exclusion_reasons", "baseline_plt", "nadir_plt", "nadir_grade",
    "cr_threshold", "best_response", "response_onset_day", "time_to_cr",
]
PATIENT_COLUMNS_TAIL = ["liver_max_grade", "planned_daily_dose_mg", "treatment_days"]


def patient_columns(protocol: Protocol) -> list[str]:
    """patients.csv columns; landmark columns follow the protocol's landmark days."""
    days = protocol.landmark_days
    return (PATIENT_COLUMNS_BASE + [f"plt_d{d}" for d in days] + [f"change_d{d}" for d in days]
            + PATIENT_COLUMNS_TAIL)


# The order every listing of a derivation table uses, missing values last; the engine
# orders the rows (it returns them in any order otherwise). Each key names one row.
LISTING_ORDER: dict[str, tuple[str, ...]] = {
    "landmarks": ("patient_id", "landmark_day"),
    "onsets": ("patient_id", "category"),
    "reported_events": ("patient_id", "term"),
    "other_lab_events": ("patient_id", "term"),
    "graded_labs": ("source_row", "direction"),
    "tpo_ra_courses": ("patient_id", "course_start"),
    "unused_rows": ("table", "source_row"),
    "categories": ("order",),
    "visits": ("patient_id", "visit_day"),
    "transfusions": ("source_row",),
    "bleeding": ("source_row",),
    "dose_checks": ("source_row",),
}
# Row-level results, kept in the engine on DuckDB.
ROW_LEVEL = {"graded_labs", "unused_rows"}
# Kept as views, computed where they are read: graded labs are as many rows as the labs (a
# stored copy would double the engine's memory) and are read once or twice. Unused rows are
# few and read three times (counted, listed, stored), so they are stored once.
VIEWS = {"graded_labs"}


@dataclass
class EngineRows:
    """A row-level result still in DuckDB: `sql` selects it in its listing order."""

    con: Any           # duckdb connection holding the tables `sql` reads
    sql: str
    owner: Any = None  # what keeps `con` open (an Ibis backend)

    def fetch(self) -> pd.DataFrame:
        from ctit.engine.arrow import to_pandas

        return to_pandas(self.con.sql(self.sql).fetch_arrow_table())

    def write(self, path: Path, fmt: str) -> None:
        """Written by the engine: `csv` (header, comma, empty for missing) or `parquet`."""
        options = "FORMAT parquet" if fmt == "parquet" else "FORMAT csv, HEADER true, DELIMITER ','"
        target = str(path).replace("'", "''")
        self.con.execute(f"COPY ({self.sql}) TO '{target}' ({options})")

    def counts(self, column: str) -> dict[Any, int]:
        return dict(self.con.sql(f'SELECT "{column}", count(*) FROM ({self.sql}) GROUP BY 1').fetchall())


class _RowLevel:
    """A `Derivations` field that may still be in the engine: fetched on first read."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> pd.DataFrame:
        if obj is None:
            raise AttributeError(self.name)  # no default for the dataclass
        value = obj.__dict__[self.name]
        if isinstance(value, EngineRows):
            value = _as_listed(self.name, value.fetch())
            obj.__dict__[self.name] = value
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.name] = value


def _as_listed(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """A fetched row-level table typed as the pandas listings always were."""
    if name == "unused_rows":
        df = df.astype(object).where(df.notna(), None)
        df["source_row"] = df.source_row.astype("int64")
    return df


@dataclass
class Derivations:
    """Executed derivations, small enough for pandas: the statistics and reports read these."""

    patients: pd.DataFrame        # one row per screened patient, every per-patient value
    landmarks: pd.DataFrame       # patient x landmark day: the count used and its day
    onsets: pd.DataFrame          # patient x response rule: onset and confirmation day
    reported_events: pd.DataFrame # patient x term: highest treatment-emergent grade
    other_lab_events: pd.DataFrame  # patient x other lab term: highest grade worse than baseline
    graded_labs: pd.DataFrame = _RowLevel()     # type: ignore[assignment]  # every lab row with its CTCAE term and grade
    tpo_ra_courses: pd.DataFrame  # merged TPO-RA courses
    unused_rows: pd.DataFrame = _RowLevel()     # type: ignore[assignment]  # input rows no result uses: table, source_row, reason
    categories: pd.DataFrame      # best-response categories in order (code, label, counts_as_response, color_key)
    visits: pd.DataFrame          # patient x weekly visit day: the count the landmark rule picks
    transfusions: pd.DataFrame    # every transfusion with counted_for_washout
    bleeding: pd.DataFrame        # every bleeding assessment with voids_{category}, voids_response
    dose_checks: pd.DataFrame     # study-drug records with an unusual or impossible dose per m2

    def __getstate__(self) -> dict[str, Any]:
        # A connection does not cross processes (figure workers): the rows go as pandas.
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def in_engine(self, name: str) -> EngineRows | None:
        """The row-level table `name` while it is still in the engine (not yet fetched)."""
        value = self.__dict__.get(name)
        return value if isinstance(value, EngineRows) else None

    def write_rows(self, name: str, path: Path, fmt: str = "csv") -> None:
        """Write a row-level table: by the engine while it is there, else from pandas."""
        rows = self.in_engine(name)
        if rows is not None:
            rows.write(path, fmt)
        elif fmt == "parquet":
            getattr(self, name).to_parquet(path, index=False)
        else:
            getattr(self, name).to_csv(path, index=False, lineterminator="\n")

    def unused_row_counts(self) -> dict[str, int]:
        """Unused rows by input table (results.json `inputs`), counted where the rows are."""
        rows = self.in_engine("unused_rows")
        if rows is not None:
            return {str(k): int(v) for k, v in rows.counts("table").items()}
        return {str(k): int(v) for k, v in self.unused_rows.table.value_counts().items()}


def _run_graph(study: Study, protocol: Protocol, con: Any, plan: plans.Plan | None) -> dict[str, Any]:
    """Fetched tables by name, in their listing order; on DuckDB the row-level ones as
    `EngineRows` (kept in the engine)."""
    import ibis
    import ibis.expr.operations as ops

    from ctit.engine import backend
    from ctit.engine.analysis import build_derivations

    own = con is None
    con = con or backend.connect()
    tables = backend.study_tables(con, study)
    expr = build_derivations(tables, protocol, con, plan)
    out: dict[str, Any] = {}
    for name, e in expr.items():
        if own and name in ROW_LEVEL:
            # A table the graph already stored is kept as it is; else it is stored once, or
            # defined as a view (`VIEWS`).
            op = e.op()
            if isinstance(op, ops.DatabaseTable):
                table = op.name
            else:
                table = f"ctit_result_{name}"
                backend.materialize(con, table, e, plan, view=name in VIEWS)
            if plan is not None:
                plan.steps.append(("keep", name, table))
            out[name] = EngineRows(con.con, f'"{table}"', owner=con)
        else:
            if name in LISTING_ORDER:
                e = e.order_by([ibis.asc(c, nulls_first=False) for c in LISTING_ORDER[name]])
            out[name] = backend.fetch(con, e, name, plan)
    return out


def _order_by(name: str) -> str:
    return ", ".join(f'"{c}" NULLS LAST' for c in LISTING_ORDER[name])


def _reader_unused(study: Study) -> pd.DataFrame:
    reader = pd.DataFrame(study.unused_rows, columns=["table", "source_row", "reason"])
    reader["canonical_table"] = None
    return reader


def _unused_rows(engine: Any, study: Study) -> Any:
    """One listing of every unused input row: those a reader could not map into the canonical
    tables (e.g. SDTM tests ctit does not know) and those no derivation uses."""
    reader = _reader_unused(study)
    if isinstance(engine, EngineRows):
        import pyarrow as pa

        schema = pa.schema([("table", pa.string()), ("source_row", pa.int64()), ("reason", pa.string()),
                            ("canonical_table", pa.string())])
        engine.con.register("ctit_reader_unused", pa.Table.from_pandas(reader, schema=schema, preserve_index=False))
        sql = (f"SELECT \"table\", CAST(source_row AS BIGINT) AS source_row, reason, canonical_table "
               f"FROM {engine.sql} UNION ALL SELECT * FROM ctit_reader_unused")
        return EngineRows(engine.con, f"SELECT * FROM ({sql}) ORDER BY {_order_by('unused_rows')}", engine.owner)
    both = pd.concat([engine.astype(object), reader.astype(object)], ignore_index=True)
    both["source_row"] = both.source_row.astype("int64")
    return both.sort_values(list(LISTING_ORDER["unused_rows"])).reset_index(drop=True)


def _graded(run: Any) -> Any:
    if isinstance(run, EngineRows):
        return EngineRows(run.con, f"SELECT * FROM {run.sql} ORDER BY {_order_by('graded_labs')}", run.owner)
    return run


def derive_study(study: Study, protocol: Protocol, con: Any = None) -> Derivations:
    """Run every derivation of the protocol on `study` (DuckDB unless `con` is given)."""
    if con is not None:
        run = _run_graph(study, protocol, con, None)
    else:
        key = plans.plan_key(study, protocol)
        stored = plans.load_plan(key)
        if stored is not None:
            run = plans.replay(stored, study)
        else:
            plan = plans.Plan()
            run = _run_graph(study, protocol, None, plan)
            plans.save_plan(key, plan)
    patients = run["patients"]
    patients = patients.astype("object").where(patients.notna(), None)
    return Derivations(
        patients=patients,
        landmarks=run["landmarks"],
        onsets=run["onsets"],
        reported_events=run["reported_events"],
        other_lab_events=run["other_lab_events"],
        graded_labs=_graded(run["graded_labs"]),
        tpo_ra_courses=run["tpo_ra_courses"],
        unused_rows=_unused_rows(run["unused_rows"], study),
        categories=run["categories"],
        visits=run["visits"],
        transfusions=run["transfusions"],
        bleeding=run["bleeding"],
        dose_checks=run["dose_checks"],
    )


def check_doses(study: Study, protocol: Protocol, con: Any = None) -> list[Problem]:
    """The recorded study-drug doses against the protocol's dose per m2 alone, without the
    analysis (`ctit validate --protocol`): the same engine check `derive_study` records."""
    from ctit.engine import backend
    from ctit.engine.analysis import derive_protocol_dose_checks
    from ctit.engine.dose_check import dose_problems

    con = con or backend.connect()
    checks = derive_protocol_dose_checks(backend.study_tables(con, study), protocol)
    return dose_problems(backend.fetch(con, checks, "dose_checks"), protocol.dose_mg_per_m2)

