"""The contract's machine-readable outputs: results.json and patients.csv."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from ctit.columns import per_distinct
from ctit.engine.derivations import patient_columns
from ctit.results import StudyResults


def clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if value is pd.NA or value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def results_json(results: StudyResults) -> str:
    return json.dumps(clean(results.to_dict()), indent=2, ensure_ascii=False) + "\n"


def _cell(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


# CSV-injection rule (OWASP): a text cell a spreadsheet would read as a formula gets a leading
# single quote; numbers (-5, +1.5e3) are left as they are. docs/report.md states it.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def safe_text(value: Any) -> Any:
    """A CSV cell as written, with the injection rule applied to text."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _is_number(value):
        return "'" + value
    return value


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """`df` with the injection rule applied to every text cell (and the header)."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object or pd.api.types.is_string_dtype(out[c].dtype):
            out[c] = per_distinct(out[c], safe_text)
    out.columns = [safe_text(c) for c in out.columns]
    return out


def patients_table(results: StudyResults) -> pd.DataFrame:
    """patients.csv: one row per screened patient, the contract's columns in its order, rows
    by patient_id (so the order of the input rows changes no byte)."""
    p = results.patients
    cols = patient_columns(results.protocol)
    table = pd.DataFrame({c: per_distinct(p[c], _cell) for c in cols}, index=p.index)
    return table.sort_values("patient_id", kind="stable").reset_index(drop=True)


def write_outputs(results: StudyResults, out: Path) -> list[Path]:
    """results.json, and (unless small cells are suppressed) patients.csv and unused_rows.csv."""
    from ctit.reports.suppression import min_cell_count

    out.mkdir(parents=True, exist_ok=True)
    written = []
    path = out / "results.json"
    path.write_text(results_json(results), encoding="utf-8")
    written.append(path)
    if min_cell_count(results) is not None:
        return written   # per-patient files do not leave the site
    path = out / "patients.csv"
    safe_frame(patients_table(results)).to_csv(path, index=False, lineterminator="\n")
    written.append(path)
    path = out / "unused_rows.csv"
    results.derivations.write_rows("unused_rows", path, "csv")
    written.append(path)
    return written
