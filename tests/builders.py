"""Hand-worked clinical cases as canonical studies, without going through a reader.

A `Case` describes one patient the way a clinician would: the platelet counts by day, the
TPO-RA course, the ATRA course, transfusions, bleeding, enzymes and adverse events.
Defaults describe a plain eligible patient, so each test states only what it is about.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ctit.study import Study, conform

PlateletCounts = dict[int, float] | list[tuple[int, float]]


@dataclass
class Case:
    id: str
    plt: PlateletCounts = field(default_factory=dict)
    tpo: list[tuple[str, int, int | None]] = field(default_factory=lambda: [("rhTPO", -14, -1)])
    atra: tuple[int, int | None] | None = (0, 41)
    atra_dose_mg: float | None = 40.0
    pre_therapy_platelets: float | None = None
    height_cm: float | None = 165.0
    weight_kg: float | None = 60.0
    transfusions: list[int | tuple[int, str]] = field(default_factory=list)
    bleeding: list[tuple[int, int]] = field(default_factory=list)
    enzymes: list[tuple[str, int, float]] = field(default_factory=list)   # (test, day, U/L), ULN 40
    # Any other lab: (test, day, value in canonical unit, unit, lln, uln).
    other_labs: list[tuple[str, int, float, str, float | None, float | None]] = field(default_factory=list)
    adverse_events: list[tuple[str, int, int]] = field(default_factory=list)  # (term, grade, start_day)
    lln: float | None = None


def _pairs(plt: PlateletCounts) -> list[tuple[int, float]]:
    return list(plt.items()) if isinstance(plt, dict) else list(plt)


def make_study(*cases: Case) -> Study:
    """A canonical `Study` of the given cases, rows numbered as a file would number them."""
    patients, exposures, labs, transfusions, bleeding, aes = [], [], [], [], [], []
    for c in cases:
        patients.append(dict(patient_id=c.id, sex="F", age_years=60.0, height_cm=c.height_cm,
                             weight_kg=c.weight_kg, tumor_type="lung",
                             pre_therapy_platelets=c.pre_therapy_platelets))
        for drug, start, end in c.tpo:
            exposures.append(dict(patient_id=c.id, drug=drug, drug_name=drug, role="tpo_ra",
                                  start_day=start, end_day=end))
        if c.atra is not None:
            exposures.append(dict(patient_id=c.id, drug="ATRA", drug_name="tretinoin", role="study_drug",
                                  start_day=c.atra[0], end_day=c.atra[1], dose=c.atra_dose_mg, dose_unit="mg"))
        for day, value in _pairs(c.plt):
            labs.append(dict(patient_id=c.id, day=day, test="PLT", test_as_written="PLT", value=value,
                             unit="10^9/L", lln=c.lln, value_as_written=value, unit_as_written="10^9/L"))
        for test, day, value in c.enzymes:
            labs.append(dict(patient_id=c.id, day=day, test=test, test_as_written=test, value=value,
                             unit="U/L", uln=40.0, value_as_written=value, unit_as_written="U/L"))
        for test, day, value, unit, lln, uln in c.other_labs:
            labs.append(dict(patient_id=c.id, day=day, test=test, test_as_written=test, value=value,
                             unit=unit, lln=lln, uln=uln, value_as_written=value, unit_as_written=unit))
        for t in c.transfusions:
            day, product = (t, "platelets") if isinstance(t, int) else t
            transfusions.append(dict(patient_id=c.id, day=day, product=product, units=1.0))
        for day, grade in c.bleeding:
            bleeding.append(dict(patient_id=c.id, day=day, who_grade=grade, site="skin"))
        for term, grade, start in c.adverse_events:
            aes.append(dict(patient_id=c.id, term=term, grade=grade, start_day=start))

    def table(name: str, rows: list[dict]) -> pd.DataFrame:
        df = pd.DataFrame(rows)
        df["source_row"] = range(2, len(df) + 2)
        return conform(name, df)

    return Study(
        patients=table("patients", patients),
        exposures=table("exposures", exposures),
        labs=table("labs", labs),
        transfusions=table("transfusions", transfusions),
        bleeding=table("bleeding", bleeding),
        adverse_events=table("adverse_events", aes),
        source="test cases",
    )


def responder_counts(baseline: float = 10.0, *, rise_day: int = 14, level: float = 150.0) -> dict[int, float]:
    """A course: grade 4 before ATRA, then counts twice weekly, at `level` from `rise_day` on."""
    counts = {-10: baseline, -3: baseline, 0: baseline}
    for day in range(3, 57, 4):
        counts[day] = level if day >= rise_day else baseline + 5
    return counts
