"""Subject-level facts both SDTM DM and ADaM ADSL write: identifiers, site and demography
as the input gives them, the arm, and death (docs/cdisc.md, "Subjects").

- STUDYID: the input's own (SDTM DM STUDYID, kept by the reader as `study_id`), else the
  `--study-id` option.
- USUBJID (SDTM IG 3.4 DM: unique within the submission): a study read from SDTM already
  keys subjects by USUBJID, which is kept; otherwise STUDYID + "-" + patient_id, so "P01"
  of study CTIT is "CTIT-P01" in every dataset written. SUBJID: the input's (DM SUBJID), else
  patient_id.
- SITEID, RACE, ETHNIC, COUNTRY: the patients table's optional columns `site_id`, `race`,
  `ethnicity`, `country` (an SDTM reader keeps DM's); null when the input has none: never
  invented.
- Arm (`knowledge/sdtm_trial_design.yaml`): the input's DM ARMCD/ARM/ACTARMCD/ACTARM when
  given; else, in this single-arm study, the protocol's arm for a subject with a study-drug
  exposure, null with ARMNRS for a subject without.
- Death: the input's death date (DM DTHDTC, or a `death_date` column), else the end (else
  the start) of a grade-5 adverse event (CTCAE grade 5 = death related to the event).
"""

from __future__ import annotations

import datetime as dt
import math
from functools import cache
from typing import Any

import pandas as pd
import yaml

from ctit import knowledge
from ctit.cdisc.dates import DtcError, parse_dtc
from ctit.protocol import Protocol
from ctit.study import Study

# Optional patients columns (contract extras, or DM variables the SDTM reader keeps).
GIVEN = {"SITEID": "site_id", "RACE": "race", "ETHNIC": "ethnicity", "COUNTRY": "country",
         "ARMCD": "arm_code", "ARM": "arm", "ACTARMCD": "actual_arm_code", "ACTARM": "actual_arm",
         "ARMNRS": "arm_null_reason"}


@cache
def trial_design() -> dict[str, Any]:
    with knowledge.path("sdtm_trial_design.yaml").open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def number_text(x: Any) -> str:
    """A number as text without spurious decimals: 9 -> '9', 9.5 -> '9.5'."""
    f = float(x)
    if math.isfinite(f) and f.is_integer() and abs(f) < 2**53:
        return str(int(f))
    return repr(f)


def fill(template: str, protocol: Protocol, **facts: Any) -> str:
    """A design text with {name} replaced by the protocol parameter or fact of that name."""
    values: dict[str, Any] = {f: getattr(protocol, f) for f in protocol.__dataclass_fields__}
    values.update(facts)
    shown = {k: (number_text(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
             for k, v in values.items()}
    return str(template).format_map(shown)


def _column(study: Study, name: str) -> pd.Series:
    p = study.patients
    if name in p.columns:
        s = p[name].astype("string").str.strip()
        return s.mask(s == "").set_axis(p.index)
    return pd.Series(pd.NA, index=p.index, dtype="string")


def from_sdtm(study: Study) -> bool:
    """Whether the study was read from SDTM (its subject keys are then USUBJIDs)."""
    return "sdtm_domain" in study.patients.columns


def study_id_of(study: Study, default: str) -> str:
    given = _column(study, "study_id").dropna()
    return str(given.iloc[0]) if len(given) else default


def usubjid_map(study: Study, study_id: str) -> dict[str, str]:
    """patient_id -> USUBJID (module docstring)."""
    sid = study_id_of(study, study_id)
    pids = study.patients.patient_id.astype(str)
    if from_sdtm(study):
        return {p: p for p in pids}
    return {p: f"{sid}-{p}" for p in pids}


def _death_dates(study: Study, anchor: dict[str, dt.date]) -> dict[str, dt.date]:
    out: dict[str, dt.date] = {}
    for pid, text in zip(study.patients.patient_id.astype(str), _column(study, "death_date")):
        if pd.notna(text):
            try:
                date = parse_dtc(str(text)).impute("first")
            except DtcError:
                date = None
            if date is not None:
                out[pid] = date
    ae = study.adverse_events
    fatal = ae[ae.grade.astype("Float64").eq(5).fillna(False).astype(bool)]
    for pid, start, end in zip(fatal.patient_id.astype(str), fatal.start_day, fatal.end_day):
        day = end if pd.notna(end) else start
        if pid not in out and pd.notna(day) and pid in anchor:
            out[pid] = anchor[pid] + dt.timedelta(days=int(day))
    return out


def subjects(study: Study, protocol: Protocol, anchor: dict[str, dt.date], study_id: str) -> pd.DataFrame:
    """One row per patient: STUDYID, USUBJID, SUBJID, SITEID, RACE, ETHNIC, COUNTRY, ARMCD, ARM,
    ACTARMCD, ACTARM, ARMNRS, DTHDT (date), DTHFL; indexed like `study.patients`."""
    p = study.patients
    pid = p.patient_id.astype(str)
    sid = study_id_of(study, study_id)
    ids = usubjid_map(study, study_id)
    subjid = _column(study, "subject_id").fillna(pid.astype("string"))
    out = pd.DataFrame({"patient_id": pid, "STUDYID": sid, "USUBJID": pid.map(ids), "SUBJID": subjid},
                       index=p.index)
    for var, col in GIVEN.items():
        out[var] = _column(study, col)
    design = trial_design()["arm"]
    treated = set(study.exposures.loc[study.exposures.role == "study_drug", "patient_id"].astype(str))
    has = pid.isin(treated)
    own_arm = out[["ARMCD", "ARM", "ACTARMCD", "ACTARM", "ARMNRS"]].notna().any(axis=1)
    planned = {"ARMCD": design["code"], "ARM": fill(design["name"], protocol)}
    for var, value in (*planned.items(), ("ACTARMCD", planned["ARMCD"]), ("ACTARM", planned["ARM"])):
        out[var] = out[var].mask(~own_arm & has, value)
    out["ARMNRS"] = out["ARMNRS"].mask(~own_arm & ~has, design["null_reason"])
    deaths = _death_dates(study, anchor)
    out["DTHDT"] = pd.Series([pd.Timestamp(deaths[x]) if x in deaths else pd.NaT for x in pid],
                             index=p.index, dtype="datetime64[ns]")
    given_flag = _column(study, "death_flag").str.upper()
    out["DTHFL"] = given_flag.where(given_flag == "Y").mask(out.DTHDT.notna(), "Y").astype("object")
    out["DTHFL"] = out["DTHFL"].where(out["DTHFL"].notna(), None)
    return out
