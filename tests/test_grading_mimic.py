"""Real ICU platelet counts (MIMIC-III demo, 100 patients) through the labs reader and CTCAE
grading: the grades 2-4 the CDISC pilot never reaches.

Expected numbers are those stated in shared/data/README.md, computed there independently of
ctit: worst CTCAE v5 platelet grade per patient, assuming LLN 150 x10^9/L: grade 1 in 26,
grade 2 in 6, grade 3 in 5, grade 4 in 9 patients (46 below 150).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from ctit.engine import backend
from ctit.engine.grading import derive_lab_grades
from ctit.readers import read_labs_file

PLATELET_ITEM = "51265"   # "Platelet Count", LOINC 777-3, unit K/uL


@pytest.fixture(scope="module")
def mimic_labs(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """The demo's platelet counts as a contract labs file: LOINC test code, K/uL as charted."""
    out = tmp_path_factory.mktemp("mimic") / "labs.csv"
    with (shared_data / "mimic-iii-demo" / "labevents.csv").open(newline="") as src, out.open("w", newline="") as dst:
        w = csv.writer(dst)
        w.writerow(["patient_id", "date", "test", "value", "unit", "lln"])
        text_only = 0
        for r in csv.DictReader(src):
            if r["itemid"] != PLATELET_ITEM:
                continue
            if not r["valuenum"]:  # "<5" results: text only, no number to grade
                text_only += 1
                continue
            w.writerow([r["subject_id"], r["charttime"], "777-3", r["valuenum"], r["valueuom"], 150])
    assert text_only == 3  # as the data README states
    labs, problems = read_labs_file(out)
    assert not [p for p in problems if p.severity == "error"]
    return labs


def test_real_counts_are_read_as_platelets_in_canonical_units(mimic_labs):
    assert len(mimic_labs) == 2088 - 3
    assert set(mimic_labs.test) == {"PLT"}
    assert set(mimic_labs.unit) == {"10^9/L"}
    assert mimic_labs.value.min() == 5 and mimic_labs.value.max() == 782


def test_worst_grade_per_patient_matches_the_independent_count(mimic_labs):
    labs = mimic_labs.assign(day=0, baseline_value=pd.NA)
    con = backend.connect()
    graded = derive_lab_grades(backend.table(con, "mimic_labs", labs)).to_pandas()
    assert graded.grade.notna().all()
    worst = graded.groupby("patient_id").grade.max()
    assert worst.value_counts().to_dict() == {0: 54, 1: 26, 2: 6, 3: 5, 4: 9}
