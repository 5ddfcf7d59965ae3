"""Synthetic canonical studies for benchmarks and tests: `ctit synth`.

`generate(patients, seed)` builds the contract's six tables as Arrow tables, vectorised
(numpy; no per-patient loop), the same for the same arguments. Each patient follows the
shape of the bundled example: a prior anticancer regimen, a TPO-RA course before ATRA,
ATRA from day 0 for the planned 42 days, platelet counts on a fixed schedule (about 23 lab
rows a patient with ALT/AST) that recover or not, and for some patients transfusions,
bleeding and adverse events. A share of patients is built to fail each eligibility
criterion of protocol section 4 (`EXCLUSION_SHARE`), so every exclusion reason appears.

Untreated patients (`untreated_share` of the otherwise eligible, plus those built without
study drug) have the same refractory CTIT (anticancer drug, a TPO-RA course of at least 7
days, grade 2+ counts) but no ATRA, and follow the natural history: a share
`spontaneous_recovery` of them recovers (to 130-260 x 10^9/L, from 3-15 days after day 0,
so within the response windows from any index day the comparator can find), the others
stay within 10% of their baseline; they get no platelet transfusions, so the comparator's
sustained-response rate among them estimates `spontaneous_recovery` exactly
(docs/comparator.md). Their draws come from a second stream of the seed, so the treated
patients are the same whatever the untreated share.
`write(tables, out, fmt)` writes a study folder (CSV or Parquet); `write_omop_study`
writes the same study as an OMOP CDM 5.4 (ctit.omop.writer).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from ctit.engine.local import duckdb_connect
from ctit.protocol import EXCLUSION_REASONS

# Share of patients built to fail each criterion (protocol section 4); the rest are eligible.
EXCLUSION_SHARE = 0.03
BASELINE_DAYS = (-14, -10, -6, -2)           # baseline window is [-7, 0]: -6 and -2 in it
POST_DAYS = (3, 7, 10, 14, 17, 21, 24, 28, 31, 35, 42, 49, 56)
ENZYME_DAYS = (-5, 14, 28)
TUMORS = ("lung adenocarcinoma", "gastric adenocarcinoma", "colorectal adenocarcinoma",
          "breast cancer", "ovarian cancer", "lymphoma")
TPO_RA = ("rhTPO", "avatrombopag", "eltrombopag", "hetrombopag")
ANTICANCER = ("carboplatin", "oxaliplatin", "gemcitabine", "pemetrexed")
AE_TERMS = ("Nausea", "Headache", "Dry skin", "Fatigue", "Bone pain")
BLEEDING_SITES = ("petechiae", "epistaxis", "gum")


def _ids(n: int) -> np.ndarray:
    width = max(6, len(str(n)))
    return np.char.add("S", np.char.zfill(np.arange(1, n + 1).astype(str), width))


def generate(patients: int, seed: int = 0, *, untreated_share: float = 0.0,
             spontaneous_recovery: float = 0.2) -> dict[str, pa.Table]:
    """The six canonical input tables of a synthetic study of `patients` patients, a share
    `untreated_share` of the eligible ones without ATRA (module docstring)."""
    for name, share in (("untreated_share", untreated_share), ("spontaneous_recovery", spontaneous_recovery)):
        if not 0 <= share <= 1:
            raise ValueError(f"{name} must be between 0 and 1, not {share}")
    rng = np.random.default_rng(seed)
    natural = np.random.default_rng([seed, 13])
    n = patients
    pid = _ids(n)
    # Which criterion (if any) each patient is built to fail: 0 = eligible.
    kinds = len(EXCLUSION_REASONS)
    fate = np.zeros(n, dtype=np.int8)
    draw = rng.random(n)
    for k in range(kinds):
        fate[(draw >= k * EXCLUSION_SHARE) & (draw < (k + 1) * EXCLUSION_SHARE)] = k + 1
    if n >= kinds:
        fate[:kinds] = np.arange(1, kinds + 1)   # every reason appears, even in a small study
    reason = {r: np.int8(i + 1) for i, r in enumerate(EXCLUSION_REASONS)}

    height = rng.normal(165, 8, n).round()
    weight = rng.normal(62, 10, n).clip(40, 120).round()
    pre = rng.normal(210, 45, n).clip(100, 400).round()
    pre_given = rng.random(n) < 0.9
    patients_t = pa.table({
        "patient_id": pid,
        "sex": rng.choice(np.array(["M", "F"]), n),
        "age_years": rng.integers(30, 85, n),
        "height_cm": height,
        "weight_kg": weight,
        "tumor_type": rng.choice(np.array(TUMORS), n),
        "pre_therapy_platelets": pa.array(pre, mask=~pre_given),
        "index_date": pa.nulls(n, pa.string()),
    })

    # Exposures: anticancer (day -42), TPO-RA course (unless no_prior_tpo_ra), ATRA from day 0.
    has_tpo = fate != reason["no_prior_tpo_ra"]
    untreated = (fate == 0) & (natural.random(n) < untreated_share)
    has_atra = (fate != reason["no_study_drug"]) & ~untreated
    tpo_start = -rng.integers(15, 29, n)
    tpo_end = tpo_start + rng.integers(7, 14, n)
    atra_end = np.where(rng.random(n) < 0.15, rng.integers(10, 41, n), 41)
    daily = (np.sqrt(height * weight / 3600) * 25 / 10).round() * 10
    exp_parts = [
        (np.ones(n, bool), rng.choice(np.array(ANTICANCER), n), "anticancer", np.full(n, -42), np.full(n, -42),
         np.full(n, 400.0), "mg"),
        (has_tpo, rng.choice(np.array(TPO_RA), n), "tpo_ra", tpo_start, tpo_end, np.full(n, 15000.0), "U"),
        (has_atra, np.full(n, "ATRA"), "study_drug", np.zeros(n, int), atra_end, daily, "mg"),
    ]
    exposures_t = _stack({
        "patient_id": [pid[m] for m, *_ in exp_parts],
        "drug": [d[m] for m, d, *_ in exp_parts],
        "role": [np.full(m.sum(), r) for m, _, r, *_ in exp_parts],
        "start_day": [s[m] for m, _, _, s, *_ in exp_parts],
        "end_day": [e[m] for m, _, _, _, e, *_ in exp_parts],
        "dose": [d[m] for m, *_, d, _ in exp_parts],
        "dose_unit": [np.full(m.sum(), u) for m, *_, u in exp_parts],
    })

    # Platelets: a low baseline (grade 2+ unless built otherwise), then recovery or not.
    baseline = rng.uniform(8, 70, n)
    baseline = np.where(fate == reason["baseline_not_grade_2_plus"], rng.uniform(80, 140, n), baseline)
    recovers = rng.random(n) < 0.6
    onset = rng.integers(5, 40, n)
    target = np.where(recovers, rng.uniform(110, 260, n), baseline * rng.uniform(0.9, 1.6, n))
    # Without ATRA: the natural history (module docstring), from the second stream.
    recovers_n = natural.random(n) < spontaneous_recovery
    onset = np.where(has_atra, onset, natural.integers(3, 16, n))
    target = np.where(has_atra, target, np.where(recovers_n, natural.uniform(130, 260, n),
                                                 baseline * natural.uniform(0.9, 1.1, n)))
    days = np.array(BASELINE_DAYS + POST_DAYS)
    k = len(days)
    day = np.tile(days, n)
    who = np.repeat(np.arange(n), k)
    rise = 1 / (1 + np.exp(-(day - onset[who]) / 3.0))
    value = baseline[who] + (target[who] - baseline[who]) * np.where(day > 0, rise, 0)
    value = (value * rng.normal(1, 0.06, n * k)).clip(1, 900).round()
    keep = np.ones(n * k, bool)
    keep &= ~((fate[who] == reason["no_baseline_platelets"]) & (day >= -7) & (day <= 0))
    keep &= ~((fate[who] == reason["no_post_baseline_platelets"]) & (day > 0))
    plt_rows = (who[keep], day[keep], np.full(keep.sum(), "PLT"), value[keep], np.full(keep.sum(), "10^9/L"))

    enz = np.array(ENZYME_DAYS)
    e_day = np.tile(enz, 2 * n)
    e_who = np.repeat(np.arange(n), 2 * len(enz))
    e_test = np.tile(np.repeat(np.array(["ALT", "AST"]), len(enz)), n)
    hepatotoxic = rng.random(n) < 0.1
    e_value = rng.normal(28, 8, len(e_day)).clip(5, None)
    e_value = np.where(hepatotoxic[e_who] & (e_day > 0), e_value * rng.uniform(3, 8, len(e_day)), e_value).round()
    enz_rows = (e_who, e_day, e_test, e_value, np.full(len(e_day), "U/L"))
    labs_t = _stack({
        "patient_id": [pid[plt_rows[0]], pid[enz_rows[0]]],
        "day": [plt_rows[1], enz_rows[1]],
        "test": [plt_rows[2], enz_rows[2]],
        "value": [plt_rows[3], enz_rows[3]],
        "unit": [plt_rows[4], enz_rows[4]],
        "uln": [np.full(len(plt_rows[0]), np.nan), np.full(len(enz_rows[0]), 40.0)],
    }, order=("patient_id", "day"), nan_is_null=True)

    t_who = np.flatnonzero(rng.random(n) < 0.12)
    t_who = t_who[has_atra[t_who]]
    transfusions_t = pa.table({
        "patient_id": pid[t_who],
        "day": rng.integers(1, 30, len(t_who)),
        "product": rng.choice(np.array(["platelets", "rbc"]), len(t_who), p=[0.7, 0.3]),
        "units": rng.integers(1, 3, len(t_who)),
    })
    b_who = np.flatnonzero(rng.random(n) < 0.1)
    bleeding_t = pa.table({
        "patient_id": pid[b_who],
        "day": rng.integers(-10, 50, len(b_who)),
        "who_grade": rng.integers(1, 3, len(b_who)),
        "site": rng.choice(np.array(BLEEDING_SITES), len(b_who)),
    })
    a_who = np.flatnonzero(rng.random(n) < 0.3)
    a_start = rng.integers(-5, 40, len(a_who))
    adverse_t = pa.table({
        "patient_id": pid[a_who],
        "term": rng.choice(np.array(AE_TERMS), len(a_who)),
        "grade": rng.choice(np.array([1, 2, 3]), len(a_who), p=[0.6, 0.3, 0.1]),
        "start_day": a_start,
        "end_day": a_start + rng.integers(1, 10, len(a_who)),
        "serious": rng.choice(np.array(["no", "yes"]), len(a_who), p=[0.95, 0.05]),
        "related": rng.choice(np.array(["no", "yes"]), len(a_who)),
    })
    return {"patients": patients_t, "exposures": exposures_t, "labs": labs_t,
            "transfusions": transfusions_t, "bleeding": bleeding_t, "adverse_events": adverse_t}


def _stack(parts: dict[str, list[np.ndarray]], order: tuple[str, ...] = ("patient_id",),
           nan_is_null: bool = False) -> pa.Table:
    """Concatenated column parts as one table, rows ordered by `order` (stable)."""
    columns = {name: np.concatenate(chunks) for name, chunks in parts.items()}
    keys = [columns[c] for c in reversed(order)]
    index = np.lexsort(keys)
    return pa.table({name: pa.array(c[index], from_pandas=nan_is_null) for name, c in columns.items()})


def write(tables: dict[str, pa.Table], out: Path, fmt: str = "csv") -> list[Path]:
    """A study folder: one `<table>.csv` or `<table>.parquet` per table."""
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"unknown format {fmt!r}; choose csv or parquet")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    con = duckdb_connect()
    try:
        for name, table in tables.items():
            path = out / f"{name}.{fmt}"
            con.register("synth_table", table)
            options = "FORMAT parquet" if fmt == "parquet" else "FORMAT csv, HEADER true"
            con.execute(f"COPY synth_table TO '{str(path).replace(chr(39), chr(39) * 2)}' ({options})")
            con.unregister("synth_table")
            written.append(path)
    finally:
        con.close()
    return written


def write_omop_study(tables: dict[str, pa.Table], out: Path, fmt: str = "csv") -> list[Path]:
    """The synthetic study as an OMOP CDM 5.4 folder: written as a canonical study, read by
    the canonical reader and written by `ctit export omop`'s writer, so both formats hold
    the same study."""
    import tempfile

    from ctit.omop.writer import write_omop
    from ctit.sources import read_source

    with tempfile.TemporaryDirectory(prefix="ctit-synth-") as tmp:
        write(tables, Path(tmp), "parquet")
        study = read_source(Path(tmp), "study")
        return write_omop(study, out, fmt=fmt)


__all__ = ["EXCLUSION_SHARE", "generate", "write", "write_omop_study"]
