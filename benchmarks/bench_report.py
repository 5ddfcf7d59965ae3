"""Wall time of the study report on the bundled example study.

Target (issue 4): `ctit analyze` with every format (json, csv, html, docx, xlsx, figures)
under 4 s wall. Measures, each in a fresh process as a user runs it (imports included):
`ctit analyze` with every format, `ctit analyze -f json` (the analysis alone, for the
report's share), and `ctit report OUT` (re-rendering only); then an in-process breakdown of
the rendering steps. Prints min / median / max.
Usage: python benchmarks/bench_report.py [--runs N]
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


def _timed(cmd: list[str], runs: int) -> list[float]:
    times = []
    for i in range(runs + 1):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        if i:  # the first run warms the OS file cache, bytecode and matplotlib's font cache
            times.append(time.perf_counter() - start)
    return times


def _line(label: str, times: list[float]) -> str:
    return (f"{label:<44} min {min(times):5.2f} s  median {statistics.median(times):5.2f} s  "
            f"max {max(times):5.2f} s")


def _steps(out: Path) -> list[tuple[str, float]]:
    """In-process time of each rendering step on already-computed results."""
    from ctit.reports.docx import write_docx
    from ctit.reports.figures import render_figures, write_figures
    from ctit.reports.html import write_html
    from ctit.reports.store import load_results, save_store
    from ctit.reports.xlsx import write_xlsx

    results = load_results(out)
    steps = []
    start = time.perf_counter()
    figures = render_figures(results)
    steps.append(("render 6 figures (SVG + PNG 300 dpi)", time.perf_counter() - start))
    for label, fn in (("write figures/", lambda: write_figures(figures, out)),
                      ("report.html", lambda: write_html(results, out, figures)),
                      ("report.docx", lambda: write_docx(results, out, figures)),
                      ("listings.xlsx", lambda: write_xlsx(results, out)),
                      ("data/ store", lambda: save_store(results, out))):
        start = time.perf_counter()
        fn()
        steps.append((label, time.perf_counter() - start))
    return steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ctit-bench-report-"))
    try:
        study, out = work / "study", work / "out"
        subprocess.run([str(CTIT), "example", str(study)], check=True, capture_output=True)
        analyze = [str(CTIT), "analyze", str(study), "--out", str(out), "-q"]
        print(_line("ctit analyze, every format", _timed(analyze, args.runs)))
        print(_line("ctit analyze -f json (analysis only)", _timed(analyze + ["-f", "json"], args.runs)))
        print(_line("ctit report OUT, every format", _timed([str(CTIT), "report", str(out), "-q"], args.runs)))
        print("rendering steps, in process:")
        for label, seconds in _steps(out):
            print(f"  {label:<42} {seconds:5.2f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
