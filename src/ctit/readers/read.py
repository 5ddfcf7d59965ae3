"""Entry points: a study folder or workbook -> `Study`; a lone labs file -> canonical labs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ctit.errors import Problem, ProblemLog
from ctit.readers.cells import Cells
from ctit.readers.files import read_csv_file, read_raw, read_workbook
from ctit.readers.labs import normalize_labs
from ctit.readers.normalize import as_text, build_study, check_columns
from ctit.readers.timeline import check_mixing, parse_times
from ctit.study import CANONICAL_COLUMNS, Study, conform


def read_study(path: Path) -> Study:
    """Read a CSV folder or an `.xlsx` workbook (data contract, "Input: a study folder").

    Raises `InputError` with every problem when any is an error; `FileNotFoundError` when
    the path does not exist. Warnings are in `Study.warnings`.
    """
    raw = read_raw(Path(path))
    return build_study(raw.tables, raw.inputs, raw.source, problems=raw.problems,
                       expected=raw.expected)


def read_labs_file(path: Path) -> tuple[pd.DataFrame, list[Problem]]:
    """A lone labs table (CSV, or the sheet "labs" of a workbook) for `ctit grade`.

    Same rules as the study's labs table, except that patients are not checked against a
    patients table and times are kept as given: `day` when days are given, `date` (ISO date
    part) when dates are, since there is no study drug to anchor day 0. An optional
    `baseline_value` column is converted with the row's unit factor, like `value`.

    Returns the canonical labs columns, plus `date` when the file has a date column and
    `baseline_value` when it has that column; and the warnings. Raises `InputError` on errors.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such labs file: {path}")
    log = ProblemLog()
    frame: pd.DataFrame | None
    if path.suffix.lower() == ".xlsx":
        raw = read_workbook(path, only=["labs"])
        log.problems.extend(raw.problems)
        frame = raw.tables.get("labs")
        if frame is None and not raw.problems:
            log.error("labs", f"no sheet 'labs' in {path.name}")
    else:
        frame = read_csv_file(path, "labs", log)
    if frame is None:
        log.raise_if_errors()
        raise AssertionError("unreachable: a missing table is always an error")
    frame = as_text(frame)
    check_columns("labs", frame, log)
    cells = Cells("labs", frame, log)
    # Grading needs no study calendar, and de-identified sources shift dates by up to two
    # centuries (MIMIC: 2100-2200), so a lone labs file's dates are not held to a study period.
    cells.check_period = False
    cells.require("patient_id", "patient_id")
    has_baseline = cells.has("baseline_value")
    labs = normalize_labs(cells, baseline=has_baseline)
    times = parse_times(cells)
    check_mixing([times], log)
    pair = times.pair("day")
    labs["day"] = pair.days
    log.raise_if_errors()
    out = conform("labs", labs)
    extra = []
    if cells.has("date"):
        out["date"] = pair.dates.dt.strftime("%Y-%m-%d").astype("string").reset_index(drop=True)
        extra.append("date")
    if has_baseline:
        extra.append("baseline_value")
    return out[list(CANONICAL_COLUMNS["labs"]) + extra], log.warnings


__all__ = ["read_study", "read_labs_file"]
