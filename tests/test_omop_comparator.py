"""The natural-history comparator (docs/comparator.md) on a hand-built OMOP cohort with
known recoveries, and small-cell suppression."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ctit.cli import app
from ctit.reports.suppression import suppress
from omop_builders import concept_rows, write_cdm

CISPLATIN, ROMIPLOSTIM, TRETINOIN = 1397599, 19032407, 903643


def _drug(person: int, concept: int, start: str, end: str) -> dict:
    return {"person_id": person, "drug_concept_id": concept, "drug_exposure_start_date": start,
            "drug_exposure_end_date": end}


def _plt(person: int, day: str, value: float) -> dict:
    return {"person_id": person, "measurement_concept_id": 3024929, "measurement_date": day,
            "value_as_number": value, "unit_concept_id": 8848}


def _cohort(folder: Path) -> Path:
    """Five persons, all given cisplatin on 2024-02-01 except person 5, who gets ATRA:
    1. romiplostim from 03-01; grade 3 on 03-03 (only 3 days of TPO-RA: not yet refractory)
       and 03-08 (8 days: the index day); 110, 130, 140 a week apart: CR on day 7.
    2. romiplostim from 03-01; stays at about 30: NR.
    3. romiplostim from 02-20; 20 on 03-05 (index, nadir grade 4), then 60-70 (grade 2,
       two grades better than the nadir) for two weeks: PR on day 7.
    4. no TPO-RA: excluded from the comparator (no_qualifying_tpo_ra).
    5. ATRA: the treated cohort, never a comparator."""
    drugs = [_drug(i, CISPLATIN, "2024-02-01", "2024-02-01") for i in (1, 2, 3, 4)]
    drugs += [_drug(1, ROMIPLOSTIM, "2024-03-01", "2024-03-20"), _drug(2, ROMIPLOSTIM, "2024-03-01", "2024-03-20"),
              _drug(3, ROMIPLOSTIM, "2024-02-20", "2024-03-10"), _drug(5, TRETINOIN, "2024-03-08", "2024-04-18")]
    counts = {1: [("03-03", 30), ("03-08", 35), ("03-15", 110), ("03-22", 130), ("03-29", 140)],
              2: [("03-08", 30), ("03-15", 32), ("03-22", 28), ("03-29", 31)],
              3: [("03-05", 20), ("03-12", 60), ("03-19", 65), ("03-26", 70)],
              4: [("03-05", 20), ("03-12", 150), ("03-19", 165)],
              5: [("03-08", 40), ("03-15", 45)]}
    meas = [_plt(i, f"2024-{d}", v) for i, rows in counts.items() for d, v in rows]
    persons = [{"person_id": i, "gender_concept_id": 8507, "year_of_birth": 1960} for i in range(1, 6)]
    return write_cdm(folder, person=persons, drug_exposure=drugs, measurement=meas, concept=concept_rows())


def test_comparator_finds_the_episodes_and_their_recoveries(tmp_path: Path) -> None:
    cdm = _cohort(tmp_path / "cdm")
    r = CliRunner().invoke(app, ["comparator", str(cdm), "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / "out" / "comparison.json").read_text())
    screening = summary["comparator"]["screening"]
    assert screening["screened_without_study_drug"] == 4
    assert {e["reason"]: e["n"] for e in screening["excluded"]} == {
        "no_anticancer": 0, "no_qualifying_tpo_ra": 1, "no_grade_2_count_after_both": 0}
    comp = summary["comparator"]
    assert comp["cohort"]["included"] == 3
    assert [comp["response"][k]["n"] for k in ("cr", "pr", "nr", "orr")] == [1, 1, 1, 2]
    # The index day is the first day eligibility holds (03-08, not 03-03): CR on day 7.
    assert comp["time_to_cr"]["median"] == 7
    patients = (tmp_path / "out" / "comparator" / "patients.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in patients[1:]] == ["1", "2", "3"]
    # The treated person is analysed as the treated cohort (no TPO-RA: excluded there).
    treated = summary["treated"]["cohort"]
    assert treated["screened"] == 5 and treated["included"] == 0
    assert {e["reason"]: e["n"] for e in treated["excluded"]}["no_prior_tpo_ra"] == 1
    # Shared outside the site: every count of 1-4 suppressed, no per-patient file.
    r = CliRunner().invoke(app, ["share", str(tmp_path / "out"), str(tmp_path / "shared")])
    assert r.exit_code == 0, r.output
    shared = json.loads((tmp_path / "shared" / "comparison.json").read_text())
    assert shared["comparator"]["response"]["cr"] == {"n": "<5", "pct": None, "ci95_low": None, "ci95_high": None}
    assert shared["comparator"]["screening"]["screened_without_study_drug"] == "<5"
    assert shared["suppression"]["min_cell_count"] == 5
    assert sorted(p.name for p in (tmp_path / "shared").iterdir()) == ["comparison.json"]


def test_comparator_min_cell_count_suppresses_every_output_of_both_arms(tmp_path: Path) -> None:
    """As `ctit analyze --min-cell-count`: each asked-for format of both cohorts suppressed
    (results.json and the terminal agree), no per-patient file, comparison.json suppressed."""
    cdm = _cohort(tmp_path / "cdm")
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["comparator", str(cdm), "--out", str(out), "--min-cell-count", "5",
                                 "-f", "json,csv"])
    assert r.exit_code == 0, r.output
    # Three comparator episodes (1 CR, 1 PR, 1 NR): every count below 5 is hidden, the
    # cohort's size too (a cohort of three is itself a small cell).
    assert "comparator: <5 included; CR <5, PR <5, ORR <5" in r.output
    for arm in ("treated", "comparator"):
        results = json.loads((out / arm / "results.json").read_text())
        assert results["suppression"]["min_cell_count"] == 5
        assert not (out / arm / "patients.csv").exists() and not (out / arm / "unused_rows.csv").exists()
    comparator = json.loads((out / "comparator" / "results.json").read_text())
    assert comparator["response"]["cr"]["n"] == "<5" and comparator["response"]["cr"]["pct"] is None
    summary = json.loads((out / "comparison.json").read_text())
    assert summary["comparator"]["response"]["orr"]["n"] == "<5"


def test_a_recent_anticancer_rule_and_each_course_episodes(tmp_path: Path) -> None:
    from ctit.omop.cdm import open_cdm
    from ctit.omop.comparator import ComparatorSettings, comparator_cohort, screening_counts
    from ctit.omop.reader import omop_tables
    from ctit.protocol import load_protocol

    omop = omop_tables(open_cdm(_cohort(tmp_path / "cdm")))
    protocol = load_protocol(None, [])
    # Cisplatin on 02-01 is 36 days before the index of persons 1 and 2 (03-08) and 33 days
    # before person 3's (03-05): a 35-day look-back keeps person 3 only.
    c = comparator_cohort(omop, protocol, ComparatorSettings(anticancer_lookback_days=35))
    s = screening_counts(c)
    assert s["episodes"] == 1
    assert c.day0.to_pyarrow().to_pylist()[0]["patient_id"] == "3"
    assert {e["reason"]: e["n"] for e in s["excluded"]}["no_grade_2_count_after_both"] == 2
    c = comparator_cohort(omop, protocol, ComparatorSettings(episodes="each_course"))
    days = sorted((r["patient_id"], str(r["day0"])) for r in c.day0.to_pyarrow().to_pylist())
    assert days == [("1#1", "2024-03-08"), ("2#1", "2024-03-08"), ("3#1", "2024-03-05")]


def test_small_cells_are_suppressed_with_their_percentages(tmp_path: Path) -> None:
    results = {"cohort": {"screened": 40, "included": 30, "excluded": [
        {"reason": "no_study_drug", "n": 7}, {"reason": "no_prior_tpo_ra", "n": 3}]},
        "response": {"n": 30, "cr": {"n": 2, "pct": 6.7, "ci95_low": 1.0, "ci95_high": 22.0},
                     "pr": {"n": 10, "pct": 33.3, "ci95_low": 17.0, "ci95_high": 53.0},
                     "nr": {"n": 18, "pct": 60.0, "ci95_low": 40.0, "ci95_high": 77.0},
                     "ne": {"n": 0, "pct": 0.0, "ci95_low": 0.0, "ci95_high": 11.0},
                     "orr": {"n": 12, "pct": 40.0, "ci95_low": 23.0, "ci95_high": 59.0}},
        "inputs": [{"name": "x.csv", "rows": 3}]}
    out = suppress(results, 5)
    assert out["response"]["cr"] == {"n": "<5", "pct": None, "ci95_low": None, "ci95_high": None}
    # CR + PR = ORR: the other responder category is hidden too (as "suppressed": it is not
    # below 5), so CR cannot be recovered; NR and the ORR stay.
    assert out["response"]["pr"]["n"] == "suppressed" and out["response"]["pr"]["pct"] is None
    assert out["response"]["orr"]["n"] == 12
    assert out["response"]["nr"]["n"] == 18 and out["response"]["ne"]["n"] == 0
    # Two exclusion reasons add up to 40 - 30: hiding 3 hides 7 too.
    assert [e["n"] for e in out["cohort"]["excluded"]] == ["suppressed", "<5"]
    assert "inputs" not in out and out["suppression"]["min_cell_count"] == 5
    assert out["suppression"]["cells_suppressed"] == 4


def test_mimic_demo_chemotherapy_episodes_stop_at_the_tpo_ra_criterion(shared_data: Path, tmp_path: Path) -> None:
    """examples/mimic_to_omop.py: patients 40310 (Burkitt lymphoma, R-CODOX-M/IVAC) and 10102
    (CML, hydroxyurea) have chemotherapy, counts below 25 (10102's "<5" read as 5) and
    platelet transfusions; with no TPO-RA in the demo, the comparator screens them out at
    no_qualifying_tpo_ra, the step after the anticancer one."""
    import importlib.util

    from ctit.omop.cdm import open_cdm
    from ctit.omop.comparator import ComparatorSettings, comparator_cohort
    from ctit.omop.reader import omop_tables, to_study
    from ctit.protocol import load_protocol

    script = Path(__file__).resolve().parents[1] / "examples" / "mimic_to_omop.py"
    spec = importlib.util.spec_from_file_location("mimic_to_omop", script)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    module.main(shared_data / "mimic-iii-demo", tmp_path / "cdm")
    omop = omop_tables(open_cdm(tmp_path / "cdm"))
    screening = comparator_cohort(omop, load_protocol(None, []), ComparatorSettings()).screening
    reasons = {r["patient_id"]: r["reason"] for r in screening.to_pyarrow().to_pylist()}
    assert reasons["40310"] == reasons["10102"] == "no_qualifying_tpo_ra"
    assert list(reasons.values()).count("no_qualifying_tpo_ra") == 3     # and 10132 (carboplatin)
    s = to_study(omop)
    plt = s.labs[s.labs.test == "PLT"]
    assert plt[plt.patient_id == "10102"].value.min() == 5
    assert plt[plt.patient_id == "40310"].value.min() < 25
    assert {"40310", "10102"} <= set(s.transfusions.patient_id)


def test_refractory_min_grade_sets_the_comparator_index_count(tmp_path: Path) -> None:
    """refractory_min_grade=4: only person 3 has a grade-4 count (20 on 03-05); persons 1 and 2
    (lowest 30, grade 3) have no qualifying count."""
    from ctit.omop.cdm import open_cdm
    from ctit.omop.comparator import comparator_cohort, screening_counts
    from ctit.omop.reader import omop_tables
    from ctit.protocol import load_protocol

    omop = omop_tables(open_cdm(_cohort(tmp_path / "cdm")))
    c = comparator_cohort(omop, load_protocol(None, ["refractory_min_grade=4"]))
    s = screening_counts(c)
    assert s["episodes"] == 1 and c.day0.to_pyarrow().to_pylist()[0]["patient_id"] == "3"
    assert {e["reason"]: e["n"] for e in s["excluded"]}["no_grade_2_count_after_both"] == 2


def test_comparator_without_tpo_ra_relaxes_the_screening(tmp_path: Path) -> None:
    """--comparator-without-tpo-ra: person 4 (cisplatin, no TPO-RA, 20 on 03-05) gets an
    episode, and person 1's index moves to 03-03, its first grade-3 count after cisplatin (no
    wait for 7 days of romiplostim). The protocol's own eligibility on the episodes waives the
    prior-TPO-RA criterion too (waived_criteria), so person 4 is analysed (docs/comparator.md)."""
    cdm = _cohort(tmp_path / "cdm")
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["comparator", str(cdm), "--out", str(out), "--comparator-without-tpo-ra"])
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "comparison.json").read_text())
    assert summary["episode_rule"]["prior_tpo_ra_required"] is False
    assert summary["relaxed_criteria"] and "no_qualifying_tpo_ra" in summary["relaxed_criteria"][0]
    screening = summary["comparator"]["screening"]
    assert screening["episodes"] == 4
    assert {e["reason"]: e["n"] for e in screening["excluded"]} == {"no_anticancer": 0,
                                                                    "no_grade_2_count_after_both": 0}
    comp = summary["comparator"]["cohort"]
    assert comp["screened"] == 4 and comp["included"] == 4
    assert {e["reason"]: e["n"] for e in comp["excluded"]}.get("no_prior_tpo_ra", 0) == 0
    # Person 1 from 03-03: 110 on day 12, sustained (130, 140): CR on day 12, not day 7.
    patients = {line.split(",")[0]: line.split(",") for line in
                (out / "comparator" / "patients.csv").read_text().splitlines()}
    header = patients.pop("patient_id")
    assert patients["1"][header.index("best_response")] == "CR"
    assert patients["1"][header.index("response_onset_day")] == "12"
    # Without the criterion, episodes per TPO-RA course make no sense: refused.
    r = CliRunner().invoke(app, ["comparator", str(cdm), "--out", str(tmp_path / "o2"),
                                 "--comparator-without-tpo-ra", "--episodes", "each_course"])
    assert r.exit_code == 2 and "each_course" in r.output
