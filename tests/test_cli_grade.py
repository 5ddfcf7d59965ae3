"""`ctit grade LABS --out GRADED.csv`: hand-worked grades through the whole command."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from ctit.cli import app

runner = CliRunner()

LABS = """patient_id,day,test,value,unit,lln,uln
P1,-3,ALT,1.0,ukat/L,,0.7
P1,0,PLT,45000,/uL,,
P1,0,ALT,50,U/L,,
P1,7,ALT,90,U/L,,
P1,7,K,3.2,mmol/L,3.5,5.1
P1,8,PLT,120,10^9/L,,
P2,5,ALT,130,IU/L,,
P2,5,HGB,9.5,g/dL,,
"""


def run(tmp_path: Path, text: str, *extra: str) -> tuple[object, Path]:
    labs = tmp_path / "labs.csv"
    labs.write_text(text, encoding="utf-8")
    out = tmp_path / "out" / "graded.csv"
    result = runner.invoke(app, ["grade", str(labs), "--out", str(out), *extra])
    return result, out


def test_grades_every_row_with_derived_baseline(tmp_path: Path) -> None:
    result, out = run(tmp_path, LABS)
    assert result.exit_code == 0, result.output
    g = pd.read_csv(out)
    assert list(g.columns[-4:]) == ["term", "direction", "grade", "grade_reason"]
    assert g.source_row.tolist() == [2, 3, 4, 5, 6, 6, 7, 8, 9]
    assert g.term[4:6].tolist() == ["Hypokalemia", "Hyperkalemia"]
    # ALT baseline: last value in days [-14, 0] = day 0's 50 U/L, above the default ULN 40,
    # so the abnormal branch: day 7's 90 = 1.8 x baseline is grade 1 (1.5 - 3.0 x baseline);
    # day -3's 60 U/L (1.0 ukat/L) is below 1.5 x 50: grade 0.
    # PLT 45000/uL = 45 x10^9/L: grade 3; 120 >= default LLN 100: grade 0.
    # K 3.2 with LLN 3.5: hypokalemia grade 1, hyperkalemia 0.
    # P2 ALT 130 > 3 x 40 without baseline: grade 2. HGB 9.5 g/dL = 95 g/L: grade 2.
    assert g.grade.tolist() == [0, 3, 0, 1, 1, 0, 0, 2, 2]
    assert g.grade_reason.isna().all()
    assert g.baseline_value[g.test == "ALT"].tolist()[:3] == [50.0, 50.0, 50.0]
    assert "Graded 9 of 9 term rows" in result.output


def test_given_baseline_is_used_as_given(tmp_path: Path) -> None:
    text = "patient_id,day,test,value,unit,uln,baseline_value\nP1,7,ALT,90,U/L,40,\nP1,8,ALT,90,U/L,40,50\n"
    result, out = run(tmp_path, text)
    assert result.exit_code == 0, result.output
    # no baseline: normal branch, 90 in (40, 120]: grade 1; baseline 50: 90 >= 75: grade 1;
    g = pd.read_csv(out)
    assert g.grade.tolist() == [1, 1]
    text2 = text.replace("P1,8,ALT,90,U/L,40,50", "P1,8,ALT,74,U/L,40,50")
    result, out = run(tmp_path, text2)
    # ... and 74 < 1.5 x 50 = 75 with the abnormal baseline: grade 0 (it would be 1 if normal)
    assert pd.read_csv(out).grade.tolist() == [1, 0]


def test_protocol_override_changes_default_limits(tmp_path: Path) -> None:
    text = "patient_id,day,test,value,unit\nP1,1,ALT,130,U/L\nP1,1,PLT,110,10^9/L\n"
    result, out = run(tmp_path, text, "--set", "default_enzyme_uln=50",
                      "--set", "default_platelet_lln=150")
    assert result.exit_code == 0, result.output
    # 130 in (50, 150]: grade 1; 110 in [75, 150): grade 1
    assert pd.read_csv(out).grade.tolist() == [1, 1]


def test_unknown_unit_is_not_graded(tmp_path: Path) -> None:
    text = "patient_id,day,test,value,unit,lln\nP1,1,HGB,95,bananas,120\n"
    result, out = run(tmp_path, text)
    assert result.exit_code == 0, result.output
    g = pd.read_csv(out)
    assert g.grade.isna().all()
    assert g.grade_reason.tolist() == ["unit unknown"]
    assert "not graded: 1 x unit unknown" in result.output


def test_bad_input_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    result, out = run(tmp_path, "patient_id,day,test,value,unit\nP1,0,PLT,<5,10^9/L\n")
    assert result.exit_code == 2
    assert not out.exists()


def test_ctcae_v6_by_option_and_by_set(tmp_path: Path) -> None:
    # Under v6: PLT 45 is still grade 3 (<50 - 10); ALT 90 against baseline 50 > ULN 40 is
    # >1.5 - 2.0 x baseline, grade 2 (v5: 1.5 - 3.0 x baseline, grade 1); day -3's 60 U/L is
    # 1.2 x baseline, grade 1 (v5: 0), and so is day 0's 50, the baseline itself (1.0 x
    # baseline is grade 1's lower end). The rest as v5.
    for extra in (["--ctcae", "6.0"], ["--set", "ctcae_version=6.0"]):
        result, out = run(tmp_path, LABS, *extra)
        assert result.exit_code == 0, result.output
        g = pd.read_csv(out)
        assert g.grade.tolist() == [1, 3, 1, 2, 1, 0, 0, 2, 2]
        assert g.term[1] == "Thrombocytopenia"
        assert "CTCAE v6.0" in result.output
    result, _ = run(tmp_path, LABS, "--ctcae", "4.0")
    assert result.exit_code == 2
    assert "ctcae_version" in result.output
