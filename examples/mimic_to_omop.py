"""Map the MIMIC-III demo (PhysioNet, ODbL v1.0) into an OMOP CDM folder that ctit reads.

    .venv/bin/python examples/mimic_to_omop.py ../shared/data/mimic-iii-demo out/mimic-omop
    .venv/bin/ctit validate out/mimic-omop --from omop
    .venv/bin/ctit comparator out/mimic-omop --out out/mimic-comparator

An EHR extract is not a study table. The rules real ICU data needs, each stated once here:

- Platelet counts are labevents itemid 51265 (LOINC 777-3, K/uL = 10^9/L); ALT 50861, AST
  50878, total bilirubin 50885 (mg/dL). A censored result such as "<5" has no valuenum: it
  is read as its limit (5), an upper bound, which grades it correctly (grade 4) and can
  never meet a response target; the text stays in value_source_value.
- Several counts a day are all kept: the protocol's own same-day rules decide (the lower
  count at baseline, every count of a day must meet a response target).
- Orders versus administrations: prescriptions are orders (start and end dates of the
  order, not doses given), so exposures are the ordered periods. Transfusions are
  administrations (inputevents); MetaVision rows with statusdescription "Rewritten" are
  superseded orders and are dropped, as are cancelled ones.
- Transfusion volumes to units: one platelet unit is taken as 250 mL (an apheresis unit is
  200-300 mL): units = max(1, round(amount_ml / 250)).
- Antineoplastics are found by generic name (the ATC L01 drugs the demo contains) and
  written under a local ATC L01 concept, as an ETL through RxNorm would place them.
- Dates are MIMIC's shifted dates; the date part of charttime is used. Death (dod) ends
  follow-up.

The demo has no TPO-RA and no tretinoin, so ctit's treated cohort is empty and the
comparator's screening stops at `no_qualifying_tpo_ra`: the chemotherapy episodes of
patients 40310 and 10102 are found up to that step (their counts and transfusions are read).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

PLATELET_ML_PER_UNIT = 250.0
LABS = {51265: (3024929, 8848, "Platelets [#/volume] in Blood by Automated count", "777-3"),
        50861: (3006923, 8645, "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "1742-6"),
        50878: (3013721, 8645, "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "1920-8"),
        50885: (3024128, 8840, "Bilirubin.total [Mass/volume] in Serum or Plasma", "1975-2")}
ANTINEOPLASTICS = ("cyclophosphamide", "doxorubicin", "vincristine", "methotrexate", "cytarabine", "etoposide",
                   "rituximab", "hydroxyurea", "carboplatin", "paclitaxel", "docetaxel", "cisplatin")
LOCAL = 2_000_000_000
PLATELET_TRANSFUSION = (LOCAL + 1, "SNOMED", "12719002", "Transfusion of platelets")
ATC_L01 = (LOCAL + 2, "ATC", "L01", "ANTINEOPLASTIC AGENTS")


def _day(text: pd.Series) -> pd.Series:
    return text.astype(str).str[:10]


def main(src: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    pts = pd.read_csv(src / "patients.csv")
    person = pd.DataFrame({
        "person_id": pts.subject_id,
        "gender_concept_id": pts.gender.map({"M": 8507, "F": 8532}).fillna(0).astype(int),
        "year_of_birth": pts.dob.str[:4].astype(int), "month_of_birth": pts.dob.str[5:7].astype(int),
        "day_of_birth": pts.dob.str[8:10].astype(int), "person_source_value": pts.subject_id.astype(str)})
    death = pts[pts.dod.notna()][["subject_id", "dod"]].rename(columns={"subject_id": "person_id"})
    death = death.assign(death_date=_day(death.dod)).drop(columns="dod")

    lab = pd.read_csv(src / "labevents.csv", usecols=["row_id", "subject_id", "itemid", "charttime", "value",
                                                      "valuenum", "valueuom"])
    lab = lab[lab.itemid.isin(list(LABS))].copy()
    censored = lab.valuenum.isna() & lab.value.astype(str).str.match(r"^\s*<\s*\d")
    lab.loc[censored, "valuenum"] = lab.loc[censored, "value"].str.extract(r"(\d+\.?\d*)")[0].astype(float)
    lab = lab[lab.valuenum.notna()]
    measurement = pd.DataFrame({
        "measurement_id": lab.row_id, "person_id": lab.subject_id,
        "measurement_concept_id": lab.itemid.map(lambda i: LABS[i][0]),
        "measurement_date": _day(lab.charttime), "value_as_number": lab.valuenum,
        "unit_concept_id": lab.itemid.map(lambda i: LABS[i][1]), "unit_source_value": lab.valueuom,
        "value_source_value": lab.value})

    rx = pd.read_csv(src / "prescriptions.csv", usecols=["row_id", "subject_id", "startdate", "enddate", "drug",
                                                         "drug_name_generic", "dose_val_rx", "dose_unit_rx"])
    name = rx.drug.fillna("").str.lower()
    generic = pd.Series(pd.NA, index=rx.index, dtype="object")
    for g in ANTINEOPLASTICS:
        generic = generic.mask(generic.isna() & name.str.contains(g, regex=False), g)
    rx = rx.assign(generic=generic)[generic.notna()]
    drug_ids = {g: LOCAL + 10 + i for i, g in enumerate(ANTINEOPLASTICS)}
    drug_exposure = pd.DataFrame({
        "drug_exposure_id": rx.row_id, "person_id": rx.subject_id,
        "drug_concept_id": rx.generic.map(drug_ids), "drug_exposure_start_date": _day(rx.startdate),
        "drug_exposure_end_date": _day(rx.enddate.fillna(rx.startdate)), "drug_type_concept_id": 38000177,
        "drug_source_value": rx.drug})

    cv = pd.read_csv(src / "inputevents_cv_platelets.csv")
    mv = pd.read_csv(src / "inputevents_mv_platelets.csv")
    mv = mv[~mv.statusdescription.isin(["Rewritten", "Cancelled"])]
    tr = pd.concat([
        pd.DataFrame({"person_id": cv.subject_id, "date": _day(cv.charttime), "ml": cv.amount}),
        pd.DataFrame({"person_id": mv.subject_id, "date": _day(mv.starttime), "ml": mv.amount})])
    procedure = pd.DataFrame({
        "procedure_occurrence_id": range(1, len(tr) + 1), "person_id": tr.person_id.to_numpy(),
        "procedure_concept_id": PLATELET_TRANSFUSION[0], "procedure_date": tr.date.to_numpy(),
        "procedure_type_concept_id": 38000275,
        "quantity": (tr.ml / PLATELET_ML_PER_UNIT).round().clip(lower=1).to_numpy(),
        "procedure_source_value": "platelets " + tr.ml.astype(str).to_numpy() + " mL"})

    concepts = [(cid, name, "Measurement", "LOINC", "Lab Test", code) for cid, _, name, code in LABS.values()]
    concepts += [(PLATELET_TRANSFUSION[0], PLATELET_TRANSFUSION[3], "Procedure", "SNOMED", "Procedure", "12719002"),
                 (ATC_L01[0], ATC_L01[3], "Drug", "ATC", "ATC 2nd", "L01")]
    concepts += [(cid, g, "Drug", "RxNorm", "Ingredient", "local:" + g) for g, cid in drug_ids.items()]
    concept = pd.DataFrame(concepts, columns=["concept_id", "concept_name", "domain_id", "vocabulary_id",
                                              "concept_class_id", "concept_code"])
    ancestor = pd.DataFrame({"ancestor_concept_id": [ATC_L01[0]] * len(drug_ids),
                             "descendant_concept_id": list(drug_ids.values())})
    for table, df in {"person": person, "death": death, "measurement": measurement,
                      "drug_exposure": drug_exposure, "procedure_occurrence": procedure,
                      "concept": concept, "concept_ancestor": ancestor}.items():
        df.to_csv(out / f"{table.upper()}.csv", index=False)
    print(f"{len(person)} persons, {len(measurement)} measurements ({int(censored.sum())} censored), "
          f"{len(drug_exposure)} antineoplastic orders, {len(procedure)} platelet transfusions -> {out}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: mimic_to_omop.py MIMIC_DEMO_FOLDER OUT_FOLDER")
    main(Path(sys.argv[1]), Path(sys.argv[2]))
