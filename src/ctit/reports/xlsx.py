"""listings.xlsx: one sheet per listing (patients, graded labs, response windows,
transfusions, bleeding, adverse events), frozen header row and an auto-filter on each."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from ctit.results import StudyResults

# The internal helper columns readers add are not listed.
DROP = {"source_row"}


def listing_frames(results: StudyResults) -> dict[str, pd.DataFrame]:
    """The listings by sheet name; each keeps `source_row` last so a row can be traced."""
    d = results.derivations
    st = results.study
    patients = results.patients
    return {
        "patients": patients,
        "labs": d.graded_labs,
        "response_windows": d.onsets.sort_values(["patient_id", "category"]) if len(d.onsets) else d.onsets,
        "tpo_ra_courses": d.tpo_ra_courses,
        "transfusions": st.transfusions,
        "bleeding": st.bleeding,
        "adverse_events": st.adverse_events,
        "reported_events_max": d.reported_events,
    }


def _value(v: Any) -> Any:
    """A cell value openpyxl can write: missing -> empty, numpy scalars -> Python, text without
    the control characters a workbook cannot hold (vertical tab, NUL, ...)."""
    if v is None or v is pd.NA:
        return None
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, str):
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        return ILLEGAL_CHARACTERS_RE.sub("", v)
    return v


# Text a spreadsheet would read as a formula when edited (=, +, -, @).
FORMULA_START = ("=", "+", "-", "@")


def _append_as_text(ws: Any, values: list[Any]) -> None:
    """Append a row; text is always a text cell, never a formula (openpyxl stores text
    beginning with '=' as a formula), and formula-like text keeps Excel's quote prefix."""
    ws.append(values)
    row = ws.max_row
    for i, v in enumerate(values, start=1):
        if isinstance(v, str) and v.startswith(FORMULA_START):
            cell = ws.cell(row=row, column=i)
            cell.value = v
            cell.data_type = "s"
            cell.quotePrefix = True


# A worksheet holds at most 1,048,576 rows (Excel's limit; a longer sheet does not open).
EXCEL_MAX_ROWS = 1_048_576


def sheets_of(listing: str, df: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """A listing as worksheets: one, or where it has more rows than a sheet holds beside its
    header, continued on sheets `labs (2)`, `labs (3)`, ... in the listing's order."""
    per_sheet = EXCEL_MAX_ROWS - 1
    if len(df) <= per_sheet:
        return [(listing, df)]
    return [(listing if k == 0 else f"{listing} ({k + 1})", df.iloc[start:start + per_sheet])
            for k, start in enumerate(range(0, len(df), per_sheet))]


def _write_sheet(ws: Any, df: pd.DataFrame, bold: Any, fill: Any) -> None:
    """One listing sheet: a bold header row, frozen, with an auto-filter; `source_row` last."""
    from openpyxl.utils import get_column_letter

    cols = [c for c in df.columns if c not in DROP] + [c for c in df.columns if c in DROP]
    _append_as_text(ws, [_value(c) for c in cols])
    for row in df[cols].itertuples(index=False, name=None):
        _append_as_text(ws, [_value(v) for v in row])
    for cell in ws[1]:
        cell.font = bold
        cell.fill = fill
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(max(len(cols), 1))}{max(ws.max_row, 1)}"
    for i, c in enumerate(cols, start=1):
        sample = [len(str(c))] + [len(str(v)) for v in df[c].head(200) if _value(v) is not None]
        ws.column_dimensions[get_column_letter(i)].width = min(max(sample) + 2, 45)


def write_xlsx(results: StudyResults, out: Path, generated: Any = None) -> Path:
    """listings.xlsx, dated `generated` (default now): the same input gives the same bytes."""
    import io
    from datetime import datetime, timezone

    from ctit.output import fixed_zip

    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    wb = Workbook(write_only=False)
    wb.remove(wb.active)
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="E8EEF4")
    for listing, whole in listing_frames(results).items():
        for name, df in sheets_of(listing, whole):
            _write_sheet(wb.create_sheet(name), df, bold, fill)
    when = generated or datetime.now(timezone.utc)
    wb.properties.created = wb.properties.modified = when.replace(tzinfo=None)
    buffer = io.BytesIO()
    wb.save(buffer)
    path = out / "listings.xlsx"
    path.write_bytes(fixed_zip(buffer.getvalue(), when))
    return path
