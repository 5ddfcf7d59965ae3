"""Wall time of `ctit analyze` on the bundled example study, end to end, as a user runs it.

Target (issue "ctit analyze"): under 2 s wall on a 2-core machine for json + csv + html.
Runs the installed `ctit` command in a fresh process each time (imports included), a few
times, and prints min / median / max. Usage: python benchmarks/bench_analyze.py [--runs N]
[--format FORMATS]
"""

from __future__ import annotations

import argparse
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
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ctit-bench-"))
    try:
        subprocess.run([str(CTIT), "example", str(work / "study")], check=True, capture_output=True)
        times = []
        for i in range(args.runs + 1):
            start = time.perf_counter()
            subprocess.run([str(CTIT), "analyze", str(work / "study"), "--out", str(work / "out"), "-q",
                            *args.extra.split()], check=True, capture_output=True)
            if i:  # the first run warms the OS file cache and Python's bytecode cache
                times.append(time.perf_counter() - start)
        print(f"ctit analyze (example study, {args.runs} runs{', ' + ' '.join(args.extra) if args.extra else ''}): "
              f"min {min(times):.2f} s, median {statistics.median(times):.2f} s, max {max(times):.2f} s")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
