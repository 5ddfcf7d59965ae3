"""Running the protocol's derivations: canonical tables in, the small result tables out.

On DuckDB (the default) a compiled plan of the same key is replayed when one is stored
(`ctit.engine.plan`); otherwise the Ibis graph of `ctit.engine.analysis` is built, run and
its plan stored. Any other engine (a user's connection, e.g. PySpark) always runs the graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from ctit.engine import plan as plans
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


@dataclass
class Derivations:
    """Executed derivations, small enough for pandas: the statistics and reports read these."""

    patients: pd.DataFrame        # one row per screened patient, every per-patient value
    landmarks: pd.DataFrame       # patient x landmark day: the count used and its day
    onsets: pd.DataFrame          # patient x response rule: onset and confirmation day
    reported_events: pd.DataFrame # patient x term: highest treatment-emergent grade
    other_lab_events: pd.DataFrame  # patient x other lab term: highest grade worse than baseline
    graded_labs: pd.DataFrame     # every lab row with its CTCAE term and grade
    tpo_ra_courses: pd.DataFrame  # merged TPO-RA courses
    unused_rows: pd.DataFrame     # input rows no protocol result uses: table, source_row, reason
    categories: pd.DataFrame      # best-response categories in order (code, label, counts_as_response, color_key)
    visits: pd.DataFrame          # patient x weekly visit day: the count the landmark rule picks
    transfusions: pd.DataFrame    # every transfusion with counted_for_washout
    bleeding: pd.DataFrame        # every bleeding assessment with voids_{category}, voids_response



# Protocol section 4, in order: the first failed criterion places a patient in the flow diagram.
EXCLUSION_REASONS = (
    "no_study_drug",
    "no_prior_tpo_ra",
    "no_baseline_platelets",
    "baseline_not_grade_2_plus",
    "no_post_baseline_platelets",
)


def _run_graph(study: Study, protocol: Protocol, con: Any, plan: plans.Plan | None) -> dict[str, pd.DataFrame]:
    from ctit.engine import backend
    from ctit.engine.analysis import build_derivations

    con = con or backend.connect()
    tables = backend.study_tables(con, study)
    expr = build_derivations(tables, protocol, con, plan)
    return {name: backend.fetch(con, e, name, plan) for name, e in expr.items()}


def _unused_rows(engine: pd.DataFrame, study: Study) -> pd.DataFrame:
    """One listing of every unused input row: those a reader could not map into the canonical
    tables (e.g. SDTM tests ctit does not know) and those no derivation uses."""
    reader = pd.DataFrame(study.unused_rows, columns=["table", "source_row", "reason"])
    reader["canonical_table"] = None
    both = pd.concat([engine.astype(object), reader.astype(object)], ignore_index=True)
    both["source_row"] = both.source_row.astype("int64")
    return both.sort_values(["table", "source_row"]).reset_index(drop=True)


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
        landmarks=_ordered(run["landmarks"], ["patient_id", "landmark_day"]),
        onsets=_ordered(run["onsets"], ["patient_id", "category"]),
        reported_events=_ordered(run["reported_events"], ["patient_id", "term"]),
        other_lab_events=_ordered(run["other_lab_events"], ["patient_id", "term"]),
        graded_labs=_ordered(run["graded_labs"], ["source_row", "direction"]),
        tpo_ra_courses=_ordered(run["tpo_ra_courses"], ["patient_id", "course_start"]),
        unused_rows=_unused_rows(run["unused_rows"], study),
        categories=_ordered(run["categories"], ["order"]),
        visits=_ordered(run["visits"], ["patient_id", "visit_day"]),
        transfusions=_ordered(run["transfusions"], ["source_row"]),
        bleeding=_ordered(run["bleeding"], ["source_row"]),
    )


def _ordered(df: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """Engines return rows in any order; listings and reports need the same order every run."""
    return df.sort_values(key, kind="mergesort", na_position="last").reset_index(drop=True)
