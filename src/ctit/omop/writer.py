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
from datetime import date
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


def _iso(d: pd.Series) -> pd.Series:
    """Dates as ISO strings, missing ones as None."""
    return d.dt.strftime("%Y-%m-%d").astype(object).where(d.notna(), None)


def _num(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s, errors="coerce").astype(object).where(s.notna(), None)


def _opt(s: pd.Series) -> pd.Series:
    return s.astype(object).where(s.notna(), None)


def omop_frames(study: Study, *, index_date: str = "2024-01-01") -> dict[str, pd.DataFrame]:
    """The study as OMOP CDM 5.4 tables (module docstring), by lower-case table name.
    Column operations on whole tables; only the distinct concepts are looped over."""
    v = _Vocabulary()
    default = pd.Timestamp(date.fromisoformat(index_date))
    pts = study.patients.sort_values("source_row", kind="stable").reset_index(drop=True)
    person_of = pd.Series(range(1, len(pts) + 1), index=pts.patient_id.to_numpy(), dtype="int64")
    anchors = pd.to_datetime(pts.index_date.astype("string").str[:10], errors="coerce").fillna(default)
    anchor_of = pd.Series(anchors.to_numpy(), index=pts.patient_id.to_numpy())

    def known(df: pd.DataFrame, day: str) -> pd.DataFrame:
        return df[df.patient_id.isin(person_of.index) & df[day].notna()].reset_index(drop=True)

    def when(pid: pd.Series, day: pd.Series) -> pd.Series:
        at = pd.Series(anchor_of.reindex(pid).to_numpy()) + pd.to_timedelta(
            pd.to_numeric(day, errors="coerce").to_numpy(), unit="D")
        return _iso(at)

    pid = pts.patient_id
    a = pd.Series(anchors.to_numpy())
    for sex in pts.sex.dropna().unique():
        if str(sex) in GENDER:
            g = GENDER[str(sex)]
            v.add(g[1], "Gender", "Gender", g[1][0], "Gender", g[0])
    gender = pts.sex.map(lambda x: GENDER.get(str(x), (0,))[0] if pd.notna(x) else 0)
    years = pd.to_numeric(pts.age_years, errors="coerce")
    by = a.dt.year - years
    leap = (by % 4 == 0) & ((by % 100 != 0) | (by % 400 == 0))
    bd = a.dt.day.where(~((a.dt.month == 2) & (a.dt.day == 29) & ~leap), 28)   # 29 February
    has_birth = years.notna()
    person = pd.DataFrame({
        "person_id": person_of.to_numpy(), "gender_concept_id": gender.astype("int64"),
        "year_of_birth": by.where(has_birth).astype("Int64"),
        "month_of_birth": a.dt.month.where(has_birth).astype("Int64"),
        "day_of_birth": bd.where(has_birth).astype("Int64"),
        "race_concept_id": 0, "ethnicity_concept_id": 0, "person_source_value": pid.to_numpy(),
        "gender_source_value": _opt(pts.sex)})

    body = []
    for column, (cid, code, name), unit in (("height_cm", HEIGHT, "cm"), ("weight_kg", WEIGHT, "kg")):
        have = pts[column].notna()
        if not have.any():
            continue
        v.add(name, "Measurement", "LOINC", code, "Clinical Observation", cid)
        u = UNITS[unit]
        v.add(u[2], "Unit", "UCUM", u[1], "Unit", u[0])
        body.append(pd.DataFrame({
            "_order": pts.index[have] * 2 + len(body), "person_id": person_of.to_numpy()[have],
            "measurement_concept_id": cid, "measurement_date": _iso(a[have]),
            "value_as_number": pts.loc[have, column].astype(float).to_numpy(),
            "unit_concept_id": u[0], "unit_source_value": unit}))
    body_df = (pd.concat(body).sort_values("_order", kind="stable").drop(columns="_order")
               if body else pd.DataFrame())

    condition = pd.DataFrame()
    have = pts.tumor_type.notna()
    if have.any():
        root = v.add(SOLID_TUMOR[2], "Condition", "SNOMED", SOLID_TUMOR[1], "Clinical Finding", SOLID_TUMOR[0])
        tumors = {}
        for t in pts.tumor_type[have].astype(str).unique():
            tumors[t] = v.add(t, "Condition", "ctit", "tumor:" + t.lower(), "Tumor type")
            v.ancestors.add((root, tumors[t]))
        condition = pd.DataFrame({
            "person_id": person_of.to_numpy()[have],
            "condition_concept_id": pts.tumor_type[have].astype(str).map(tumors).to_numpy(),
            "condition_start_date": _iso(a[have] - pd.Timedelta(days=1)),
            "condition_source_value": pts.tumor_type[have].astype(str).to_numpy()})

    observation = []
    have = pts.pre_therapy_platelets.notna()
    if have.any():
        cid = v.add("Platelet count before the causative cancer therapy", "Observation", "ctit",
                    "pre_therapy_platelets", "Patient fact")
        observation.append(pd.DataFrame({
            "person_id": person_of.to_numpy()[have], "observation_concept_id": cid,
            "observation_date": _iso(a[have]),
            "value_as_number": pts.pre_therapy_platelets[have].astype(float).to_numpy(),
            "observation_source_value": "pre_therapy_platelets"}))

    ex = study.exposures
    ex = known(ex[ex.role != "other"], "start_day")
    drug_cid: dict[str, int] = {}
    atc = None
    for name in ex.drug_name.astype(str).unique():
        if name in SOURCE_ONLY_DRUGS:
            drug_cid[name] = 0
            continue
        drug_cid[name] = v.add(name, "Drug", "RxNorm", "ingredient:" + name.lower(), "Ingredient",
                               KNOWN_DRUGS.get(name))
    for name in ex.drug_name[ex.role == "anticancer"].astype(str).unique():
        if name not in SOURCE_ONLY_DRUGS:
            atc = atc or v.add("ANTINEOPLASTIC AGENTS", "Drug", "ATC", "L01", "ATC 2nd", standard="C")
            v.ancestors.add((atc, drug_cid[name]))
    drug = pd.DataFrame({
        "person_id": ex.patient_id.map(person_of).to_numpy(),
        "drug_concept_id": ex.drug_name.astype(str).map(drug_cid).to_numpy(),
        "drug_exposure_start_date": when(ex.patient_id, ex.start_day),
        "drug_exposure_end_date": when(ex.patient_id, ex.end_day),
        "drug_type_concept_id": EHR, "quantity": _num(ex.dose), "route_concept_id": 0,
        "drug_source_value": ex.drug.to_numpy(), "dose_unit_source_value": _opt(ex.dose_unit)})

    loinc = _loinc_codes()
    tests = knowledge.lab_tests()
    labs = known(study.labs, "day")
    labs = labs[labs.value.notna()].reset_index(drop=True)
    lab_cid: dict[str, int] = {}
    for test in labs.test.unique():
        k = KNOWN_LABS.get(test)
        code = k[1] if k else loinc.get(test, "ctit:" + str(test))
        vocab = "LOINC" if k or test in loinc else "ctit"
        lab_cid[test] = v.add(k[2] if k else tests[test].name if test in tests else str(test),
                              "Measurement", vocab, code, "Lab Test", k[0] if k else None)
    converted = labs.unit.notna() & labs.unit.isin(list(UNITS))
    for unit in labs.unit[converted].unique():
        u = UNITS[unit]
        v.add(u[2], "Unit", "UCUM", u[1], "Unit", u[0])
    lab_df = pd.DataFrame({
        "person_id": labs.patient_id.map(person_of).to_numpy(),
        "measurement_concept_id": labs.test.map(lab_cid).to_numpy(),
        "measurement_date": when(labs.patient_id, labs.day),
        "value_as_number": pd.to_numeric(labs.value.where(converted, labs.value_as_written)).astype(float).to_numpy(),
        "unit_concept_id": labs.unit.map(lambda u: UNITS[u][0] if u in UNITS else 0).where(converted, 0)
        .astype("int64").to_numpy(),
        "range_low": _num(labs.lln), "range_high": _num(labs.uln),
        "unit_source_value": _opt(labs.unit.where(converted, labs.unit_as_written)),
        "measurement_source_value": labs.test_as_written.to_numpy()})
    measurement = pd.concat([body_df, lab_df], ignore_index=True) if len(body_df) else lab_df

    tr = known(study.transfusions, "day")
    product = tr["product"].astype(str).where(tr["product"].astype(str).isin(list(PRODUCTS)), "other")
    proc_cid = {p: v.add(PRODUCTS[p][2], "Procedure", PRODUCTS[p][0], PRODUCTS[p][1], "Procedure")
                for p in product.unique()}
    procedure = pd.DataFrame({
        "person_id": tr.patient_id.map(person_of).to_numpy(),
        "procedure_concept_id": product.map(proc_cid).to_numpy(),
        "procedure_date": when(tr.patient_id, tr.day), "procedure_type_concept_id": EHR,
        "quantity": _num(tr.units), "procedure_source_value": product.map(lambda p: PRODUCTS[p][1]).to_numpy()})

    bl = known(study.bleeding, "day")
    if len(bl):
        cid = v.add("WHO bleeding grade", "Observation", "ctit", "who_bleeding_grade", "Assessment")
        observation.append(pd.DataFrame({
            "person_id": bl.patient_id.map(person_of).to_numpy(), "observation_concept_id": cid,
            "observation_date": when(bl.patient_id, bl.day), "value_as_number": _num(bl.who_grade),
            "value_as_string": _opt(bl.site), "observation_source_value": "who_bleeding_grade"}))

    ae = known(study.adverse_events, "start_day")
    ae = ae[ae.term.notna()].reset_index(drop=True)
    if len(ae):
        term = ae.term.astype(str).str.strip()
        key = term.str.lower()
        terms = {}
        for k, t in zip(key, term):
            if k not in terms:
                terms[k] = v.add(t, "Observation", "ctit", "ae:" + k, "CTCAE term")
        flags = pd.Series("", index=ae.index)
        for k in ("serious", "related"):
            part = (k + "=" + ae[k].astype(str)).where(ae[k].notna(), "")
            flags = flags.where(part == "", flags.where(flags == "", flags + ";") + part)
        observation.append(pd.DataFrame({
            "person_id": ae.patient_id.map(person_of).to_numpy(), "observation_concept_id": key.map(terms).to_numpy(),
            "observation_date": when(ae.patient_id, ae.start_day), "value_as_number": _num(ae.grade),
            "value_as_string": flags.where(flags != "", None).to_numpy(),
            "observation_source_value": ae.term.astype(str).to_numpy()}))

    def numbered(df: pd.DataFrame, key: str) -> pd.DataFrame:
        if df.empty:
            return pd.DataFrame({key: pd.Series(dtype="int64"), "person_id": pd.Series(dtype="int64")})
        df = df.reset_index(drop=True)
        df.insert(0, key, range(1, len(df) + 1))
        return df

    frames = {
        "person": person,
        "drug_exposure": numbered(drug, "drug_exposure_id"),
        "measurement": numbered(measurement, "measurement_id"),
        "procedure_occurrence": numbered(procedure, "procedure_occurrence_id"),
        "condition_occurrence": numbered(condition, "condition_occurrence_id"),
        "observation": numbered(pd.concat(observation, ignore_index=True) if observation else pd.DataFrame(),
                                "observation_id"),
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
    # The concept sets' own standard ids, used or not, so reading back warns of nothing missing.
    for name, cid in KNOWN_DRUGS.items():
        v.add(name, "Drug", "RxNorm", "ingredient:" + name.lower(), "Ingredient", cid)
    for cid, code, name in KNOWN_LABS.values():
        v.add(name, "Measurement", "LOINC", code, "Lab Test", cid)
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
