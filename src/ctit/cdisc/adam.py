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
from ctit.cdisc.subjects import subjects
from ctit.protocol import Protocol
from ctit.results import StudyResults, analyze_study
from ctit.study import Study

ROW_ID = "adam_lab_row"

# Population flags (ADaM IG 1.3 section 3.1.4: Y/N): each the engine's column it states. The
# protocol defines one analysed population, the included patients: the efficacy denominator
# (section 6, ORR = responders / included) and the safety population (section 9).
POPULATIONS = {"SAFFL": "included", "ITTFL": "included", "FASFL": "included", "ELIGFL": "included"}
# BOR value of a subject with no response assessment (excluded, protocol 4): admiralonco's.
NO_ASSESSMENT = "MISSING"


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


def _yn_flag(values: pd.Series) -> list[str]:
    return ["Y" if bool(x) else "N" for x in values.fillna(False)]


def adsl(r: StudyResults, anchor: dict[str, dt.date], study_id: str) -> pd.DataFrame:
    """ADSL: one row per screened subject (ADaM IG 1.3 section 3.2), variables in the order
    of admiral's ADSL template where they exist, then the study's own."""
    p = r.patients
    pid = p.patient_id.astype(str)
    subj = subjects(r.study, r.protocol, anchor, study_id).set_index("patient_id").loc[pid].reset_index(drop=True)
    subj.index = p.index
    trtsdt = _date(anchor, pid, p.first_drug_day)
    out = pd.DataFrame({
        "STUDYID": subj.STUDYID, "USUBJID": subj.USUBJID, "SUBJID": subj.SUBJID, "SITEID": subj.SITEID,
        "AGE": p.age_years, "AGEU": ["YEARS" if pd.notna(a) else None for a in p.age_years],
        "SEX": p.sex, "RACE": subj.RACE})
    # Permissible demography only when the input holds it (ADaM IG: never an empty Perm column).
    for var in ("ETHNIC", "COUNTRY"):
        if subj[var].notna().any():
            out[var] = subj[var]
    for var in ("ARMCD", "ARM", "ACTARMCD", "ACTARM"):
        out[var] = subj[var]
    out["TRT01P"], out["TRT01A"] = subj.ARM, subj.ACTARM
    out["TRTSDT"] = trtsdt
    # Dates carry no time (protocol 11): TRTSDTM is TRTSDT at 00:00:00, imputed hours flagged
    # as admiral's derive_vars_dtm(time_imputation = "first") does (TRTSTMF = "H").
    out["TRTSDTM"] = trtsdt
    out["TRTSTMF"] = ["H" if pd.notna(d) else None for d in trtsdt]
    out["TRTEDT"] = _date(anchor, pid, p.last_drug_day)
    out["TRTDURD"] = p.treatment_days
    out["SCRNFL"] = "Y"
    for flag, column in POPULATIONS.items():
        out[flag] = _yn_flag(p[column].astype("boolean"))
    if "end_of_study_status" in r.study.patients.columns:
        out["EOSSTT"] = p.patient_id.map(r.study.patients.set_index("patient_id").end_of_study_status)
    out["DTHFL"], out["DTHDT"] = subj.DTHFL, subj.DTHDT
    out = out.assign(
        TUMTYPE=p.tumor_type, HEIGHTBL=p.height_cm, WEIGHTBL=p.weight_kg, BSABL=p.bsa_m2,
        PRTHPLT=p.pre_therapy_platelets,
        EXCLRS1=p.first_exclusion_reason, EXCLRSN=p.exclusion_reasons,
        TPORADUR=p.prior_tpo_ra_days, TPORAAGT=p.prior_tpo_ra_agents,
        BASEPLT=p.baseline_plt, BASEGR=p.baseline_grade, NADIRPLT=p.nadir_plt,
        NADIRGR=p.nadir_grade, NADIRDY=p.nadir_day, CRTHR=p.cr_threshold,
        BOR=p.best_response, BORDY=p.response_onset_day, TTCR=p.time_to_cr)
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


def _record_flags(labs: pd.DataFrame, r: StudyResults) -> tuple[pd.Series, pd.Series]:
    """ABLFL and ONTRTFL masks, from the engine's current columns. The one place these two
    record flags are set: when the engine's graded labs carry `baseline_record` and
    `on_treatment`, these lines become those columns."""
    ablfl = _baseline_flags(labs, r.patients)
    teae_end = labs.patient_id.map(r.patients.set_index("patient_id").teae_end_day).astype("Float64")
    ontrt = (labs.day.astype("Float64").ge(1) & labs.day.astype("Float64").le(teae_end)).fillna(False)
    return ablfl, ontrt.astype(bool)


def combined_grade(low: pd.Series, high: pd.Series, low_term: pd.Series, high_term: pd.Series) -> pd.Series:
    """ATOXGR from the directional grades as admiral's `derive_var_atoxgr`: a low grade > 0 is
    negative, a high grade > 0 positive, 0 when both are 0 or one is 0 and the other direction
    has no CTCAE term; otherwise null."""
    lo, hi = low.astype("Float64"), high.astype("Float64")
    out = pd.Series(pd.NA, index=low.index, dtype="Float64")
    zero = (lo.eq(0) & hi.eq(0)) | (low_term.isna() & hi.eq(0)) | (high_term.isna() & lo.eq(0))
    out = out.mask(zero.fillna(False).astype(bool), 0.0)
    out = out.mask(hi.gt(0).fillna(False).astype(bool), hi)
    out = out.mask(lo.gt(0).fillna(False).astype(bool), -lo)
    return out


def _visits(labs: pd.DataFrame, ablfl: pd.Series, r: StudyResults) -> tuple[pd.Series, pd.Series]:
    """AVISIT/AVISITN: the protocol's analysis visits: Baseline (the ABLFL record, 0) and each
    landmark "Day d" (the platelet record the engine chose for landmark d, protocol 7); other
    records belong to no analysis visit (null)."""
    avisit = pd.Series([None] * len(labs), index=labs.index, dtype="object")
    avisitn = pd.Series(pd.NA, index=labs.index, dtype="Int64")
    avisit[ablfl] = "Baseline"
    avisitn[ablfl] = 0
    lm = r.derivations.landmarks.dropna(subset=["landmark_count_day"])
    plt = labs[(labs.test == "PLT") & labs.unit.notna()]
    key = pd.DataFrame({"patient_id": plt.patient_id.astype(str), "day": plt.day.astype("Float64"),
                        "value": plt.value.astype("Float64"), ROW_ID: plt[ROW_ID]})
    chosen = key.merge(lm.assign(patient_id=lm.patient_id.astype(str),
                                 day=lm.landmark_count_day.astype("Float64"),
                                 value=lm.landmark_plt.astype("Float64")),
                       on=["patient_id", "day", "value"])
    chosen = chosen.sort_values(ROW_ID).drop_duplicates(["patient_id", "landmark_day"])
    where = labs[ROW_ID].map(chosen.set_index(ROW_ID).landmark_day.groupby(level=0).first())
    hit = where.notna()
    avisit[hit] = [f"Day {int(d)}" for d in where[hit]]
    avisitn[hit] = where[hit].astype("Int64")
    return avisit, avisitn


def adlb(r: StudyResults, anchor: dict[str, dt.date], study_id: str,
         mapping: dict[str, Any], adsl_: pd.DataFrame) -> pd.DataFrame:
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
    ablfl, ontrt = _record_flags(labs, r)
    base_rows = labs[ablfl].set_index(["patient_id", "test"])
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
    order = list(codes)
    aval = labs.value.astype("Float64").where(labs.unit.notna())
    chg = labs.value.astype("Float64") - base
    avisit, avisitn = _visits(labs, ablfl, r)
    by_subject = adsl_.set_axis(r.patients.patient_id.astype(str))   # ADSL rows are r.patients'
    ids = by_subject.USUBJID
    pid = labs.patient_id.astype(str)
    btox_l = base_id.map(grade_l.set_axis(labs[ROW_ID]))
    btox_h = base_id.map(grade_h.set_axis(labs[ROW_ID]))
    dscl, dsch = term("L", "term"), term("H", "term")
    out = pd.DataFrame({
        "STUDYID": adsl_.STUDYID.iloc[0] if len(adsl_) else study_id, "USUBJID": pid.map(ids),
        "LBSEQ": seq,
        "TRTP": pid.map(by_subject.TRT01P), "TRTA": pid.map(by_subject.TRT01A),
        "PARAMCD": labs.test.map(lambda t: codes.get(t, [t])[0]),
        "PARAM": [f"{codes.get(t, [t, t])[1]} ({u})" for t, u in zip(labs.test, unit)],
        "PARAMN": [order.index(t) + 1 if t in order else len(order) + 1 for t in labs.test],
        "PARCAT1": labs.test.map(mapping["lab_categories"]),
        "AVAL": aval, "AVALU": labs.unit,
        "ADT": _date(anchor, labs.patient_id, labs.day), "ADY": _ady(labs.day), "PRTDY": labs.day,
        "AVISIT": avisit, "AVISITN": avisitn,
        # No derived records (no LOV/worst-value rows): DTYPE is null on every record.
        "DTYPE": pd.Series([None] * len(labs), index=labs.index, dtype="object"),
        "ABLFL": _yn(ablfl), "BASETYPE": "LAST", "BASE": base, "CHG": chg,
        "PCHG": (100 * chg / base).where(base.ne(0).fillna(False).astype(bool)),
        "ANRLO": lo, "ANRHI": hi,
        "ANRIND": anrind, "BNRIND": bnrind,
        "ATOXDSCL": dscl, "ATOXDSCH": dsch,
        "ATOXGRL": grade_l, "ATOXGRH": grade_h,
        "ATOXGR": combined_grade(grade_l, grade_h, dscl, dsch),
        "BTOXGRL": btox_l, "BTOXGRH": btox_h,
        "BTOXGR": combined_grade(btox_l, btox_h, dscl, dsch),
        "GRRSNL": term("L", "grade_reason"), "GRRSNH": term("H", "grade_reason"),
        "ONTRTFL": _yn(ontrt), "ANL01FL": _yn(anl),
        "SRCDOM": "LB", "SRCVAR": "LBSTRESN", "SRCSEQ": seq,
    })
    out = out.sort_values(["USUBJID", "PARAMN", "PRTDY", "LBSEQ"], kind="stable").reset_index(drop=True)
    out.insert(2, "ASEQ", (out.groupby("USUBJID").cumcount() + 1).astype("Int64"))
    return out


def response_categories(r: StudyResults) -> list[str]:
    """The best-response categories the results count, in their order (CR, PR, NR, NE)."""
    return [k.upper() for k, v in r.response.items() if isinstance(v, dict) and k != "orr"]


def adrs(r: StudyResults, anchor: dict[str, dt.date], adsl_: pd.DataFrame) -> pd.DataFrame:
    """ADRS: per subject the best overall response (BOR, every screened subject) and, for
    included subjects, whether each protocol response rule found a sustained window (CRSUST,
    PRSUST: Y/N at the onset day; protocol sections 5-6). BOR's AVAL numbers the results'
    categories in order; a subject without assessment (excluded) has AVALC MISSING, as
    admiralonco's `no_data_missing` event. ADT: the onset of a response; for NR/NE the last
    platelet count the response was assessed on (days [1, followup_end_day])."""
    p = r.patients
    pid = p.patient_id.astype(str)
    ids, sid = adsl_.USUBJID.set_axis(p.index), adsl_.STUDYID.set_axis(p.index)
    categories = [*response_categories(r), NO_ASSESSMENT]
    avalc = p.best_response.astype("object").where(p.best_response.notna(), NO_ASSESSMENT)
    day = p.response_onset_day.astype("Float64").fillna(
        p.last_count_day.astype("Float64").where(p.included.astype(bool))).astype("Int64")
    rows = [pd.DataFrame({
        "STUDYID": sid, "USUBJID": ids, "PARAMCD": "BOR",
        "PARAM": "Best overall platelet response (protocol 6)", "PARAMN": 1,
        "AVAL": [float(categories.index(c) + 1) if c in categories else None for c in avalc],
        "AVALC": avalc,
        "PRTDY": day, "ADY": _ady(day), "ADT": _date(anchor, pid, day),
        "CNFDY": pd.Series(pd.NA, index=p.index, dtype="Int64"),
        "ELIGFL": ["Y" if bool(x) else "N" for x in p.included]})]
    inc = p[p.included.astype(bool)]
    on = r.derivations.onsets
    for n, rule in enumerate(r.protocol.response_rules, 2):
        o = on[on.category == rule.category].set_index("patient_id")
        onset = inc.patient_id.map(o.onset_day)
        ipid = inc.patient_id.astype(str)
        rows.append(pd.DataFrame({
            "STUDYID": sid.loc[inc.index], "USUBJID": ids.loc[inc.index],
            "PARAMCD": f"{rule.category[:2].upper()}SUST",
            "PARAM": f"Sustained {rule.category} window found (protocol 5-6)", "PARAMN": n,
            "AVAL": pd.Series(pd.NA, index=inc.index, dtype="Float64"),
            "AVALC": ["Y" if pd.notna(x) else "N" for x in onset], "PRTDY": onset, "ADY": _ady(onset),
            "ADT": _date(anchor, ipid, onset), "CNFDY": inc.patient_id.map(o.confirmed_day),
            "ELIGFL": "Y"}))
    columns = list(rows[0].columns)
    # All-null columns of a part are left to the concatenation to fill (pandas' dtype rule).
    out = pd.concat([r_.dropna(axis=1, how="all") for r_ in rows if len(r_)], ignore_index=True)
    out = out.reindex(columns=columns)
    for c in ("PRTDY", "CNFDY", "PARAMN"):
        out[c] = pd.to_numeric(out[c], errors="coerce").astype("Int64")
    out["AVAL"] = pd.to_numeric(out["AVAL"], errors="coerce").astype("Float64")
    out = out.sort_values(["USUBJID", "PARAMN"], kind="stable").reset_index(drop=True)
    out.insert(2, "ASEQ", (out.groupby("USUBJID").cumcount() + 1).astype("Int64"))
    return out


def adtte(r: StudyResults, anchor: dict[str, dt.date], adsl_: pd.DataFrame, adlb_: pd.DataFrame,
          add_one: bool = True) -> pd.DataFrame:
    """ADTTE: time to CR for every included subject (protocol section 8; ADaM BDS TTE).
    ADT = the CR onset (CNSR 0) or the last platelet count in [1, followup end] (CNSR 1);
    AVAL = ADT - STARTDT + 1 (admiral's `derive_vars_duration` default, `add_one = TRUE`), or
    ADT - STARTDT (the protocol's days since day 0) with `add_one=False`. SRCDOM/SRCVAR/SRCSEQ
    point at the platelet record on ADT (LB, LBDTC, LBSEQ)."""
    p = r.patients
    keep = p.included.astype(bool)
    inc = p[keep]
    pid = inc.patient_id.astype(str)
    ids = adsl_.USUBJID.set_axis(p.index)[keep]
    event = inc.km_event.astype(bool)
    days = inc.km_time.astype("Int64")
    plt = adlb_[adlb_.PARAMCD == load_mapping()["lab_codes"]["PLT"][0]]
    first_seq = plt.sort_values("LBSEQ").drop_duplicates(["USUBJID", "PRTDY"]).set_index(["USUBJID", "PRTDY"]).LBSEQ
    src = [first_seq.get((u, int(a))) if pd.notna(a) else None for u, a in zip(ids, days)]
    end = r.protocol.followup_end_day
    return pd.DataFrame({
        "STUDYID": adsl_.STUDYID.set_axis(p.index)[keep], "USUBJID": ids, "PARAMCD": "TTCR",
        "PARAM": "Time to complete response (days)", "PARAMN": 1,
        "AVAL": (days + (1 if add_one else 0)).astype("Float64"),
        "CNSR": [0 if e else 1 for e in event],
        "STARTDT": _date(anchor, pid, pd.Series(0, index=inc.index)),
        "ADT": _date(anchor, pid, days),
        "EVNTDESC": ["Sustained complete response (protocol 5-6), onset" if e else
                     f"No sustained complete response by day {end}: censored" for e in event],
        "CNSDTDSC": [None if e else f"Last platelet count in days 1-{end}" for e in event],
        "SRCDOM": "LB", "SRCVAR": "LBDTC", "SRCSEQ": pd.array(src, dtype="Int64"),
    }).reset_index(drop=True)


def adam_datasets(study: Study, protocol: Protocol, *, study_id: str = "CTIT",
                  index_date: str = DEFAULT_INDEX_DATE, con: Any = None,
                  tte_add_one: bool = True) -> tuple[dict[str, pd.DataFrame], StudyResults]:
    """Run the analysis and build ADSL, ADLB, ADRS and ADTTE."""
    r = run(study, protocol, con)
    anchor, _ = anchors(study, index_date)
    mapping = load_mapping()
    sl = adsl(r, anchor, study_id)
    lb = adlb(r, anchor, study_id, mapping, sl)
    return {"ADSL": sl, "ADLB": lb, "ADRS": adrs(r, anchor, sl),
            "ADTTE": adtte(r, anchor, sl, lb, tte_add_one)}, r
