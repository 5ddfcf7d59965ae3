"""Wall time of `ctit analyze` on the bundled example study, end to end, as a user runs it.

Target (issue "ctit analyze"): under 2 s wall on a 2-core machine. Runs the installed `ctit`
command in a fresh process each time (imports included) and prints min / median / max. The
first, unmeasured run also stores the compiled query plan (`ctit.engine.plan`), so the
figures are those of a repeated analysis; `--cold` empties the plan cache before every run. Usage: python benchmarks/bench_analyze.py [--runs N]
[--format FORMATS]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CTIT = Path(sys.executable).with_name("ctit")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--extra", default="", help="extra arguments for ctit analyze, as one string")
    ap.add_argument("--cold", action="store_true", help="no stored query plan: every run compiles")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ctit-bench-"))
    try:
        subprocess.run([str(CTIT), "example", str(work / "study")], check=True, capture_output=True)
        times = []
        env = dict(os.environ, CTIT_CACHE_DIR=str(work / "cache"))
        for i in range(args.runs + 1):
            if args.cold:
                shutil.rmtree(work / "cache", ignore_errors=True)
            start = time.perf_counter()
            subprocess.run([str(CTIT), "analyze", str(work / "study"), "--out", str(work / "out"), "-q",
                            *args.extra.split()], check=True, capture_output=True, env=env)
            if i:  # the first run warms the OS file cache and Python's bytecode cache
                times.append(time.perf_counter() - start)
        print(f"ctit analyze (example study, {args.runs} runs{', cold' if args.cold else ''}{', ' + args.extra if args.extra else ''}): "
              f"min {min(times):.2f} s, median {statistics.median(times):.2f} s, max {max(times):.2f} s")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
