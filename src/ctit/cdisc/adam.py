"""Analysis results -> ADaM datasets ADSL, ADLB, ADRS, ADTTE (ADaM IG 1.3, BDS and ADSL).

Every value comes from `ctit.results.analyze_study` (the engine); nothing is re-derived here
except flags that locate engine values on records (ABLFL: which record is the baseline,
by the same protocol rule). Grades in ADLB are the engine's (`derivations.graded_labs`),
never regraded. Variable labels, types and derivations in words are data:
`knowledge/adam_variables.csv` (`ctit.cdisc.metadata`).

Dates: each subject's day 0 is the date the SDTM writer uses (`sdtm_writer.anchors`:
`patients.index_date`, else the input's dates, else `--index-date`). ADY is the CDISC study
day (no day 0); PRTDY the protocol day (day 0 = first study-drug dose, protocol section 1).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pandas as pd

from ctit import knowledge
from ctit.cdisc.dates import day_to_study_day
from ctit.cdisc.mapping import load_mapping
from ctit.cdisc.sdtm_writer import DEFAULT_INDEX_DATE, anchors
from ctit.protocol import Protocol
from ctit.results import StudyResults, analyze_study
from ctit.study import Study

ROW_ID = "adam_lab_row"


def _date(anchor: dict[str, dt.date], pids: pd.Series, days: pd.Series) -> pd.Series:
    vals = [None if d is None or pd.isna(d) else pd.Timestamp(anchor[str(p)] + dt.timedelta(days=int(d)))
            for p, d in zip(pids, days)]
    return pd.Series(vals, index=pids.index, dtype="datetime64[ns]")


def _ady(days: pd.Series) -> pd.Series:
    return pd.Series([pd.NA if pd.isna(d) else day_to_study_day(int(d)) for d in days],
                     index=days.index, dtype="Int64")


def _yn(mask: pd.Series) -> pd.Series:
    return pd.Series(["Y" if bool(x) else None for x in mask.fillna(False)], index=mask.index, dtype="object")


def run(study: Study, protocol: Protocol, con: Any = None) -> StudyResults:
    """The analysis, with a row id on every lab row so ADLB can pivot the graded terms."""
    labs = study.labs.assign(**{ROW_ID: range(len(study.labs))})
    return analyze_study(dataclasses.replace(study, labs=labs), protocol, con)


def adsl(r: StudyResults, anchor: dict[str, dt.date], study_id: str) -> pd.DataFrame:
    """ADSL: one row per screened subject (ADaM IG 1.3 section 3.2)."""
    p = r.patients
    pid = p.patient_id.astype(str)
    out = pd.DataFrame({
        "STUDYID": study_id, "USUBJID": pid, "SUBJID": pid, "SEX": p.sex, "AGE": p.age_years,
        "AGEU": ["YEARS" if pd.notna(a) else None for a in p.age_years],
        "TUMTYPE": p.tumor_type, "HEIGHTBL": p.height_cm, "WEIGHTBL": p.weight_kg, "BSABL": p.bsa_m2,
        "PRTHPLT": p.pre_therapy_platelets,
        "TRTSDT": _date(anchor, pid, p.first_drug_day), "TRTEDT": _date(anchor, pid, p.last_drug_day),
        "TRTDURD": p.treatment_days, "SCRNFL": "Y",
        "ELIGFL": ["Y" if bool(x) else "N" for x in p.included],
        "EXCLRS1": p.first_exclusion_reason, "EXCLRSN": p.exclusion_reasons,
        "TPORADUR": p.prior_tpo_ra_days, "TPORAAGT": p.prior_tpo_ra_agents,
        "BASEPLT": p.baseline_plt, "BASEGR": p.baseline_grade, "NADIRPLT": p.nadir_plt,
        "NADIRGR": p.nadir_grade, "NADIRDY": p.nadir_day, "CRTHR": p.cr_threshold,
        "BOR": p.best_response, "BORDY": p.response_onset_day, "TTCR": p.time_to_cr,
    })
    for d in r.protocol.landmark_days:
        out[f"PLTD{d}"] = p[f"plt_d{d}"]
        out[f"CHGD{d}"] = p[f"change_d{d}"]
    out["LIVMAXGR"] = p.liver_max_grade
    out["PDOSE"] = p.planned_daily_dose_mg
    out["RDOSE"] = p.recorded_daily_dose_mg
    return out


def _nrind(value: pd.Series, lo: pd.Series, hi: pd.Series) -> pd.Series:
    """LOW below `lo`, HIGH above `hi`, else NORMAL; null without a value or without any limit."""
    out = pd.Series([None] * len(value), index=value.index, dtype="object")
    known = value.notna() & (lo.notna() | hi.notna())
    out[known] = "NORMAL"
    out[(known & lo.notna() & (value < lo)).fillna(False).astype(bool)] = "LOW"
    out[(known & hi.notna() & (value > hi)).fillna(False).astype(bool)] = "HIGH"
    return out


def _baseline_flags(labs: pd.DataFrame, patients: pd.DataFrame) -> pd.Series:
    """ABLFL: the record the engine took each baseline from: platelets the section-3
    baseline (`baseline_plt_day`, `baseline_plt`), other tests the section-9 grading baseline
    (`baseline_day`, `baseline_value`); of identical records, the first."""
    pts = patients.set_index("patient_id")
    is_plt = labs.test == "PLT"
    day = labs.patient_id.map(pts.baseline_plt_day).astype("Float64").where(
        is_plt, labs.baseline_day.astype("Float64"))
    value = labs.patient_id.map(pts.baseline_plt).astype("Float64").where(
        is_plt, labs.baseline_value.astype("Float64"))
    match = (labs.day.astype("Float64").eq(day) & labs.value.astype("Float64").eq(value)
             & labs.unit.notna()).fillna(False).astype(bool)
    first = labs[match].sort_values(ROW_ID).drop_duplicates(["patient_id", "test"])[ROW_ID]
    return labs[ROW_ID].isin(set(first))


def adlb(r: StudyResults, anchor: dict[str, dt.date], study_id: str,
         mapping: dict[str, Any]) -> pd.DataFrame:
    """ADLB: one row per lab record, the engine's CTCAE grades as ATOXGRL/ATOXGRH (BDS)."""
    g = r.derivations.graded_labs
    first = g.drop_duplicates(ROW_ID).set_index(ROW_ID).sort_index()
    labs = first.reset_index()
    by_dir = {}
    for direction in ("L", "H"):
        part = g[g.direction == direction].set_index(ROW_ID)
        by_dir[direction] = part
    tests = knowledge.lab_tests()
    codes = mapping["lab_codes"]
    ablfl = _baseline_flags(labs, r.patients)
    base_rows = labs[ablfl].set_index(["patient_id", "test"])
    pts = r.patients.set_index("patient_id")
    key = list(zip(labs.patient_id, labs.test))
    plt_base = pd.Series([base_rows.value.get(k) if k in base_rows.index else None for k in key],
                         index=labs.index, dtype="Float64")
    # BASE: platelets the protocol baseline (section 3, the ABLFL record); other tests the
    # engine's grading baseline (section 9) exactly as it was graded with.
    base = plt_base.where(labs.test == "PLT", labs.baseline_value.astype("Float64"))
    # Reference ranges: the limits the engine graded with (`lln_applied` / `uln_applied`: the
    # row's own, else the protocol default), so ANRIND agrees with ATOXGRL/ATOXGRH.
    lo = labs.lln_applied.astype("Float64")
    hi = labs.uln_applied.astype("Float64")
    anrind = _nrind(labs.value.astype("Float64").where(labs.unit.notna()), lo, hi)
    # BNRIND: BASE against the applied limits of the ABLFL record; without one (a baseline
    # given as a column), against the row's own applied limits.
    base_lo = pd.Series([base_rows.lln_applied.get(k) if k in base_rows.index else None for k in key],
                        index=labs.index, dtype="Float64")
    base_hi = pd.Series([base_rows.uln_applied.get(k) if k in base_rows.index else None for k in key],
                        index=labs.index, dtype="Float64")
    has_base_record = pd.Series([k in base_rows.index for k in key], index=labs.index)
    bnrind = _nrind(base, base_lo.where(has_base_record, lo), base_hi.where(has_base_record, hi))

    def term(direction: str, column: str) -> pd.Series:
        s = by_dir[direction][column]
        return labs[ROW_ID].map(s[~s.index.duplicated()])

    grade_l, grade_h = term("L", "grade"), term("H", "grade")
    base_id = pd.Series([base_rows[ROW_ID].get(k) if k in base_rows.index else None for k in key], index=labs.index)
    teae_end = labs.patient_id.map(pts.teae_end_day).astype("Float64")
    ontrt = (labs.day.astype("Float64").ge(1) & labs.day.astype("Float64").le(teae_end)).fillna(False)
    # ANL01FL: the engine's row accounting. A record is analysed unless the engine lists its
    # input row as unused (`derivations.unused_rows`, canonical table "labs", with the reason).
    unused = r.derivations.unused_rows
    unused_labs = set(unused.loc[unused.canonical_table == "labs", "source_row"].astype(int))
    anl = ~labs.source_row.astype("Int64").isin(unused_labs).fillna(False).astype(bool)
    seq = labs["sdtm_seq"] if "sdtm_seq" in labs.columns else pd.Series(pd.NA, index=labs.index)
    seq = pd.to_numeric(seq, errors="coerce")
    fallback = labs.sort_values(["patient_id", "day", "source_row"]).groupby("patient_id").cumcount() + 1
    seq = seq.fillna(fallback.reindex(labs.index)).astype("Int64")
    unit = labs.test.map(lambda t: tests[t].canonical_unit if t in tests else None)
    out = pd.DataFrame({
        "STUDYID": study_id, "USUBJID": labs.patient_id.astype(str),
        "LBSEQ": seq,
        "PARAMCD": labs.test.map(lambda t: codes.get(t, [t])[0]),
        "PARAM": [f"{codes.get(t, [t, t])[1]} ({u})" for t, u in zip(labs.test, unit)],
        "AVAL": labs.value.astype("Float64").where(labs.unit.notna()),
        "AVALU": labs.unit,
        "ADT": _date(anchor, labs.patient_id, labs.day), "ADY": _ady(labs.day), "PRTDY": labs.day,
        "ABLFL": _yn(ablfl), "BASE": base, "CHG": labs.value.astype("Float64") - base,
        "ANRLO": lo, "ANRHI": hi,
        "ANRIND": anrind, "BNRIND": bnrind,
        "ATOXDSCL": term("L", "term"), "ATOXDSCH": term("H", "term"),
        "ATOXGRL": grade_l, "ATOXGRH": grade_h,
        "BTOXGRL": base_id.map(grade_l.set_axis(labs[ROW_ID])),
        "BTOXGRH": base_id.map(grade_h.set_axis(labs[ROW_ID])),
        "GRRSNL": term("L", "grade_reason"), "GRRSNH": term("H", "grade_reason"),
        "ONTRTFL": _yn(ontrt), "ANL01FL": _yn(anl),
        "SRCDOM": "LB", "SRCVAR": "LBSTRESN", "SRCSEQ": seq,
    })
    return out.sort_values(["USUBJID", "PARAMCD", "PRTDY", "LBSEQ"], kind="stable").reset_index(drop=True)


def adrs(r: StudyResults, anchor: dict[str, dt.date], study_id: str) -> pd.DataFrame:
    """ADRS: per subject the best overall response (BOR, every screened subject; empty when
    excluded) and, for included subjects, whether each protocol response rule found a
    sustained window (CRSUST, PRSUST: Y/N at the onset day; protocol sections 5-6)."""
    p = r.patients
    pid = p.patient_id.astype(str)
    rows = [pd.DataFrame({
        "STUDYID": study_id, "USUBJID": pid, "PARAMCD": "BOR",
        "PARAM": "Best overall platelet response (protocol 6)", "AVALC": p.best_response,
        "PRTDY": p.response_onset_day, "ADY": _ady(p.response_onset_day),
        "ADT": _date(anchor, pid, p.response_onset_day),
        "CNFDY": pd.Series(pd.NA, index=p.index, dtype="Int64"),
        "ELIGFL": ["Y" if bool(x) else "N" for x in p.included]})]
    inc = p[p.included.astype(bool)]
    on = r.derivations.onsets
    for rule in r.protocol.response_rules:
        o = on[on.category == rule.category].set_index("patient_id")
        onset = inc.patient_id.map(o.onset_day)
        ipid = inc.patient_id.astype(str)
        rows.append(pd.DataFrame({
            "STUDYID": study_id, "USUBJID": ipid, "PARAMCD": f"{rule.category[:2].upper()}SUST",
            "PARAM": f"Sustained {rule.category} window found (protocol 5-6)",
            "AVALC": ["Y" if pd.notna(x) else "N" for x in onset], "PRTDY": onset, "ADY": _ady(onset),
            "ADT": _date(anchor, ipid, onset), "CNFDY": inc.patient_id.map(o.confirmed_day),
            "ELIGFL": "Y"}))
    out = pd.concat([r_ for r_ in rows if len(r_)], ignore_index=True)
    for c in ("PRTDY", "CNFDY"):
        out[c] = pd.to_numeric(out[c], errors="coerce").astype("Int64")
    return out.sort_values(["USUBJID", "PARAMCD"], kind="stable").reset_index(drop=True)


def adtte(r: StudyResults, anchor: dict[str, dt.date], study_id: str, adlb_: pd.DataFrame) -> pd.DataFrame:
    """ADTTE: time to CR for every included subject (protocol section 8; ADaM BDS TTE).
    AVAL = CR onset day (CNSR 0) or the day of the last platelet count in [1, followup end]
    (CNSR 1); SRCDOM/SRCVAR/SRCSEQ point at that platelet record (LB, LBDTC, LBSEQ)."""
    p = r.patients
    inc = p[p.included.astype(bool)]
    pid = inc.patient_id.astype(str)
    event = inc.km_event.astype(bool)
    aval = inc.km_time.astype("Int64")
    plt = adlb_[adlb_.PARAMCD == load_mapping()["lab_codes"]["PLT"][0]]
    first_seq = plt.sort_values("LBSEQ").drop_duplicates(["USUBJID", "PRTDY"]).set_index(["USUBJID", "PRTDY"]).LBSEQ
    src = [first_seq.get((u, int(a))) if pd.notna(a) else None for u, a in zip(pid, aval)]
    return pd.DataFrame({
        "STUDYID": study_id, "USUBJID": pid, "PARAMCD": "TTCR",
        "PARAM": "Time to complete response (days)", "AVAL": aval.astype("Float64"),
        "CNSR": [0 if e else 1 for e in event],
        "STARTDT": _date(anchor, pid, pd.Series(0, index=inc.index)),
        "ADT": _date(anchor, pid, aval),
        "EVNTDESC": ["Sustained complete response (protocol 5-6), onset" if e else None for e in event],
        "CNSDTDSC": [None if e else f"Last platelet count in days 1-{r.protocol.followup_end_day}" for e in event],
        "SRCDOM": "LB", "SRCVAR": "LBDTC", "SRCSEQ": pd.array(src, dtype="Int64"),
    }).reset_index(drop=True)


def adam_datasets(study: Study, protocol: Protocol, *, study_id: str = "CTIT",
                  index_date: str = DEFAULT_INDEX_DATE, con: Any = None) -> tuple[dict[str, pd.DataFrame], StudyResults]:
    """Run the analysis and build ADSL, ADLB, ADRS and ADTTE."""
    r = run(study, protocol, con)
    anchor, _ = anchors(study, index_date)
    mapping = load_mapping()
    lb = adlb(r, anchor, study_id, mapping)
    return {"ADSL": adsl(r, anchor, study_id), "ADLB": lb, "ADRS": adrs(r, anchor, study_id),
            "ADTTE": adtte(r, anchor, study_id, lb)}, r
