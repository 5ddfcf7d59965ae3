"""Hand-built OMOP CDM folders for tests: a few records per table, ids filled in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

KEYS = {"person": "person_id", "drug_exposure": "drug_exposure_id", "measurement": "measurement_id",
        "procedure_occurrence": "procedure_occurrence_id", "device_exposure": "device_exposure_id",
        "condition_occurrence": "condition_occurrence_id", "observation": "observation_id",
        "death": None, "concept": None, "concept_ancestor": None}

# Concepts the hand-built cohorts use: the ids the concept sets name, with their real names
# and codes; the condition and procedure ids are test ids (the sets find those by code).
CONCEPTS = [
    (903643, "tretinoin", "Drug", "RxNorm", "Ingredient", "10753"),
    (19032407, "romiplostim", "Drug", "RxNorm", "Ingredient", "727566"),
    (19012346, "eltrombopag", "Drug", "RxNorm", "Ingredient", "711942"),
    (1397599, "cisplatin", "Drug", "RxNorm", "Ingredient", "2555"),
    (21601387, "ANTINEOPLASTIC AGENTS", "Drug", "ATC", "ATC 2nd", "L01"),
    (3024929, "Platelets [#/volume] in Blood by Automated count", "Measurement", "LOINC", "Lab Test", "777-3"),
    (3024386, "Platelet mean volume [Entitic volume] in Blood by Automated count", "Measurement", "LOINC",
     "Lab Test", "32623-1"),
    (3006923, "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "Measurement",
     "LOINC", "Lab Test", "1742-6"),
    (4096682, "Epistaxis", "Condition", "SNOMED", "Clinical Finding", "249366005"),
    (79864, "Hematuria syndrome", "Condition", "SNOMED", "Clinical Finding", "34436003"),
    (4024658, "Transfusion of platelets", "Procedure", "SNOMED", "Procedure", "12719002"),
]


def concept_rows(extra: list[tuple[Any, ...]] = ()) -> list[dict[str, Any]]:
    return [{"concept_id": c[0], "concept_name": c[1], "domain_id": c[2], "vocabulary_id": c[3],
             "concept_class_id": c[4], "standard_concept": "S", "concept_code": c[5]}
            for c in [*CONCEPTS, *extra]]


def write_cdm(folder: Path, **tables: list[dict[str, Any]]) -> Path:
    """Write each table as UPPER.csv; missing primary keys are numbered from 1."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        df = pd.DataFrame(rows)
        key = KEYS[name]
        if key and key not in df.columns:
            df.insert(0, key, range(1, len(df) + 1))
        df.to_csv(folder / f"{name.upper()}.csv", index=False)
    return folder
