"""`ctit sensitivity`: the protocol's row is the main analysis; each definition moves the
hand-worked patients as its rule says."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from builders import Case, make_study
from ctit.cli import app
from ctit.protocol import load_protocol
from ctit.readers import read_study
from ctit.results import analyze_study
from ctit.sensitivity import run_sensitivity, sensitivity_definitions, write_sensitivity

EXAMPLE = Path(__file__).resolve().parents[1] / "src" / "ctit" / "examples" / "atra-ctit"


def test_protocol_row_reproduces_the_main_analysis() -> None:
    study, p = read_study(EXAMPLE), load_protocol()
    analysed = analyze_study(study, p)
    main = analysed.response
    defs = [d for d in sensitivity_definitions(p) if d.key in ("protocol", "library:atra-ctit-v6", "ctcae_version=6.0")]
    t = run_sensitivity(study, p, definitions=defs).set_index("key")
    row = t.loc["protocol"]
    for key in ("cr", "pr", "orr"):
        assert row[f"{key}_n"] == main[key]["n"]
        assert row[f"{key}_ci_low"] == main[key]["ci95_low"] and row[f"{key}_ci_high"] == main[key]["ci95_high"]
    assert row.n == main["n"]
    for m in analysed.landmarks:
        assert row[f"median_change_d{m['day']}"] == m["median_change"]
    # The library's v6 protocol is the same definition as the ctcae_version=6.0 variation.
    assert t.loc["library:atra-ctit-v6", "orr_n"] == t.loc["ctcae_version=6.0", "orr_n"]


def test_each_variation_moves_the_hand_worked_patients(tmp_path: Path) -> None:
    study = make_study(
        Case("CR75", {0: 20, 7: 80, 14: 85}),            # >= 75 sustained: CR only at cr_threshold 75
        Case("TX", {0: 20, 7: 120, 14: 130}, transfusions=[2]),  # transfusion 5 days before onset
        Case("S14", {0: 20, 7: 120, 14: 120, 21: 20}),    # sustained 7 days, not 14
        Case("V6", {0: 15, 7: 60, 14: 60}),               # PR under v5 (nadir grade 4), not v6 (3)
    )
    keys = ("protocol", "cr_threshold=75", "transfusion_washout_days=3", "sustain_days=14", "ctcae_version=6.0")
    defs = [d for d in sensitivity_definitions(load_protocol()) if d.key in keys]
    table = run_sensitivity(study, load_protocol(), definitions=defs)
    t = table.set_index("key")
    cats = t.categories
    # Protocol (sustain 7, washout 7, CR >= 100): CR75 is PR (grade 4 -> 1); TX's only window
    # [7, 14] has the day-2 transfusion in its washout [0, 14], and no count confirms a later
    # onset: NR; S14 is CR; V6 is PR.
    assert cats["protocol"] == "CR 1; PR 2; NR 1; NE 0"
    assert cats["cr_threshold=75"] == "CR 2; PR 1; NR 1; NE 0"
    assert cats["transfusion_washout_days=3"] == "CR 2; PR 2; NR 0; NE 0"
    # 14 days: no patient has a count 14 days after an onset that still meets a target.
    assert cats["sustain_days=14"] == "CR 0; PR 0; NR 4; NE 0"
    assert cats["ctcae_version=6.0"] == "CR 1; PR 1; NR 2; NE 0"
    written = write_sensitivity(table, tmp_path / "s")
    assert {p.name for p in written} == {"sensitivity.csv", "sensitivity.json", "tornado.png", "tornado.svg"}


def test_definitions_list_the_library_and_every_variation() -> None:
    keys = [d.key for d in sensitivity_definitions(load_protocol())]
    assert keys[0] == "protocol"
    assert {"library:iwg-itp-2009", "library:soff-2019-romiplostim", "library:cui-2022-avatrombopag",
            "library:atra-ctit-v6", "sustain_days=7", "sustain_days=14", "transfusion_washout_days=0",
            "cr_threshold=75", "use_individual_baseline=False", "landmark_window_days=2",
            "ctcae_version=5.0"} <= set(keys)
    assert "--out" in CliRunner().invoke(app, ["sensitivity", "--help"]).output
