"""CTCAE v5.0 lab grading: every term at each boundary, both sides.

Expectations are worked by hand from the CTCAE v5.0 text (quoted per block), not taken from
running the code. All cases are graded in one DuckDB query (module fixture) to stay fast.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pytest

from ctit.engine.backend import connect, table
from ctit.engine.grading import (
    CriteriaError,
    derive_lab_grades,
    load_criteria,
    read_criteria,
    with_baseline,
)

UNITS = {"PLT": "10^9/L", "ANC": "10^9/L", "WBC": "10^9/L", "LYMPH": "10^9/L", "HGB": "g/L",
         "ALT": "U/L", "AST": "U/L", "ALP": "U/L", "GGT": "U/L", "TBIL": "umol/L",
         "CREAT": "umol/L", "K": "mmol/L"}
NO = None  # no LLN / ULN / baseline


class Case(NamedTuple):
    test: str
    value: float | None
    lln: float | None
    uln: float | None
    baseline: float | None
    direction: str
    grade: int | None
    reason: str | None = None
    unit: str | None = "canonical"


def ladder(test: str, direction: str, lln: float | None, uln: float | None,
           baseline: float | None, steps: list[tuple[float, int]]) -> list[Case]:
    return [Case(test, v, lln, uln, baseline, direction, g) for v, g in steps]


CASES: list[Case] = [
    # Platelet count decreased: G1 <LLN - 75; G2 <75 - 50; G3 <50 - 25; G4 <25 (x 10e9/L)
    *ladder("PLT", "L", 150, NO, NO, [(24.999, 4), (25, 3), (49.99, 3), (50, 2), (74.9, 2),
                                      (75, 1), (149.9, 1), (150, 0), (400, 0)]),
    # LLN below 75: the grade-1 interval is empty; 72 is still grade 2 by the absolute cut-off.
    *ladder("PLT", "L", 70, NO, NO, [(72, 2), (75, 0)]),
    # No LLN and no default: grades 2-4 need no LLN, grade 0 vs 1 does.
    *ladder("PLT", "L", NO, NO, NO, [(24, 4), (74.9, 2)]),
    Case("PLT", 80, NO, NO, NO, "L", None, "no LLN for a grade-1 decision"),
    Case("PLT", 500, NO, NO, NO, "L", None, "no LLN for a grade-1 decision"),
    Case("PLT", 25, 150, NO, NO, "L", None, "unit unknown", unit=""),
    Case("PLT", 25, 150, NO, NO, "L", None, "unit unknown", unit=None),
    Case("PLT", 25, 150, NO, NO, "L", None, "unit /uL is not the canonical unit 10^9/L", unit="/uL"),
    Case("PLT", None, 150, NO, NO, "L", None, "no value"),
    # Neutrophil count decreased: G1 <LLN - 1.5; G2 <1.5 - 1.0; G3 <1.0 - 0.5; G4 <0.5
    *ladder("ANC", "L", 2.0, NO, NO, [(0.499, 4), (0.5, 3), (0.999, 3), (1.0, 2), (1.499, 2),
                                      (1.5, 1), (1.999, 1), (2.0, 0)]),
    # White blood cell decreased: G1 <LLN - 3.0; G2 <3.0 - 2.0; G3 <2.0 - 1.0; G4 <1.0
    *ladder("WBC", "L", 4.0, NO, NO, [(0.99, 4), (1.0, 3), (1.99, 3), (2.0, 2), (2.99, 2),
                                      (3.0, 1), (3.99, 1), (4.0, 0)]),
    # Lymphocyte count decreased: G1 <LLN - 0.8; G2 <0.8 - 0.5; G3 <0.5 - 0.2; G4 <0.2
    *ladder("LYMPH", "L", 1.0, NO, NO, [(0.19, 4), (0.2, 3), (0.49, 3), (0.5, 2), (0.79, 2),
                                        (0.8, 1), (0.99, 1), (1.0, 0)]),
    # Anemia: G1 <LLN - 100 g/L; G2 <100 - 80; G3 <80; G4 is clinical only (never from a lab)
    *ladder("HGB", "L", 120, NO, NO, [(40, 3), (79.9, 3), (80, 2), (99.9, 2), (100, 1),
                                      (119.9, 1), (120, 0)]),
    # ALT, baseline normal (30 <= ULN 40): G1 >ULN - 3.0xULN; G2 >3.0 - 5.0; G3 >5.0 - 20.0; G4 >20.0
    *ladder("ALT", "H", NO, 40, 30, [(40, 0), (40.01, 1), (120, 1), (120.01, 2), (200, 2),
                                     (200.01, 3), (800, 3), (800.01, 4)]),
    # no baseline: the normal branch (protocol section 9)
    *ladder("ALT", "H", NO, 40, NO, [(120, 1), (120.1, 2)]),
    # baseline exactly ULN is normal (baseline <= ULN)
    *ladder("ALT", "H", NO, 40, 40, [(40.01, 1), (59.99, 1)]),
    # baseline abnormal (60 > ULN 40): G1 1.5 - 3.0 x baseline; G2 >3.0 - 5.0; G3 >5.0 - 20.0; G4 >20.0
    *ladder("ALT", "H", NO, 40, 60, [(50, 0), (89.99, 0), (90, 1), (180, 1), (180.01, 2),
                                     (300, 2), (300.01, 3), (1200, 3), (1200.01, 4)]),
    # 1.5 x 20.7 is 31.049999999999997 in binary; 31.05 is on the boundary and is grade 1.
    *ladder("ALT", "H", NO, 20, 20.7, [(31.05, 1), (31.04, 0)]),
    # 3.0 x 20.7 is 62.099999999999994: 62.1 is still grade 1 (<= 3.0 x ULN), just above is 2.
    *ladder("ALT", "H", NO, 20.7, NO, [(62.1, 1), (62.11, 2)]),
    # no ULN: nothing can be decided (no default passed for ALT here)
    Case("ALT", 10, NO, NO, NO, "H", None, "no ULN for a grade-4 decision"),
    Case("ALT", 900, NO, NO, 60, "H", None, "no ULN for a grade-4 decision"),
    # AST, ULN 35: normal 3x=105, 5x=175, 20x=700; abnormal baseline 50: 75, 150, 250, 1000
    *ladder("AST", "H", NO, 35, 20, [(35, 0), (35.01, 1), (105, 1), (105.01, 2), (175, 2),
                                     (175.01, 3), (700, 3), (700.01, 4)]),
    *ladder("AST", "H", NO, 35, 50, [(74.99, 0), (75, 1), (150, 1), (150.01, 2), (250, 2),
                                     (250.01, 3), (1000, 3), (1000.01, 4)]),
    # ALP, ULN 100: G1 >ULN - 2.5xULN; G2 >2.5 - 5.0; G3 >5.0 - 20.0; G4 >20.0
    *ladder("ALP", "H", NO, 100, 80, [(100, 0), (100.1, 1), (250, 1), (250.1, 2), (500, 2),
                                      (500.1, 3), (2000, 3), (2000.1, 4)]),
    # ... baseline abnormal 150: G1 2.0 - 2.5 x baseline (300-375); G2 >2.5 - 5.0; G3 >5.0 - 20.0
    *ladder("ALP", "H", NO, 100, 150, [(299.9, 0), (300, 1), (375, 1), (375.1, 2), (750, 2),
                                       (750.1, 3), (3000, 3), (3000.1, 4)]),
    # GGT, ULN 50: same multiples as ALP
    *ladder("GGT", "H", NO, 50, NO, [(50, 0), (50.1, 1), (125, 1), (125.1, 2), (250, 2),
                                     (250.1, 3), (1000, 3), (1000.1, 4)]),
    # ... baseline abnormal 80: exactly 2.0 x baseline (160) is grade 1 by the text
    *ladder("GGT", "H", NO, 50, 80, [(159.9, 0), (160, 1), (200, 1), (200.1, 2), (400, 2),
                                     (400.1, 3), (1600, 3), (1600.1, 4)]),
    # Blood bilirubin increased, ULN 20: G1 >ULN - 1.5xULN; G2 >1.5 - 3.0; G3 >3.0 - 10.0; G4 >10.0
    *ladder("TBIL", "H", NO, 20, 15, [(20, 0), (20.1, 1), (30, 1), (30.1, 2), (60, 2),
                                      (60.1, 3), (200, 3), (200.1, 4)]),
    # ... baseline abnormal 30: G1 >1.0 - 1.5 x baseline; G2 >1.5 - 3.0; G3 >3.0 - 10.0; G4 >10.0
    *ladder("TBIL", "H", NO, 20, 30, [(30, 0), (30.1, 1), (45, 1), (45.1, 2), (90, 2),
                                      (90.1, 3), (300, 3), (300.1, 4)]),
    # Creatinine increased, ULN 100, no baseline: G1 >ULN - 1.5xULN; G2 >1.5 - 3.0; G3 >3.0 - 6.0; G4 >6.0
    *ladder("CREAT", "H", NO, 100, NO, [(100, 0), (100.1, 1), (150, 1), (150.1, 2), (300, 2),
                                        (300.1, 3), (600, 3), (600.1, 4)]),
    # ... baseline 80: G2 also >1.5 - 3.0 x baseline (120-240); G3 also >3.0 x baseline; highest wins
    *ladder("CREAT", "H", NO, 100, 80, [(90, 0), (120, 1), (120.1, 2), (240, 2), (240.1, 3)]),
    # ... a value below ULN but >1.5 x baseline is grade 2 by the text
    *ladder("CREAT", "H", NO, 100, 50, [(75, 0), (80, 2)]),
    Case("CREAT", 500, NO, NO, 80, "H", None, "no ULN for a grade-4 decision"),
    # Hypokalemia: G1 <LLN - 3.0; G2 needs symptoms (so a lab gives 1); G3 <3.0 - 2.5; G4 <2.5
    *ladder("K", "L", 3.5, 5.1, NO, [(2.49, 4), (2.5, 3), (2.99, 3), (3.0, 1), (3.49, 1),
                                     (3.5, 0), (7.01, 0)]),
    # Hyperkalemia: G1 >ULN - 5.5; G2 >5.5 - 6.0; G3 >6.0 - 7.0; G4 >7.0
    *ladder("K", "H", 3.5, 5.1, NO, [(2.49, 0), (5.1, 0), (5.11, 1), (5.5, 1), (5.51, 2),
                                     (6.0, 2), (6.01, 3), (7.0, 3), (7.01, 4)]),
    *ladder("K", "L", NO, NO, NO, [(2.9, 3)]),
    Case("K", 3.2, NO, NO, NO, "L", None, "no LLN for a grade-1 decision"),
    # without an LLN even a high value cannot be called grade 0 (no guess about the LLN)
    Case("K", 5.3, NO, NO, NO, "L", None, "no LLN for a grade-1 decision"),
    # no ULN: grade 1 (>ULN - 5.5) cannot be excluded below 5.5, even for a low value
    *ladder("K", "H", NO, NO, NO, [(5.6, 2)]),
    Case("K", 5.3, NO, NO, NO, "H", None, "no ULN for a grade-1 decision"),
    Case("K", 3.2, NO, NO, NO, "H", None, "no ULN for a grade-1 decision"),
]

TERMS = {("PLT", "L"): "Platelet count decreased", ("ANC", "L"): "Neutrophil count decreased",
         ("WBC", "L"): "White blood cell decreased", ("LYMPH", "L"): "Lymphocyte count decreased",
         ("HGB", "L"): "Anemia", ("ALT", "H"): "Alanine aminotransferase increased",
         ("AST", "H"): "Aspartate aminotransferase increased",
         ("ALP", "H"): "Alkaline phosphatase increased", ("GGT", "H"): "GGT increased",
         ("TBIL", "H"): "Blood bilirubin increased", ("CREAT", "H"): "Creatinine increased",
         ("K", "L"): "Hypokalemia", ("K", "H"): "Hyperkalemia"}


def cases_frame(cases: list[Case]) -> pd.DataFrame:
    return pd.DataFrame({
        "patient_id": [f"P{i}" for i in range(len(cases))],
        "day": pd.array(range(len(cases)), dtype="Int64"),
        "test": [c.test for c in cases],
        "value": pd.array([c.value for c in cases], dtype="Float64"),
        "unit": pd.array([UNITS[c.test] if c.unit == "canonical" else c.unit for c in cases],
                         dtype="string"),
        "lln": pd.array([c.lln for c in cases], dtype="Float64"),
        "uln": pd.array([c.uln for c in cases], dtype="Float64"),
        "baseline_value": pd.array([c.baseline for c in cases], dtype="Float64"),
    })


@pytest.fixture(scope="module")
def graded() -> pd.DataFrame:
    con = connect()
    out = derive_lab_grades(table(con, "labs", cases_frame(CASES))).to_pandas()
    return out.set_index(["patient_id", "direction"]).sort_index()


def ids(c: Case) -> str:
    return f"{c.test}-{c.direction}-{c.value}-lln{c.lln}-uln{c.uln}-b{c.baseline}-u{c.unit}"


@pytest.mark.parametrize("i", range(len(CASES)), ids=[ids(c) for c in CASES])
def test_boundary(graded: pd.DataFrame, i: int) -> None:
    case = CASES[i]
    row = graded.loc[(f"P{i}", case.direction)]
    assert row["term"] == TERMS[(case.test, case.direction)]
    if case.grade is None:
        assert pd.isna(row["grade"]), f"expected no grade, got {row['grade']}"
        assert row["grade_reason"] == case.reason
    else:
        assert row["grade"] == case.grade
        assert pd.isna(row["grade_reason"])


def test_one_row_per_term_and_input_columns_kept(graded: pd.DataFrame) -> None:
    potassium = sum(c.test == "K" for c in CASES)
    assert len(graded) == len(CASES) + potassium  # every K row also gives the other direction
    flat = graded.reset_index()
    k_rows = flat[flat.test == "K"]
    assert set(k_rows.groupby("patient_id").term.apply(frozenset)) == {
        frozenset({"Hypokalemia", "Hyperkalemia"})}
    assert {"patient_id", "day", "test", "value", "unit", "lln", "uln", "baseline_value",
            "term", "direction", "grade", "grade_reason"} <= set(flat.columns)


def test_defaults_fill_missing_limits_only() -> None:
    cases = [Case("PLT", 99.9, NO, NO, NO, "L", 1), Case("PLT", 100, NO, NO, NO, "L", 0),
             Case("PLT", 99.9, 90, NO, NO, "L", 0),   # the row's own LLN wins
             Case("ALT", 120, NO, NO, NO, "H", 1), Case("ALT", 120.01, NO, NO, NO, "H", 2),
             # the default ULN also classifies the baseline: 41 > 40 is abnormal, 1.5 x 41 = 61.5
             Case("ALT", 61.4, NO, NO, 41, "H", 0), Case("ALT", 61.5, NO, NO, 41, "H", 1),
             Case("TBIL", 30, NO, NO, NO, "H", None)]
    out = derive_lab_grades(table(connect(), "labs", cases_frame(cases)),
                            default_lln={"PLT": 100}, default_uln={"ALT": 40, "AST": 40})
    out = out.to_pandas().set_index("patient_id").sort_index(key=lambda s: s.str[1:].astype(int))
    grades = [None if pd.isna(g) else int(g) for g in out.grade]
    assert grades == [c.grade for c in cases]
    assert out.grade_reason.iloc[-1] == "no ULN for a grade-4 decision"
    assert pd.isna(out.lln.iloc[0])  # inputs are kept as given


def test_test_without_term_is_kept_once() -> None:
    df = cases_frame([Case("PLT", 80, 150, NO, NO, "L", 1)])
    df = pd.concat([df, df.assign(patient_id="X", test="CRP", unit="mg/L")], ignore_index=True)
    out = derive_lab_grades(table(connect(), "labs", df)).to_pandas()
    crp = out[out.test == "CRP"]
    assert len(crp) == 1 and crp.term.isna().all() and crp.grade.isna().all()
    assert crp.grade_reason.iloc[0] == "no CTCAE v5.0 lab term for this test"


def test_rows_sharing_a_value_key_are_each_graded_as_their_own_row() -> None:
    """Grades are decided once per distinct test, value, limits and baseline, and each row
    finds its own by that key (null-safe: a missing limit or baseline is part of the key). A
    second row with a case's key gets the same grade, once per term, never twice; a row that
    differs only in its unit, which the key does not hold, is still judged on its unit."""
    n = len(CASES)
    unitless = [c for c in CASES if c.value is not None]
    frame = cases_frame(CASES + CASES + [c._replace(unit=None) for c in unitless])
    out = derive_lab_grades(table(connect(), "labs", frame)).to_pandas()
    out = out.set_index(["patient_id", "direction"]).sort_index()
    for i, case in enumerate(CASES):
        first, again = out.loc[f"P{i}"], out.loc[f"P{i + n}"]
        assert len(again) == len(first), case
        row, copy = first.loc[case.direction], again.loc[case.direction]
        for column in ("grade", "grade_reason"):
            assert (pd.isna(row[column]) and pd.isna(copy[column])) or copy[column] == row[column], case
    for k, case in enumerate(unitless):
        row = out.loc[(f"P{2 * n + k}", case.direction)]
        assert pd.isna(row.grade) and row.grade_reason == "unit unknown", case


def test_missing_input_column_is_refused() -> None:
    df = cases_frame([Case("PLT", 80, 150, NO, NO, "L", 1)]).drop(columns="baseline_value")
    with pytest.raises(ValueError, match="baseline_value"):
        derive_lab_grades(table(connect(), "labs", df))


def test_with_baseline_last_in_window_higher_on_ties() -> None:
    # Protocol section 9: last value in days [-14, 0]; two on that day: the higher.
    df = pd.DataFrame({
        "patient_id": ["A"] * 6 + ["B"] * 2,
        "day": pd.array([-20, -14, -3, -3, 0, 5, -1, 3], dtype="Int64"),
        "test": ["ALT"] * 8,
        "value": pd.array([50, 60, 70, 80, 999, 200, 45, 300], dtype="Float64"),
        # day 0's value has no unit: not in the canonical unit, so not a baseline candidate
        "unit": pd.array(["U/L"] * 4 + [None] + ["U/L"] * 3, dtype="string"),
        "lln": pd.array([None] * 8, dtype="Float64"),
        "uln": pd.array([40.0] * 8, dtype="Float64"),
        "baseline_value": pd.array([None] * 6 + [None, 100.0], dtype="Float64"),
    })
    out = with_baseline(table(connect(), "labs", df), 14).to_pandas()
    out = out.sort_values(["patient_id", "day", "value"])
    assert out[out.patient_id == "A"].baseline_value.tolist() == [80.0] * 6
    # a baseline_value given on a row is kept; other rows get the derived one
    assert out[out.patient_id == "B"].baseline_value.tolist() == [45.0, 100.0]
    assert len(out) == len(df)
    no_column = with_baseline(table(connect(), "labs2", df.drop(columns="baseline_value")), 2)
    assert no_column.to_pandas().query("patient_id == 'A'").baseline_value.isna().all()


def test_criteria_table_shape() -> None:
    criteria = load_criteria("5.0")
    assert {(t.test, t.direction): t.name for t in criteria.terms} == TERMS
    assert criteria.term("Anemia").max_lab_grade == 3
    hypo = criteria.term("Hypokalemia")
    assert [r.grade for r in hypo.lab_rules if r.grade == 2] == []
    assert {r.baseline_condition for r in criteria.term("Creatinine increased").rules} == {"any", "known"}
    with pytest.raises(CriteriaError):
        load_criteria("4.03")


@pytest.mark.parametrize("field,bad,message", [
    ("lower_op", "=>", "lower_op must be one of"),
    ("upper_ref", "LLn", "upper_ref must be one of"),
    ("lower_factor", "1.5*x", "lower_factor must be a number"),
    ("grade", "5", "grade must be 1-4"),
    ("unit", "G/L", "canonical unit"),
    ("baseline_condition", "high", "baseline_condition must be one of"),
])
def test_criteria_grammar_is_enforced(tmp_path: Path, field: str, bad: str, message: str) -> None:
    source = Path(load_criteria().source)
    rows = pd.read_csv(source, dtype=str, keep_default_na=False)
    rows.loc[0, field] = bad  # row 0 is Platelet count decreased grade 1
    bad_file = tmp_path / "bad.csv"
    rows.to_csv(bad_file, index=False)
    with pytest.raises(CriteriaError, match=message) as exc:
        read_criteria(bad_file, "5.0")
    assert "row 2" in str(exc.value)


@pytest.mark.spark
def test_same_grades_on_pyspark(spark_con: object) -> None:
    df = cases_frame(CASES)
    expected = derive_lab_grades(table(connect(), "labs", df)).to_pandas()
    got = derive_lab_grades(table(spark_con, "ctit_grading_labs", df)).to_pandas()
    key = ["patient_id", "direction"]
    expected = expected.sort_values(key).reset_index(drop=True)
    got = got.sort_values(key).reset_index(drop=True)
    assert len(got) == len(expected)
    for column in ("term", "grade", "grade_reason"):
        a = [None if (isinstance(v, float) and math.isnan(v)) or v is None or v is pd.NA else v
             for v in got[column]]
        b = [None if (isinstance(v, float) and math.isnan(v)) or v is None or v is pd.NA else v
             for v in expected[column]]
        assert a == b, column
