"""Any canonical study -> an OMOP CDM 5.4 (CSV or Parquet) with the vocabulary subset its
concepts need: `ctit export omop STUDY DIR` (docs/omop.md, "Writing OMOP").

Days become dates against each patient's `index_date`, else `index_date` given to the
writer. Concepts: the standard ids the concept sets name (tretinoin 903643, platelets
3024929, ...); concepts with no id the tool can vouch for are local concepts (ids from
2,000,000,000, the OMOP convention for site concepts) carrying their real vocabulary and
code (LOINC, SNOMED, RxNorm ingredient names), resolved by code or name when read. What
OMOP has no table for goes to OBSERVATION with ctit-vocabulary concepts: assessed WHO
bleeding grades, pre-therapy platelets, reported adverse events (grade in value_as_number).
Tumour types are local conditions under 443392 in CONCEPT_ANCESTOR. An `omop_concepts.yaml`
beside the tables says that patient_id is person_source_value, so the study round-trips.
"""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from ctit import knowledge
from ctit.study import Study

LOCAL_BASE = 2_000_000_000
KNOWN_DRUGS = {"tretinoin": 903643, "romiplostim": 19032407, "eltrombopag": 19012346}
# No standard vocabulary has them: written by source value (the reader's dictionary rule).
SOURCE_ONLY_DRUGS = {"hetrombopag", "rhTPO"}
KNOWN_LABS = {"PLT": (3024929, "777-3", "Platelets [#/volume] in Blood by Automated count"),
              "ALT": (3006923, "1742-6", "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma"),
              "AST": (3013721, "1920-8", "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma"),
              "TBIL": (3024128, "1975-2", "Bilirubin.total [Mass/volume] in Serum or Plasma")}
UNITS = {"10^9/L": (9444, "10*9/L", "billion per liter"), "U/L": (8645, "[U]/L", "unit per liter"),
         "umol/L": (8749, "umol/L", "micromole per liter"), "g/L": (8636, "g/L", "gram per liter"),
         "mmol/L": (8753, "mmol/L", "millimole per liter"), "cm": (8582, "cm", "centimeter"),
         "kg": (9529, "kg", "kilogram")}
GENDER = {"M": (8507, "MALE"), "F": (8532, "FEMALE")}
HEIGHT = (3036277, "8302-2", "Body height")
WEIGHT = (3025315, "29463-7", "Body weight")
SOLID_TUMOR = (443392, "363346000", "Malignant neoplastic disease")
PRODUCTS = {"platelets": ("SNOMED", "12719002", "Transfusion of platelets"),
            "rbc": ("SNOMED", "116863004", "Transfusion of red blood cells"),
            "plasma": ("ctit", "transfusion_plasma", "Transfusion of plasma"),
            "other": ("ctit", "transfusion_other", "Transfusion of another blood product")}
EHR = 32817   # type concept: EHR


class _Vocabulary:
    """The CONCEPT and CONCEPT_ANCESTOR rows the written tables need."""

    def __init__(self) -> None:
        self.rows: dict[int, dict[str, Any]] = {}
        self.by_key: dict[tuple[str, str], int] = {}
        self.ancestors: set[tuple[int, int]] = set()

    def add(self, name: str, domain: str, vocabulary: str, code: str, cls: str,
            concept_id: int | None = None, standard: str = "S") -> int:
        key = (vocabulary, code)
        if key in self.by_key:
            return self.by_key[key]
        cid = concept_id if concept_id is not None else LOCAL_BASE + 1 + sum(
            1 for c in self.rows if c > LOCAL_BASE)
        self.by_key[key] = cid
        self.rows[cid] = {"concept_id": cid, "concept_name": name, "domain_id": domain,
                          "vocabulary_id": vocabulary, "concept_class_id": cls,
                          "standard_concept": standard, "concept_code": code,
                          "valid_start_date": "1970-01-01", "valid_end_date": "2099-12-31",
                          "invalid_reason": None}
        self.ancestors.add((cid, cid))
        return cid

    def concept(self) -> pd.DataFrame:
        return pd.DataFrame(sorted(self.rows.values(), key=lambda r: r["concept_id"]))

    def ancestor(self) -> pd.DataFrame:
        rows = sorted(self.ancestors)
        return pd.DataFrame({"ancestor_concept_id": [a for a, _ in rows],
                             "descendant_concept_id": [d for _, d in rows],
                             "min_levels_of_separation": [0 if a == d else 1 for a, d in rows],
                             "max_levels_of_separation": [0 if a == d else 1 for a, d in rows]})


def _loinc_codes() -> dict[str, str]:
    with knowledge.path("lab_test_aliases.csv").open(encoding="utf-8", newline="") as fh:
        out: dict[str, str] = {}
        for r in csv.DictReader(fh):
            if r["source"] == "LOINC":
                out.setdefault(r["code"], r["alias"])
    return out


def _date(anchor: date, day: Any) -> str | None:
    return None if pd.isna(day) else (anchor + timedelta(days=int(day))).isoformat()


def omop_frames(study: Study, *, index_date: str = "2024-01-01") -> dict[str, pd.DataFrame]:
    """The study as OMOP CDM 5.4 tables (module docstring), by lower-case table name."""
    v = _Vocabulary()
    default = date.fromisoformat(index_date)
    pts = study.patients.sort_values("source_row", kind="stable").reset_index(drop=True)
    person_of = {pid: i + 1 for i, pid in enumerate(pts.patient_id)}
    anchor_of = {pid: (date.fromisoformat(str(d)[:10]) if pd.notna(d) else default)
                 for pid, d in zip(pts.patient_id, pts.index_date)}

    def when(pid: str, day: Any) -> str | None:
        return _date(anchor_of[pid], day)

    person, measurement, observation, condition = [], [], [], []
    for pid, r in zip(pts.patient_id, pts.itertuples()):
        a = anchor_of[pid]
        gender = GENDER.get(str(r.sex)) if pd.notna(r.sex) else None
        if gender:
            v.add(gender[1], "Gender", "Gender", gender[1][0], "Gender", gender[0])
        birth = None
        if pd.notna(r.age_years):
            years = int(r.age_years)
            try:
                birth = a.replace(year=a.year - years)
            except ValueError:   # 29 February
                birth = a.replace(year=a.year - years, day=28)
        person.append({"person_id": person_of[pid], "gender_concept_id": gender[0] if gender else 0,
                       "year_of_birth": birth.year if birth else None,
                       "month_of_birth": birth.month if birth else None,
                       "day_of_birth": birth.day if birth else None,
                       "race_concept_id": 0, "ethnicity_concept_id": 0,
                       "person_source_value": pid,
                       "gender_source_value": r.sex if pd.notna(r.sex) else None})
        for value, (cid, code, name), unit in ((r.height_cm, HEIGHT, "cm"), (r.weight_kg, WEIGHT, "kg")):
            if pd.notna(value):
                v.add(name, "Measurement", "LOINC", code, "Clinical Observation", cid)
                u = UNITS[unit]
                v.add(u[2], "Unit", "UCUM", u[1], "Unit", u[0])
                measurement.append({"person_id": person_of[pid], "measurement_concept_id": cid,
                                    "measurement_date": a.isoformat(), "value_as_number": float(value),
                                    "unit_concept_id": u[0], "unit_source_value": unit})
        if pd.notna(r.tumor_type):
            root = v.add(SOLID_TUMOR[2], "Condition", "SNOMED", SOLID_TUMOR[1], "Clinical Finding", SOLID_TUMOR[0])
            cid = v.add(str(r.tumor_type), "Condition", "ctit", "tumor:" + str(r.tumor_type).lower(),
                        "Tumor type")
            v.ancestors.add((root, cid))
            condition.append({"person_id": person_of[pid], "condition_concept_id": cid,
                              "condition_start_date": (a - timedelta(days=1)).isoformat(),
                              "condition_source_value": str(r.tumor_type)})
        if pd.notna(r.pre_therapy_platelets):
            cid = v.add("Platelet count before the causative cancer therapy", "Observation", "ctit",
                        "pre_therapy_platelets", "Patient fact")
            observation.append({"person_id": person_of[pid], "observation_concept_id": cid,
                                "observation_date": a.isoformat(),
                                "value_as_number": float(r.pre_therapy_platelets),
                                "observation_source_value": "pre_therapy_platelets"})

    drug = []
    atc = None
    for r in study.exposures.itertuples():
        if r.patient_id not in person_of or pd.isna(r.start_day) or r.role == "other":
            continue
        name = str(r.drug_name)
        if name in SOURCE_ONLY_DRUGS:
            cid = 0
        else:
            cid = v.add(name, "Drug", "RxNorm", "ingredient:" + name.lower(), "Ingredient", KNOWN_DRUGS.get(name))
            if r.role == "anticancer":
                atc = atc or v.add("ANTINEOPLASTIC AGENTS", "Drug", "ATC", "L01", "ATC 2nd", standard="C")
                v.ancestors.add((atc, cid))
        drug.append({"person_id": person_of[r.patient_id], "drug_concept_id": cid,
                     "drug_exposure_start_date": when(r.patient_id, r.start_day),
                     "drug_exposure_end_date": when(r.patient_id, r.end_day),
                     "drug_type_concept_id": EHR,
                     "quantity": None if pd.isna(r.dose) else float(r.dose),
                     "route_concept_id": 0, "drug_source_value": r.drug,
                     "dose_unit_source_value": None if pd.isna(r.dose_unit) else r.dose_unit})

    loinc = _loinc_codes()
    for r in study.labs.itertuples():
        if r.patient_id not in person_of or pd.isna(r.day) or pd.isna(r.value):
            continue
        known = KNOWN_LABS.get(r.test)
        code = known[1] if known else loinc.get(r.test, "ctit:" + str(r.test))
        vocab = "LOINC" if known or r.test in loinc else "ctit"
        cid = v.add(known[2] if known else knowledge.lab_tests()[r.test].name if r.test in knowledge.lab_tests()
                    else str(r.test), "Measurement", vocab, code, "Lab Test", known[0] if known else None)
        converted = pd.notna(r.unit) and r.unit in UNITS
        if converted:
            u = UNITS[r.unit]
            v.add(u[2], "Unit", "UCUM", u[1], "Unit", u[0])
        measurement.append({
            "person_id": person_of[r.patient_id], "measurement_concept_id": cid,
            "measurement_date": when(r.patient_id, r.day),
            "value_as_number": float(r.value if converted else r.value_as_written),
            "unit_concept_id": UNITS[r.unit][0] if converted else 0,
            "range_low": None if pd.isna(r.lln) else float(r.lln),
            "range_high": None if pd.isna(r.uln) else float(r.uln),
            "unit_source_value": r.unit if converted else (None if pd.isna(r.unit_as_written) else r.unit_as_written),
            "measurement_source_value": r.test_as_written})

    procedure = []
    for r in study.transfusions.itertuples():
        if r.patient_id not in person_of or pd.isna(r.day):
            continue
        vocab, code, name = PRODUCTS.get(str(r.product), PRODUCTS["other"])
        cid = v.add(name, "Procedure", vocab, code, "Procedure")
        procedure.append({"person_id": person_of[r.patient_id], "procedure_concept_id": cid,
                          "procedure_date": when(r.patient_id, r.day), "procedure_type_concept_id": EHR,
                          "quantity": None if pd.isna(r.units) else float(r.units),
                          "procedure_source_value": code})

    for r in study.bleeding.itertuples():
        if r.patient_id not in person_of or pd.isna(r.day):
            continue
        cid = v.add("WHO bleeding grade", "Observation", "ctit", "who_bleeding_grade", "Assessment")
        observation.append({"person_id": person_of[r.patient_id], "observation_concept_id": cid,
                            "observation_date": when(r.patient_id, r.day),
                            "value_as_number": None if pd.isna(r.who_grade) else float(r.who_grade),
                            "value_as_string": None if pd.isna(r.site) else r.site,
                            "observation_source_value": "who_bleeding_grade"})

    terms: dict[str, int] = {}
    for r in study.adverse_events.itertuples():
        if r.patient_id not in person_of or pd.isna(r.start_day) or pd.isna(r.term):
            continue
        key = str(r.term).strip().lower()
        if key not in terms:
            terms[key] = v.add(str(r.term).strip(), "Observation", "ctit", "ae:" + key, "CTCAE term")
        flags = ";".join(f"{k}={getattr(r, k)}" for k in ("serious", "related") if pd.notna(getattr(r, k)))
        observation.append({"person_id": person_of[r.patient_id], "observation_concept_id": terms[key],
                            "observation_date": when(r.patient_id, r.start_day),
                            "value_as_number": None if pd.isna(r.grade) else float(r.grade),
                            "value_as_string": flags or None, "observation_source_value": str(r.term)})

    def numbered(rows: list[dict[str, Any]], key: str) -> pd.DataFrame:
        df = pd.DataFrame(rows)
        if df.empty:
            return pd.DataFrame({key: pd.Series(dtype="int64"), "person_id": pd.Series(dtype="int64")})
        df.insert(0, key, range(1, len(df) + 1))
        return df

    frames = {
        "person": pd.DataFrame(person),
        "drug_exposure": numbered(drug, "drug_exposure_id"),
        "measurement": numbered(measurement, "measurement_id"),
        "procedure_occurrence": numbered(procedure, "procedure_occurrence_id"),
        "condition_occurrence": numbered(condition, "condition_occurrence_id"),
        "observation": numbered(observation, "observation_id"),
    }
    dated = [(f, c) for f, c in (("drug_exposure", "drug_exposure_start_date"), ("measurement", "measurement_date"),
                                 ("procedure_occurrence", "procedure_date"), ("observation", "observation_date"),
                                 ("condition_occurrence", "condition_start_date")) if not frames[f].empty]
    span = pd.concat([frames[f][["person_id", c]].rename(columns={c: "d"}) for f, c in dated]).dropna()
    span = span.groupby("person_id")["d"].agg(["min", "max"]).reset_index()
    frames["observation_period"] = pd.DataFrame({
        "observation_period_id": range(1, len(span) + 1), "person_id": span.person_id,
        "observation_period_start_date": span["min"], "observation_period_end_date": span["max"],
        "period_type_concept_id": EHR})
    frames["concept"] = v.concept()
    frames["concept_ancestor"] = v.ancestor()
    frames["cdm_source"] = pd.DataFrame([{
        "cdm_source_name": "ctit export", "cdm_source_abbreviation": "ctit",
        "source_description": f"Written by ctit export omop from {study.source}",
        "cdm_version": "5.4", "cdm_version_concept_id": 756265, "vocabulary_version": "subset (ctit)"}])
    return frames


def write_omop(study: Study, out: Path, *, fmt: str = "csv", index_date: str = "2024-01-01") -> list[Path]:
    """Write the study as OMOP CDM 5.4 tables (upper-case file names) and the reader settings
    that make it round-trip; returns the files written."""
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"unknown OMOP format {fmt!r}; choose csv or parquet")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, df in omop_frames(study, index_date=index_date).items():
        path = out / f"{name.upper()}.{fmt}"
        if fmt == "csv":
            df.to_csv(path, index=False)
        else:
            df.to_parquet(path, index=False)
        written.append(path)
    settings = out / "omop_concepts.yaml"
    settings.write_text("# Written by ctit export omop: the patient ids are the study's own.\n"
                        "patient_id: person_source_value\n", encoding="utf-8")
    written.append(settings)
    return written
