"""OMOP benchmark: `ctit analyze --from omop -f json` on a synthetic OMOP CDM (`ctit synth
--format omop`, seed 1, a fifth of the eligible patients untreated) at N persons, beside
`ctit analyze -f json` on the same study written as canonical tables, and the time
`ctit synth --format omop` takes to write it. Each run is a fresh process (wall, CPU, peak
RSS as in benchmarks/scale.py); both analyses must give the same patients.csv.

    python benchmarks/omop_scale.py --patients 10000 [--format omop|omop-parquet]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import CTIT, measure  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, nargs="+", default=[10_000])
    parser.add_argument("--format", default="omop", choices=["omop", "omop-parquet"])
    parser.add_argument("--work", type=Path, default=Path("/tmp/ctit-omop-scale"))
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args()
    results = []
    for n in args.patients:
        cdm, canon = args.work / f"cdm-{n}-{args.format}", args.work / f"canon-{n}"
        for folder in (cdm, canon):
            shutil.rmtree(folder, ignore_errors=True)
        row: dict[str, object] = {"patients": n, "format": args.format}
        row["synth_omop"] = measure([*CTIT, "synth", str(cdm), "-n", str(n), "--seed", "1", "-f", args.format])
        measure([*CTIT, "synth", str(canon), "-n", str(n), "--seed", "1", "-f", "parquet", "--untreated", "0.2"])
        out_omop, out_canon = args.work / f"out-omop-{n}", args.work / f"out-canon-{n}"
        row["analyze_omop"] = measure([*CTIT, "analyze", str(cdm), "--from", "omop", "-o", str(out_omop),
                                       "-f", "json", "-q"])
        row["analyze_canonical"] = measure([*CTIT, "analyze", str(canon), "-o", str(out_canon), "-f", "json", "-q"])
        row["identical_patients_csv"] = ((out_omop / "patients.csv").read_bytes()
                                         == (out_canon / "patients.csv").read_bytes())
        row["ratio_omop_to_canonical"] = round(row["analyze_omop"]["wall_s"]   # type: ignore[index]
                                               / row["analyze_canonical"]["wall_s"], 2)  # type: ignore[index]
        print(json.dumps(row), flush=True)
        results.append(row)
    if args.json:
        args.json.write_text(json.dumps({"results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
