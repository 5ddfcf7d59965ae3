"""What the renderers need, persisted next to results.json so `ctit report OUT` can re-render
every output without re-analysis.

Layout: `OUT/data/results.json` (the numbers, never suppressed; older stores: `OUT/results.json`),
`OUT/data/derivations_<name>.parquet` (the
derivation tables), `OUT/data/study_<table>.parquet` (the canonical study tables),
`OUT/data/km_table.parquet` (the Kaplan-Meier table) and `OUT/data/meta.json` (what is in
none of those: sources, the KM header, the minimum cell count the outputs were suppressed at).
OUT/data is per-patient: it stays at the site. `load_results` rebuilds a `StudyResults` from them;
nothing is recomputed.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pandas as pd

from ctit.results import StudyResults

DATA = "data"
STORE_VERSION = 1


class StoreError(FileNotFoundError):
    """An OUT folder without the data `ctit report` needs (run `ctit analyze` first)."""


def _derivation_tables() -> list[str]:
    """Every table field of `Derivations` (the dataclass grows; the store follows it)."""
    from ctit.engine.derivations import Derivations

    return [f.name for f in dataclasses.fields(Derivations)]


def _to_parquet(df: pd.DataFrame, path: Path) -> None:
    """Write one table; object columns of mixed Python numbers are written as float."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pa.Table.from_pandas(df, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        fixed = df.copy()
        for c in fixed.columns:
            try:
                pa.array(fixed[c], from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                fixed[c] = pd.to_numeric(fixed[c], errors="coerce") if _numeric(fixed[c]) else fixed[c].map(
                    lambda v: None if v is None else str(v))
        table = pa.Table.from_pandas(fixed, preserve_index=False)
    pq.write_table(table, path)


def _numeric(s: pd.Series) -> bool:
    return all(v is None or isinstance(v, (int, float)) for v in s.dropna())


def _read_parquet(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path, dtype_backend="numpy_nullable")


def _as_objects(df: pd.DataFrame) -> pd.DataFrame:
    """The per-patient table as `derive_study` hands it over: object columns, None for missing,
    Python scalars (integers stay integers)."""
    out = df.astype("object")
    out = out.map(lambda v: v.item() if hasattr(v, "item") and not isinstance(v, (str, bytes)) else v)
    return out.where(df.notna(), None)


def save_store(results: StudyResults, out: Path, generated: Any = None,
               min_cell_count: int | None = None) -> list[Path]:
    """Persist the full results, the derivation tables, the study tables and the KM table under
    OUT/data; `generated` (the reports' time stamp) and `min_cell_count` (the outputs'
    suppression) so a re-render keeps them."""
    from ctit.reports.outputs import results_json

    folder = out / DATA
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "results.json"
    path.write_text(results_json(results), encoding="utf-8")
    written = [path]
    for name in _derivation_tables():
        path = folder / f"derivations_{name}.parquet"
        if results.derivations.in_engine(name) is not None:
            # Row-level tables are written by the engine, never pulled into pandas.
            results.derivations.write_rows(name, path, "parquet")
        else:
            _to_parquet(getattr(results.derivations, name), path)
        written.append(path)
    for name, df in results.study.tables():
        path = folder / f"study_{name}.parquet"
        _to_parquet(df, path)
        written.append(path)
    km = results.kaplan_meier
    km_meta = None
    if km is not None:
        rows = pd.DataFrame([r.as_dict() for r in km.table],
                            columns=["time", "n_risk", "n_event", "n_censor", "surv", "lower", "upper"])
        path = folder / "km_table.parquet"
        _to_parquet(rows.astype({"lower": "Float64", "upper": "Float64"}), path)
        written.append(path)
        km_meta = {k: getattr(km, k) for k in ("n", "n_events", "median", "ci_low", "ci_high", "method")}
    meta = {
        "store_version": STORE_VERSION,
        "protocol_source": results.protocol.source,
        "study_source": results.study.source,
        "kaplan_meier": km_meta,
        "generated": None if generated is None else generated.isoformat(),
        "min_cell_count": min_cell_count,
    }
    path = folder / "meta.json"
    path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    written.append(path)
    return written


def _protocol(saved: dict[str, Any], source: str) -> Any:
    """The effective protocol from results.json: its parameters as overrides of the bundled one."""
    from ctit.protocol import load_protocol

    params = {k: v for k, v in saved.items() if k != "version"}
    params["response_rules"] = [
        {**r, "target": {k: v for k, v in r["target"].items() if v is not None}} for r in params["response_rules"]
    ]
    return dataclasses.replace(load_protocol(overrides=params), source=source)


def saved_time(out: Path) -> Any:
    """The time stamp of the reports saved in OUT (a datetime), or None."""
    from datetime import datetime

    try:
        meta = json.loads((Path(out) / DATA / "meta.json").read_text(encoding="utf-8"))
        return datetime.fromisoformat(meta["generated"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def saved_min_cell_count(out: Path) -> int | None:
    """The minimum cell count OUT's outputs were suppressed at, or None."""
    try:
        meta = json.loads((Path(out) / DATA / "meta.json").read_text(encoding="utf-8"))
        return None if meta.get("min_cell_count") is None else int(meta["min_cell_count"])
    except (OSError, ValueError, TypeError):
        return None


def load_results(out: Path) -> StudyResults:
    """A StudyResults rebuilt from OUT (results.json + OUT/data), ready for any renderer."""
    from ctit.engine.derivations import Derivations
    from ctit.stats import KaplanMeier, KaplanMeierRow
    from ctit.study import TABLES, InputFile, Study, conform

    out = Path(out)
    folder = out / DATA
    if not (out / "results.json").is_file() or not (folder / "meta.json").is_file():
        raise StoreError(f"{out} has no results.json and {DATA}/: run `ctit analyze STUDY --out {out}` first")
    full = folder / "results.json"
    saved = json.loads((full if full.is_file() else out / "results.json").read_text(encoding="utf-8"))
    if "suppression" in saved:
        raise StoreError(f"{out} holds only suppressed results: run `ctit analyze` again to re-render it")
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))

    tables = {n: _read_parquet(folder / f"derivations_{n}.parquet") for n in _derivation_tables()}
    tables["patients"] = _as_objects(tables["patients"])
    derivations = Derivations(**tables)
    study_tables = {n: conform(n, _read_parquet(folder / f"study_{n}.parquet")) for n in TABLES}
    inputs = saved.get("inputs", [])
    study = Study(**study_tables, source=meta.get("study_source", ""),
                  inputs=[InputFile(table=f.get("table", ""), name=f["name"], rows=f["rows"], sha256=f["sha256"])
                          for f in inputs])
    km = None
    if meta.get("kaplan_meier") is not None:
        rows = _read_parquet(folder / "km_table.parquet")
        table = tuple(KaplanMeierRow(time=float(r.time), n_risk=int(r.n_risk), n_event=int(r.n_event),
                                     n_censor=int(r.n_censor), surv=float(r.surv),
                                     lower=None if pd.isna(r.lower) else float(r.lower),
                                     upper=None if pd.isna(r.upper) else float(r.upper))
                      for r in rows.itertuples(index=False))
        km = KaplanMeier(**meta["kaplan_meier"], table=table)

    fields = {f.name for f in dataclasses.fields(StudyResults)}
    known = {"protocol", "safety", "inputs", "warnings"}
    extra = {k: v for k, v in saved.items() if k in fields and k not in known}
    return StudyResults(
        protocol=_protocol(saved["protocol"], meta.get("protocol_source", "")),
        safety_events=saved["safety"]["events"],
        other_lab_events=saved["safety"].get("other_lab_events", []),
        inputs=inputs,
        warnings=saved.get("warnings", []),
        derivations=derivations,
        study=study,
        kaplan_meier=km,
        version=saved["protocol"].get("version", ""),
        **extra,
    )
