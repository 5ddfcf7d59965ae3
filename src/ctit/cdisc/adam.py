"""Analysis results -> ADaM datasets ADSL, ADLB, ADRS, ADTTE (ADaM IG 1.3, BDS and ADSL).

Every value comes from `ctit.results.analyze_study` (the engine); nothing is re-derived here.
Record flags are the engine's record-level decisions on `derivations.graded_labs` (ABLFL
`baseline_record`, ONTRTFL `on_treatment`, AVISIT `landmark_d{L}`); response categories are
the engine's categories table. Grades in ADLB are the engine's, never regraded. Variable
labels, types and derivations in words are data: `knowledge/adam_variables.csv`
(`ctit.cdisc.metadata`).

Dates: each subject's day 0 is the date the SDTM writer uses (`sdtm_writer.anchors`:
`patients.index_date`, else the input's dates, else `--index-date`). ADY is the CDISC study
day (no day 0); PRTDY the protocol day (day 0 = first study-drug dose, protocol section 1).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from ctit import knowledge
from ctit.cdisc.dates import day_dates, study_days
from ctit.cdisc.mapping import load_mapping
from ctit.cdisc.sdtm_writer import DEFAULT_INDEX_DATE, anchors, reference_range_indicator
from ctit.cdisc.subjects import subjects
from ctit.engine.response import onset_column
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


def _yn(mask: pd.Series) -> pd.Series:
    return pd.Series("Y", index=mask.index, dtype="object").where(mask.fillna(False).astype(bool), None)


def run(study: Study, protocol: Protocol, con: Any = None) -> StudyResults:
    """The analysis, with a row id on every lab row so ADLB can pivot the graded terms."""
    labs = study.labs.assign(**{ROW_ID: range(len(study.labs))})
    return analyze_study(dataclasses.replace(study, labs=labs), protocol, con)


def _yn_flag(values: pd.Series) -> pd.Series:
    return pd.Series("Y", index=values.index, dtype="object").where(values.fillna(False).astype(bool), "N")


def adsl(r: StudyResults, anchor: dict[str, dt.date], study_id: str) -> pd.DataFrame:
    """ADSL: one row per screened subject (ADaM IG 1.3 section 3.2), variables in the order
    of admiral's ADSL template where they exist, then the study's own."""
    p = r.patients
    pid = p.patient_id.astype(str)
    subj = subjects(r.study, r.protocol, anchor, study_id).set_index("patient_id").loc[pid].reset_index(drop=True)
    subj.index = p.index
    trtsdt = day_dates(anchor, pid, p.first_drug_day)
    out = pd.DataFrame({
        "STUDYID": subj.STUDYID, "USUBJID": subj.USUBJID, "SUBJID": subj.SUBJID, "SITEID": subj.SITEID,
        "AGE": p.age_years,
        "AGEU": pd.Series("YEARS", index=p.index, dtype="object").where(p.age_years.notna(), None),
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
    out["TRTSTMF"] = pd.Series("H", index=p.index, dtype="object").where(trtsdt.notna(), None)
    out["TRTEDT"] = day_dates(anchor, pid, p.last_drug_day)
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


def _record_flags(labs: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """ABLFL and ONTRTFL masks: the engine's `baseline_record` (section 3 for platelets,
    section 9 for the other tests) and `on_treatment` (section 9) decisions, as recorded."""
    return (labs.baseline_record.fillna(False).astype(bool),
            labs.on_treatment.fillna(False).astype(bool))


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
    landmark "Day d" (the engine's `landmark_d{d}` record, protocol 7; of two landmarks on one
    record, the first); other records belong to no analysis visit (null)."""
    days = list(r.protocol.landmark_days)
    marks = [labs[f"landmark_d{d}"].fillna(False).astype(bool).to_numpy() for d in days]
    conditions = [ablfl.to_numpy(), *marks]
    avisit = pd.Series(np.select(conditions, ["Baseline", *[f"Day {d}" for d in days]], default=None),
                       index=labs.index, dtype="object")
    avisitn = pd.Series(np.select(conditions, [0, *days], default=-1), index=labs.index).astype("Int64")
    return avisit, avisitn.mask(avisitn.eq(-1))


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
    ablfl, ontrt = _record_flags(labs)
    # Each record beside its subject's ABLFL record of the same test (one per patient and test).
    base_rows = (labs.loc[ablfl, ["patient_id", "test", "value", "lln_applied", "uln_applied", ROW_ID]]
                 .sort_values(ROW_ID).drop_duplicates(["patient_id", "test"])
                 .rename(columns={"value": "_base_value", "lln_applied": "_base_lo",
                                  "uln_applied": "_base_hi", ROW_ID: "_base_id"}))
    at_base = labs[["patient_id", "test"]].merge(base_rows, on=["patient_id", "test"], how="left",
                                                  validate="many_to_one").set_axis(labs.index)
    # BASE: platelets the protocol baseline (section 3, the ABLFL record); other tests the
    # engine's grading baseline (section 9) exactly as it was graded with.
    base = at_base._base_value.astype("Float64").where(labs.test == "PLT", labs.baseline_value.astype("Float64"))
    # Reference ranges: the limits the engine graded with (`lln_applied` / `uln_applied`: the
    # row's own, else the protocol default), so ANRIND agrees with ATOXGRL/ATOXGRH.
    lo = labs.lln_applied.astype("Float64")
    hi = labs.uln_applied.astype("Float64")
    anrind = reference_range_indicator(labs.value.astype("Float64").where(labs.unit.notna()), lo, hi)
    # BNRIND: BASE against the applied limits of the ABLFL record; without one (a baseline
    # given as a column), against the row's own applied limits.
    has_base_record = at_base._base_id.notna()
    bnrind = reference_range_indicator(base, at_base._base_lo.astype("Float64").where(has_base_record, lo),
                    at_base._base_hi.astype("Float64").where(has_base_record, hi))

    def term(direction: str, column: str) -> pd.Series:
        s = by_dir[direction][column]
        return labs[ROW_ID].map(s[~s.index.duplicated()])

    grade_l, grade_h = term("L", "grade"), term("H", "grade")
    base_id = at_base._base_id
    # ANL01FL: the engine's row accounting. A record is analysed unless the engine lists its
    # input row as unused (`derivations.unused_rows`, canonical table "labs", with the reason).
    unused = r.derivations.unused_rows
    unused_labs = set(unused.loc[unused.canonical_table == "labs", "source_row"].astype(int))
    anl = ~labs.source_row.astype("Int64").isin(unused_labs).fillna(False).astype(bool)
    seq = labs["sdtm_seq"] if "sdtm_seq" in labs.columns else pd.Series(pd.NA, index=labs.index)
    seq = pd.to_numeric(seq, errors="coerce")
    fallback = labs.sort_values(["patient_id", "day", "source_row"]).groupby("patient_id").cumcount() + 1
    seq = seq.fillna(fallback.reindex(labs.index)).astype("Int64")
    # Parameters are per test: each distinct test's code, label and number, mapped on.
    order = list(codes)
    present = labs.test.dropna().unique()
    paramcd = {t: codes.get(t, [t])[0] for t in present}
    param = {t: f"{codes.get(t, [t, t])[1]} ({tests[t].canonical_unit if t in tests else None})" for t in present}
    paramn = {t: order.index(t) + 1 if t in order else len(order) + 1 for t in present}
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
        "PARAMCD": labs.test.map(paramcd), "PARAM": labs.test.map(param),
        "PARAMN": labs.test.map(paramn).fillna(len(order) + 1).astype(int),
        "PARCAT1": labs.test.map(mapping["lab_categories"]),
        "AVAL": aval, "AVALU": labs.unit,
        "ADT": day_dates(anchor, labs.patient_id, labs.day), "ADY": study_days(labs.day), "PRTDY": labs.day,
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


def response_categories(r: StudyResults) -> pd.DataFrame:
    """The engine's best-response categories table in its order (order, code, label,
    counts_as_response, is_rule): each response rule, then NR and NE (protocol 6)."""
    return r.derivations.categories.sort_values("order").reset_index(drop=True)


def adrs(r: StudyResults, anchor: dict[str, dt.date], adsl_: pd.DataFrame) -> pd.DataFrame:
    """ADRS: per subject the best overall response (BOR, every screened subject) and, for
    included subjects, whether each protocol response rule found a sustained window
    ({CODE}SUST, e.g. CRSUST: Y/N at the onset day; protocol sections 5-6). BOR's AVAL is the
    category's position in the engine's categories table; a subject without assessment
    (excluded) has AVALC MISSING, numbered last, as admiralonco's `no_data_missing` event.
    ADT: the onset of a response; for NR/NE the last platelet count the response was assessed
    on (days [1, followup_end_day])."""
    p = r.patients
    pid = p.patient_id.astype(str)
    ids, sid = adsl_.USUBJID.set_axis(p.index), adsl_.STUDYID.set_axis(p.index)
    cats = response_categories(r)
    number = {str(c): float(i + 1) for i, c in enumerate([*cats.code, NO_ASSESSMENT])}
    avalc = p.best_response.astype("object").where(p.best_response.notna(), NO_ASSESSMENT)
    day = p.response_onset_day.astype("Float64").fillna(
        p.last_count_day.astype("Float64").where(p.included.astype(bool))).astype("Int64")
    rows = [pd.DataFrame({
        "STUDYID": sid, "USUBJID": ids, "PARAMCD": "BOR",
        "PARAM": "Best overall platelet response (protocol 6)", "PARAMN": 1,
        "AVAL": avalc.astype(str).map(number).astype("Float64"),
        "AVALC": avalc,
        "PRTDY": day, "ADY": study_days(day), "ADT": day_dates(anchor, pid, day),
        "CNFDY": pd.Series(pd.NA, index=p.index, dtype="Int64"),
        "ELIGFL": _yn_flag(p.included.astype("boolean"))})]
    inc = p[p.included.astype(bool)]
    ipid = inc.patient_id.astype(str)
    on = r.derivations.onsets
    for n, (code, label) in enumerate(zip(cats.code[cats.is_rule.astype(bool)],
                                          cats.label[cats.is_rule.astype(bool)]), 2):
        code = str(code)
        # The onset is the engine's per-category onset column; the confirming count, its onsets table.
        onset = inc[onset_column(code)].astype("Int64")
        confirmed = on[on.category == code].set_index("patient_id").confirmed_day
        rows.append(pd.DataFrame({
            "STUDYID": sid.loc[inc.index], "USUBJID": ids.loc[inc.index],
            "PARAMCD": f"{code[:2].upper()}SUST",
            "PARAM": f"Sustained {code} window found (protocol 5-6): {label}", "PARAMN": n,
            "AVAL": pd.Series(pd.NA, index=inc.index, dtype="Float64"),
            "AVALC": _yn_flag(onset.notna()), "PRTDY": onset, "ADY": study_days(onset),
            "ADT": day_dates(anchor, ipid, onset), "CNFDY": inc.patient_id.map(confirmed),
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
    src = (pd.DataFrame({"USUBJID": ids, "PRTDY": days})
           .merge(first_seq.reset_index().astype({"PRTDY": "Int64"}), on=["USUBJID", "PRTDY"], how="left")
           .LBSEQ.astype("Int64").set_axis(inc.index))
    end = r.protocol.followup_end_day
    text = pd.Series(np.full(len(inc), None, dtype=object), index=inc.index)
    return pd.DataFrame({
        "STUDYID": adsl_.STUDYID.set_axis(p.index)[keep], "USUBJID": ids, "PARAMCD": "TTCR",
        "PARAM": "Time to complete response (days)", "PARAMN": 1,
        "AVAL": (days + (1 if add_one else 0)).astype("Float64"),
        "CNSR": (~event).astype(int),
        "STARTDT": day_dates(anchor, pid, pd.Series(0, index=inc.index)),
        "ADT": day_dates(anchor, pid, days),
        "EVNTDESC": text.mask(event, "Sustained complete response (protocol 5-6), onset").where(
            event, f"No sustained complete response by day {end}: censored"),
        "CNSDTDSC": text.mask(~event, f"Last platelet count in days 1-{end}"),
        "SRCDOM": "LB", "SRCVAR": "LBDTC", "SRCSEQ": src,
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
