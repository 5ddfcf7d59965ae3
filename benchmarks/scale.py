"""Scale benchmark: `ctit analyze -f json` on synthetic studies of 10 k, 100 k, 1 M patients,
beside a hand-written DuckDB SQL of the core derivations (the floor) and a plain pandas
per-patient loop (small sizes only). Each run is a fresh process; wall, CPU (user + system)
and peak RSS are measured from outside. The floor and the loop are checked to give the same
per-patient values as ctit (included, baseline and nadir platelets).

    python benchmarks/scale.py --patients 10000 100000 [--formats csv parquet] [--loop-max 10000]
    python benchmarks/scale.py --patients 1000000 --engine-spark   # also Spark local

Studies are written by `ctit synth` (seed 1) under --work (default /tmp/ctit-scale). The
compiled-plan cache is left on, as a user has it: the first size pays the Ibis compile
(about 5 s CPU), later sizes of the same table shapes replay the stored SQL.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
CTIT = [str(Path(sys.executable).with_name("ctit"))]

# The core derivations in one SQL statement: study drug, prior TPO-RA >= 7 days before day 0,
# baseline (last count in [-7, 0], same day: the lower), grade 2+ (< 75), nadir (lowest in
# [-14, 0]), counts in [1, 56]; eligibility as in protocol section 4.
FLOOR_SQL = """
WITH labs AS (SELECT patient_id, CAST(day AS INTEGER) AS day, CAST(value AS DOUBLE) AS value
              FROM {labs} WHERE upper(test) = 'PLT' AND value IS NOT NULL),
exp AS (SELECT patient_id, role, CAST(start_day AS INTEGER) AS s, CAST(end_day AS INTEGER) AS e FROM {exposures}),
drug AS (SELECT patient_id, min(s) AS first_day FROM exp WHERE role = 'study_drug' GROUP BY 1),
tpo AS (SELECT patient_id, max(coalesce(e, 0) - s + 1) AS days FROM exp
        WHERE role = 'tpo_ra' AND s < 0 GROUP BY 1 HAVING max(coalesce(e, 0) - s + 1) >= 7),
base AS (SELECT patient_id, arg_min(value, -day * 100000 + value) AS baseline_plt
         FROM labs WHERE day BETWEEN -7 AND 0 GROUP BY 1),
nadir AS (SELECT patient_id, min(value) AS nadir_plt FROM labs WHERE day BETWEEN -14 AND 0 GROUP BY 1),
post AS (SELECT patient_id, count(*) AS n_post, max(value) AS best_plt FROM labs WHERE day BETWEEN 1 AND 56 GROUP BY 1)
SELECT p.patient_id,
       drug.first_day IS NOT NULL AND tpo.days IS NOT NULL AND base.baseline_plt < 75 AND post.n_post IS NOT NULL
           AS included,
       CASE WHEN drug.first_day IS NOT NULL THEN base.baseline_plt END AS baseline_plt,
       CASE WHEN drug.first_day IS NOT NULL THEN nadir.nadir_plt END AS nadir_plt
FROM {patients} p LEFT JOIN drug USING (patient_id) LEFT JOIN tpo USING (patient_id)
LEFT JOIN base USING (patient_id) LEFT JOIN nadir USING (patient_id) LEFT JOIN post USING (patient_id)
ORDER BY p.patient_id
"""


def _source(folder: Path, table: str) -> str:
    csv, parquet = folder / f"{table}.csv", folder / f"{table}.parquet"
    if parquet.exists():
        return f"read_parquet('{parquet}')"
    return f"read_csv('{csv}', header=true)"


def floor(folder: Path, out: Path) -> None:
    import duckdb

    sql = FLOOR_SQL.format(**{t: _source(folder, t) for t in ("labs", "exposures", "patients")})
    duckdb.sql(f"COPY ({sql}) TO '{out}' (FORMAT csv, HEADER true)")


def pandas_loop(folder: Path, out: Path) -> None:
    """The same rules as a plain pandas script would write them: one patient at a time."""
    import pandas as pd

    read = (lambda t: pd.read_parquet(folder / f"{t}.parquet")) if (folder / "labs.parquet").exists() \
        else (lambda t: pd.read_csv(folder / f"{t}.csv"))
    patients, exposures, labs = read("patients"), read("exposures"), read("labs")
    labs = labs[labs.test.str.upper() == "PLT"]
    rows = []
    # Split once by patient (filtering the whole table per patient would be quadratic).
    exp_by = dict(tuple(exposures.groupby("patient_id")))
    lab_by = dict(tuple(labs.groupby("patient_id")))
    no_exp, no_lab = exposures.iloc[:0], labs.iloc[:0]
    for pid in patients.patient_id:
        e = exp_by.get(pid, no_exp)
        lab = lab_by.get(pid, no_lab)
        drug = e[e.role == "study_drug"]
        tpo = e[(e.role == "tpo_ra") & (e.start_day < 0)]
        tpo_days = (tpo.end_day.fillna(0) - tpo.start_day + 1).max() if len(tpo) else None
        w = lab[lab.day.between(-7, 0)].sort_values(["day", "value"], ascending=[False, True])
        base = float(w.value.iloc[0]) if len(w) and len(drug) else None
        n = lab[lab.day.between(-14, 0)]
        nadir = float(n.value.min()) if len(n) and len(drug) else None
        post = lab[lab.day.between(1, 56)]
        included = bool(len(drug) and tpo_days is not None and tpo_days >= 7 and base is not None
                        and base < 75 and len(post))
        rows.append((pid, included, base, nadir))
    pd.DataFrame(rows, columns=["patient_id", "included", "baseline_plt", "nadir_plt"]).to_csv(out, index=False)


def measure(command: list[str]) -> dict[str, float]:
    """Wall, CPU (user + system) and peak RSS of a fresh process."""
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", *command], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{command} failed: {proc.stderr[-2000:]}")
    user, system, rss_kb = proc.stderr.strip().splitlines()[-1].split()
    return {"wall_s": round(wall, 2), "cpu_s": round(float(user) + float(system), 2),
            "peak_rss_gb": round(int(rss_kb) / 1024 / 1024, 3)}


def same_per_patient(ctit_csv: Path, other_csv: Path) -> bool:
    import pandas as pd

    a = pd.read_csv(ctit_csv, dtype={"patient_id": str}).set_index("patient_id").sort_index()
    b = pd.read_csv(other_csv, dtype={"patient_id": str}).set_index("patient_id").sort_index()
    a_inc = a.included.astype(str).str.lower() == "true"
    b_inc = b.included.astype(str).str.lower() == "true"
    ok = a_inc.equals(b_inc)
    for column in ("baseline_plt", "nadir_plt"):
        ok &= bool(((a[column] - b[column]).abs().fillna(0) < 1e-9).all()
                   and a[column].isna().equals(b[column].isna()))
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--formats", nargs="+", default=["csv", "parquet"])
    parser.add_argument("--loop-max", type=int, default=10_000, help="largest size for the pandas loop")
    parser.add_argument("--spark", action="store_true", help="also ctit --engine spark (CSV)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/ctit-scale"))
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args()

    results = []
    for n in args.patients:
        for fmt in args.formats:
            study = args.work / f"study-{n}-{fmt}"
            if not study.exists():
                subprocess.run([*CTIT, "synth", str(study), "--patients", str(n), "--seed", "1",
                                "--format", fmt], check=True, capture_output=True)
            out = args.work / f"out-{n}-{fmt}"
            row: dict[str, object] = {"patients": n, "format": fmt}
            row["ctit"] = measure([*CTIT, "analyze", str(study), "-o", str(out), "-f", "json", "-q"])
            row["sql_floor"] = measure([sys.executable, str(HERE), "_floor", str(study), str(out / "floor.csv")])
            row["floor_agrees"] = same_per_patient(out / "patients.csv", out / "floor.csv")
            if n <= args.loop_max:
                row["pandas_loop"] = measure([sys.executable, str(HERE), "_loop", str(study), str(out / "loop.csv")])
                row["loop_agrees"] = same_per_patient(out / "patients.csv", out / "loop.csv")
            if args.spark and fmt == "csv":
                spark_out = args.work / f"out-{n}-spark"
                row["ctit_spark"] = measure([*CTIT, "analyze", str(study), "-o", str(spark_out), "-f", "json",
                                             "-q", "--engine", "spark"])
                row["spark_identical"] = all(
                    (out / f).read_bytes() == (spark_out / f).read_bytes() for f in ("results.json", "patients.csv"))
            row["ratio_to_floor"] = round(row["ctit"]["wall_s"] / row["sql_floor"]["wall_s"], 2)  # type: ignore[index]
            print(json.dumps(row), flush=True)
            results.append(row)
    import duckdb
    import pandas as pd

    machine = {"machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version(),
               "duckdb": duckdb.__version__, "pandas": pd.__version__}
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "_floor":
        floor(Path(sys.argv[2]), Path(sys.argv[3]))
    elif len(sys.argv) == 4 and sys.argv[1] == "_loop":
        pandas_loop(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        main()
