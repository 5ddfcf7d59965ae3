"""Property: whatever small tables a study folder holds, the reader either returns a study or
raises the tool's own InputError (every problem named), never another exception."""

from __future__ import annotations

import csv
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctit.errors import InputError
from ctit.readers import read_study

COLUMNS = {
    "patients": ["patient_id", "sex", "age_years", "height_cm", "weight_kg", "tumor_type",
                 "pre_therapy_platelets", "index_date"],
    "exposures": ["patient_id", "drug", "role", "start_day", "end_day", "start_date", "end_date",
                  "dose", "dose_unit"],
    "labs": ["patient_id", "day", "date", "test", "value", "unit", "lln", "uln"],
    "transfusions": ["patient_id", "day", "date", "product", "units"],
    "bleeding": ["patient_id", "day", "date", "who_grade", "site"],
    "adverse_events": ["patient_id", "term", "grade", "start_day", "end_day", "serious", "related"],
}
WORDS = ["P1", "P2", "p1", "", " ", "0", "1", "-1", "7.5", "1e20", "-1e308", "nan", "inf", "2024-01-01",
         "2024-02-30", "01/02/2024", "PLT", "platelets", "ALT", "ATRA", "tretinoin", "romiplostim",
         "Avatrombopg", "tpo_ra", "study_drug", "anticancer", "mg", "g", "10^9/L", "U/L", "/uL", "yes",
         "no", "F", "M", "=1+1", "[/x]", "$$", "\u00b5", "4", "5", "6"]
cell = st.one_of(st.sampled_from(WORDS),
                 st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                         max_size=6))


@st.composite
def study_tables(draw):
    tables = {}
    for name, columns in COLUMNS.items():
        if name not in ("patients", "exposures", "labs") and draw(st.booleans()):
            continue
        cols = draw(st.lists(st.sampled_from(columns), min_size=1, max_size=len(columns), unique=True))
        if draw(st.integers(0, 9)):          # usually a patient_id column
            cols = ["patient_id"] + [c for c in cols if c != "patient_id"]
        rows = draw(st.lists(st.lists(cell, min_size=len(cols), max_size=len(cols)), max_size=4))
        tables[name] = [cols] + rows
    return tables


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(study_tables())
def test_the_reader_raises_only_input_errors(tables) -> None:
    folder = Path(tempfile.mkdtemp(prefix="ctit-prop-"))
    try:
        for name, rows in tables.items():
            with (folder / f"{name}.csv").open("w", newline="", encoding="utf-8") as fh:
                csv.writer(fh).writerows(rows)
        try:
            read_study(folder)
        except InputError as exc:
            assert exc.errors, "an InputError always names at least one error"
    finally:
        shutil.rmtree(folder)
