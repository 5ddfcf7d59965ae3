"""Canonical study -> SDTM domains (DM, SUPPDM, VS, EX, CM, LB, AE, PR, FA) as .xpt and .csv.

The inverse of `ctit.readers.sdtm` under the same mapping (`knowledge/sdtm_mapping.yaml`), so a
team that keeps its data as the contract's spreadsheets can deliver SDTM, and the reader is
tested by a round trip. Rules (SDTM IG 3.4):

- Dates: --DTC = the subject's anchor date + the contract day. The anchor (day 0) is
  `patients.index_date` when given; else, for a subject whose input gave dates, the date of a
  dated record minus its day (the contract reader keeps the `date` columns it read); else
  `index_date` (`--index-date`, default 2024-01-01), stated in `README.txt`. --DY = day + 1
  from day 0 on, the day itself before (no day 0).
- DM: RFSTDTC = the anchor; RFXSTDTC/RFXENDTC = first study-drug start and last study-drug
  end (or start) when the subject has study drug.
- SUPPDM carries tumour type (TUMTYPE) and pre-therapy platelet count (PRTHPLT); VS carries
  height and weight as one record each on day 0.
- EX holds the study drug, CM every other exposure; --CAT states the role, so the reader
  gets it back even for a drug the dictionary does not know.
- LB: LBTESTCD/LBTEST from the mapping's `lab_codes`, LBSTRESN/LBSTRESU/LBSTNRLO/LBSTNRHI in
  the canonical unit, LBORRES/LBORRESU as written.
- PR (PRCAT "TRANSFUSION") for transfusions, FA (FATESTCD WHOBLDGR) for bleeding grades.
- --SEQ numbers the records of a subject within a domain, in day order.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ctit import knowledge
from ctit.cdisc.dates import day_dates, study_days
from ctit.cdisc.domains import write_csv, write_xpt
from ctit.cdisc.mapping import load_mapping
from ctit.cdisc.subjects import fill, number_text, study_id_of, subjects, trial_design, usubjid_map
from ctit.protocol import Protocol, load_protocol
from ctit.study import Study

DEFAULT_INDEX_DATE = "2024-01-01"
DOMAIN_LABELS = {
    "DM": "Demographics", "SUPPDM": "Supplemental Qualifiers for DM", "VS": "Vital Signs",
    "EX": "Exposure", "CM": "Concomitant/Prior Medications", "LB": "Laboratory Test Results",
    "AE": "Adverse Events", "PR": "Procedures", "FA": "Findings About Events or Interventions",
    "TS": "Trial Summary",
}


def variables() -> dict[str, dict[str, tuple[str, str]]]:
    """SDTM variable labels and types by domain (knowledge/sdtm_variables.csv); '*' = every domain."""
    out: dict[str, dict[str, tuple[str, str]]] = {}
    for r in variable_rows():
        out.setdefault(r["domain"], {})[r["variable"]] = (r["label"], r["type"])
    return out


def variable_rows() -> list[dict[str, str]]:
    """Every row of knowledge/sdtm_variables.csv: domain, variable, label, type, core
    (SDTM IG 3.4: Req, Exp, Perm), origin and codelist (define.xml)."""
    with knowledge.path("sdtm_variables.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def spec(domain: str) -> dict[str, dict[str, str]]:
    """The variables of one domain (its own rows over the '*' rows), by name."""
    out: dict[str, dict[str, str]] = {}
    for r in variable_rows():
        if r["domain"] == "*" or r["domain"] == domain:
            out[r["variable"]] = r
    return out


def _with_expected(frame: pd.DataFrame, domain: str) -> pd.DataFrame:
    """Every Req and Exp variable of the domain present (SDTM IG 3.4 section 4.1.5: an
    expected variable is included even when no value is collected, then null), in the
    order of knowledge/sdtm_variables.csv; the writer's other variables after them."""
    rows = [r for r in variable_rows() if r["domain"] in ("*", domain)]
    order = [r["variable"] for r in rows if r["domain"] == "*" and r["variable"] != "DOMAIN" or
             r["domain"] == domain]
    if "DOMAIN" in frame.columns:
        order.insert(1, "DOMAIN")
    need = [r["variable"] for r in rows if r["domain"] == domain and r.get("core") in ("Req", "Exp")]
    out = frame.copy()
    for v in need:
        if v not in out.columns:
            out[v] = None
    known = [v for v in order if v in out.columns]
    if "RDOMAIN" in known:   # SUPP--: STUDYID, RDOMAIN, USUBJID (SDTM IG 3.4 section 8.4)
        known.remove("RDOMAIN")
        known.insert(1, "RDOMAIN")
    return out[known + [c for c in out.columns if c not in known]]


def anchors(study: Study, default: str) -> tuple[dict[str, dt.date], dict[str, str]]:
    """Day-0 date per patient, and where each came from (index_date / input dates / default)."""
    out: dict[str, dt.date] = {}
    how: dict[str, str] = {}
    for pid, idx in zip(study.patients.patient_id, study.patients.index_date):
        if pd.notna(idx):
            out[str(pid)], how[str(pid)] = dt.date.fromisoformat(str(idx)[:10]), "index_date"
    # A subject given with dates: day 0 = a dated record's date minus its day.
    for name, day_col, date_col in (("exposures", "start_day", "start_date"), ("labs", "day", "date"),
                                    ("adverse_events", "start_day", "start_date"),
                                    ("transfusions", "day", "date"), ("bleeding", "day", "date")):
        df = getattr(study, name)
        if date_col not in df.columns:
            continue
        given = df[df[date_col].notna() & df[day_col].notna()]
        for pid, date, day in zip(given.patient_id, given[date_col], given[day_col]):
            if str(pid) not in out:
                out[str(pid)] = dt.date.fromisoformat(str(date)[:10]) - dt.timedelta(days=int(day))
                how[str(pid)] = "input dates"
    base = dt.date.fromisoformat(default)
    for pid in study.patients.patient_id.astype(str):
        if pid not in out:
            out[pid], how[pid] = base, "default"
    return out, how


class _Dates:
    def __init__(self, anchor: dict[str, dt.date]) -> None:
        self.anchor = anchor

    # Lists, as the frames' columns were always built: pandas then infers each column's type.
    def dtc(self, pids: pd.Series, days: pd.Series) -> list[Any]:
        when = day_dates(self.anchor, pids, days)
        return when.dt.strftime("%Y-%m-%d").astype(object).where(when.notna(), None).tolist()

    @staticmethod
    def dy(days: pd.Series) -> list[Any]:
        d = study_days(days)
        return d.astype(object).where(d.notna(), None).tolist()


def _seq(frame: pd.DataFrame, order: list[str]) -> pd.Series:
    ranked = frame.sort_values(["USUBJID", *order], kind="stable")
    seq = ranked.groupby("USUBJID").cumcount() + 1
    return seq.reindex(frame.index)


def _num(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s.astype("object"), errors="coerce").astype("float64")


def _text(values: pd.Series) -> list[Any]:
    """Numbers as SDTM result text (--ORRES, --STRESC, QVAL): 9, not 9.0."""
    return [None if pd.isna(v) else number_text(v) for v in values]


def trial_summary(study: Study, protocol: Protocol, study_id: str,
                  domains: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """TS: the protocol's trial summary parameters (knowledge/sdtm_trial_design.yaml); the
    study's start and end dates are the first and last --DTC of the domains written."""
    dates = sorted({str(v)[:10] for f in domains.values() for c in f.columns if c.endswith("DTC")
                    for v in f[c].dropna()})
    facts = {"n_subjects": len(study.patients),
             "first_date": dates[0] if dates else "", "last_date": dates[-1] if dates else ""}
    rows = [(code, name, fill(value, protocol, **facts)) for code, name, value in trial_design()["trial_summary"]]
    return pd.DataFrame({"STUDYID": study_id, "DOMAIN": "TS", "TSSEQ": 1.0,
                         "TSPARMCD": [r[0] for r in rows], "TSPARM": [r[1] for r in rows],
                         "TSVAL": [r[2] or None for r in rows]})


def sdtm_domains(study: Study, *, study_id: str = "CTIT", index_date: str = DEFAULT_INDEX_DATE,
                 mapping: Path | None = None, protocol: Protocol | None = None,
                 ) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """The SDTM domains of a canonical study (module docstring), and each subject's anchor source."""
    m = load_mapping(mapping)
    protocol = protocol or load_protocol(None)
    anchor, how = anchors(study, index_date)
    ids = usubjid_map(study, study_id)
    study_id = study_id_of(study, study_id)
    d = _Dates(anchor)
    out: dict[str, pd.DataFrame] = {}
    p = study.patients
    ex_all = study.exposures
    sd = ex_all[ex_all.role == "study_drug"]
    first = sd.groupby("patient_id").start_day.min()
    last = sd.assign(e=sd.end_day.fillna(sd.start_day)).groupby("patient_id").e.max()
    pid = p.patient_id.astype(str)
    subj = subjects(study, protocol, anchor, study_id)
    out["DM"] = pd.DataFrame({
        "STUDYID": study_id, "DOMAIN": "DM", "USUBJID": pid.map(ids), "SUBJID": subj.SUBJID,
        "RFSTDTC": [anchor[x].isoformat() for x in pid],
        "RFXSTDTC": d.dtc(pid, pid.map(first)), "RFXENDTC": d.dtc(pid, pid.map(last)),
        "DTHDTC": [None if pd.isna(x) else x.date().isoformat() for x in subj.DTHDT], "DTHFL": subj.DTHFL,
        "SITEID": subj.SITEID,
        "AGE": _num(p.age_years), "AGEU": pd.Series("YEARS", index=p.index, dtype="object").where(p.age_years.notna(), None).tolist(),
        "SEX": p.sex, "RACE": subj.RACE, "ETHNIC": subj.ETHNIC,
        "ARMCD": subj.ARMCD, "ARM": subj.ARM, "ACTARMCD": subj.ACTARMCD, "ACTARM": subj.ACTARM,
        "ARMNRS": subj.ARMNRS, "COUNTRY": subj.COUNTRY,
    })
    qnam = m["patients"]["supplemental"]["qnam"]
    supp = []
    for column, label in (("tumor_type", "Primary Solid Tumor Type"),
                          ("pre_therapy_platelets", "Platelets Before Causal Therapy 10^9/L")):
        given = p[p[column].notna()]
        supp.append(pd.DataFrame({
            "STUDYID": study_id, "RDOMAIN": "DM", "USUBJID": given.patient_id.astype(str), "IDVAR": None,
            "IDVARVAL": None, "QNAM": qnam[column], "QLABEL": label,
            "QVAL": _text(given[column]) if column != "tumor_type" else given[column].astype(str).tolist(),
            "QORIG": "CRF"}))
    out["SUPPDM"] = pd.concat(supp, ignore_index=True)
    vs = []
    vspec = m["patients"]["vitals"]
    for column, code, name, unit in (("height_cm", vspec["height"], "Height", "cm"),
                                     ("weight_kg", vspec["weight"], "Weight", "kg")):
        given = p[p[column].notna()]
        zero = pd.Series(0, index=given.index)
        vs.append(pd.DataFrame({
            "STUDYID": study_id, "DOMAIN": "VS", "USUBJID": given.patient_id.astype(str),
            "VSTESTCD": code, "VSTEST": name, "VSORRES": _text(given[column]),
            "VSORRESU": unit, "VSSTRESC": _text(given[column]),
            "VSSTRESN": _num(given[column]), "VSSTRESU": unit,
            "VSDTC": d.dtc(given.patient_id, zero), "VSDY": d.dy(zero)}))
    out["VS"] = pd.concat(vs, ignore_index=True)
    out["VS"].insert(3, "VSSEQ", _seq(out["VS"], ["VSTESTCD"]))

    cat = m["role_category_out"]
    for dom, rows in (("EX", ex_all[ex_all.role == "study_drug"]), ("CM", ex_all[ex_all.role != "study_drug"])):
        frame = pd.DataFrame({
            "STUDYID": study_id, "DOMAIN": dom, "USUBJID": rows.patient_id.astype(str).to_numpy(),
            f"{dom}TRT": rows.drug.to_numpy(), f"{dom}CAT": rows.role.map(cat).to_numpy(),
            f"{dom}DOSE": _num(rows.dose).to_numpy(), f"{dom}DOSU": rows.dose_unit.to_numpy(),
            f"{dom}STDTC": d.dtc(rows.patient_id, rows.start_day), f"{dom}ENDTC": d.dtc(rows.patient_id, rows.end_day),
            f"{dom}STDY": d.dy(rows.start_day), f"{dom}ENDY": d.dy(rows.end_day),
            "_day": rows.start_day.to_numpy(), "_row": rows.source_row.to_numpy()})
        if dom == "CM":
            frame.insert(4, "CMDECOD", rows.drug_name.to_numpy())
        frame.insert(3, f"{dom}SEQ", _seq(frame, ["_day", "_row"]))
        out[dom] = frame.drop(columns=["_day", "_row"])

    codes = {k: v for k, v in m["lab_codes"].items()}
    labs = study.labs
    cd = labs.test.map(lambda t: codes.get(t, [t, t])[0])
    unit = labs.unit.fillna(labs.unit_as_written)
    same_unit = labs.unit.notna() & labs.unit.eq(labs.unit_as_written).fillna(False).astype(bool)
    lb = pd.DataFrame({
        "STUDYID": study_id, "DOMAIN": "LB", "USUBJID": labs.patient_id.astype(str),
        "LBTESTCD": cd, "LBTEST": labs.test.map(lambda t: codes.get(t, [t, t])[1]),
        "LBCAT": labs.test.map(m["lab_categories"]),
        "LBORRES": _text(labs.value_as_written),
        "LBORRESU": labs.unit_as_written,
        # Limits in the original unit only where it is the standard one (no reconversion).
        "LBORNRLO": _text(labs.lln.where(same_unit)), "LBORNRHI": _text(labs.uln.where(same_unit)),
        "LBSTRESC": _text(labs.value),
        "LBSTRESN": _num(labs.value), "LBSTRESU": unit,
        "LBSTNRLO": _num(labs.lln), "LBSTNRHI": _num(labs.uln),
        "LBNRIND": reference_range_indicator(labs.value, labs.lln, labs.uln),
        "LBDTC": d.dtc(labs.patient_id, labs.day), "LBDY": d.dy(labs.day),
        "_day": labs.day, "_row": labs.source_row})
    lb.insert(3, "LBSEQ", _seq(lb, ["_day", "_row"]))
    lb["LBLOBXFL"] = _last_before_exposure(lb, labs)
    out["LB"] = lb.drop(columns=["_day", "_row"])

    ae = study.adverse_events
    yn = {"yes": "Y", "no": "N"}
    frame = pd.DataFrame({
        "STUDYID": study_id, "DOMAIN": "AE", "USUBJID": ae.patient_id.astype(str),
        "AETERM": ae.term, "AEDECOD": ae.term, "AETOXGR": ae.grade.astype("string"),
        "AESER": ae.serious.map(yn), "AEREL": ae.related.map(yn),
        "AESTDTC": d.dtc(ae.patient_id, ae.start_day), "AEENDTC": d.dtc(ae.patient_id, ae.end_day),
        "AESTDY": d.dy(ae.start_day), "AEENDY": d.dy(ae.end_day),
        "_day": ae.start_day, "_row": ae.source_row})
    frame.insert(3, "AESEQ", _seq(frame, ["_day", "_row"]))
    out["AE"] = frame.drop(columns=["_day", "_row"])

    tr = study.transfusions
    frame = pd.DataFrame({
        "STUDYID": study_id, "DOMAIN": "PR", "USUBJID": tr.patient_id.astype(str),
        "PRTRT": tr["product"].map(m["product_out"]), "PRCAT": "TRANSFUSION",
        "PRDOSE": _num(tr.units), "PRDOSU": pd.Series("UNIT", index=tr.index, dtype="object").where(tr.units.notna(), None).tolist(),
        "PRSTDTC": d.dtc(tr.patient_id, tr.day), "PRSTDY": d.dy(tr.day),
        "_day": tr.day, "_row": tr.source_row})
    frame.insert(3, "PRSEQ", _seq(frame, ["_day", "_row"]))
    out["PR"] = frame.drop(columns=["_day", "_row"])

    bl = study.bleeding
    spec = m["bleeding"]
    frame = pd.DataFrame({
        "STUDYID": study_id, "DOMAIN": "FA", "USUBJID": bl.patient_id.astype(str),
        "FATESTCD": spec["code"], "FATEST": "WHO Bleeding Grade", "FAOBJ": "BLEEDING",
        "FAORRES": bl.who_grade.astype("string"), "FASTRESC": bl.who_grade.astype("string"),
        "FASTRESN": _num(bl.who_grade), "FALOC": bl.site,
        "FADTC": d.dtc(bl.patient_id, bl.day), "FADY": d.dy(bl.day),
        "_day": bl.day, "_row": bl.source_row})
    frame.insert(3, "FASEQ", _seq(frame, ["_day", "_row"]))
    out["FA"] = frame.drop(columns=["_day", "_row"])
    out["TS"] = trial_summary(study, protocol, study_id, out)
    for name, frame in out.items():
        if "USUBJID" in frame.columns and name != "DM":
            frame["USUBJID"] = frame["USUBJID"].map(ids)
        out[name] = _with_expected(frame, name)
    return out, how


def reference_range_indicator(value: pd.Series, lo: pd.Series, hi: pd.Series) -> pd.Series:
    """--NRIND: LOW below `lo`, HIGH above `hi`, else NORMAL; null without a value or without
    any limit."""
    v, lo, hi = value.astype("Float64"), lo.astype("Float64"), hi.astype("Float64")
    known = (v.notna() & (lo.notna() | hi.notna())).to_numpy(dtype=bool)
    low = (v < lo).fillna(False).to_numpy(dtype=bool)
    high = (v > hi).fillna(False).to_numpy(dtype=bool)
    return pd.Series(np.select([~known, low, high], [None, "LOW", "HIGH"], default="NORMAL"),
                     index=value.index, dtype="object")


def _last_before_exposure(lb: pd.DataFrame, labs: pd.DataFrame) -> pd.Series:
    """LBLOBXFL (SDTM IG 3.4): Y on each subject's and test's last result on or before day 0
    (day 0 samples are taken before the first dose: protocol 3 counts them as baseline)."""
    has = lb.LBSTRESN.notna() & labs.day.le(0).fillna(False).astype(bool)
    cand = lb[has].assign(_d=labs.day[has]).sort_values(["USUBJID", "LBTESTCD", "_d", "LBSEQ"])
    last = lb.index.isin(cand.groupby(["USUBJID", "LBTESTCD"]).tail(1).index)
    return pd.Series("Y", index=lb.index, dtype="object").where(last, None)


def write_sdtm(study: Study, out: Path, *, study_id: str = "CTIT", index_date: str = DEFAULT_INDEX_DATE,
               mapping: Path | None = None, formats: tuple[str, ...] = ("xpt", "csv"),
               protocol: Protocol | None = None) -> list[Path]:
    """Write the SDTM domains to `out` (xpt and/or csv, one file per domain) and README.txt."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    domains, how = sdtm_domains(study, study_id=study_id, index_date=index_date, mapping=mapping,
                                protocol=protocol)
    meta = variables()
    written: list[Path] = []
    for name, frame in domains.items():
        spec = {**meta["*"], **meta.get(name, {})}
        labels = {c: spec[c][0] for c in frame.columns if c in spec}
        types = {c: spec[c][1] for c in frame.columns if c in spec}
        if "xpt" in formats:
            path = out / f"{name.lower()}.xpt"
            write_xpt(frame, path, name, DOMAIN_LABELS[name], labels, types)
            written.append(path)
        if "csv" in formats:
            path = out / f"{name.lower()}.csv"
            write_csv(frame, path, types)
            written.append(path)
    if "xpt" in formats:
        from ctit.cdisc.define import write_define

        written.append(write_define(domains, out, standard="SDTM", study_id=str(domains["DM"].STUDYID.iloc[0])
                                    if len(domains["DM"]) else study_id,
                                    study_name=(protocol or load_protocol(None)).title,
                                    dataset_labels=DOMAIN_LABELS))
    counts = pd.Series(how).value_counts()
    readme = out / "README.txt"
    readme.write_text(
        f"SDTM domains written by ctit from: {study.source}\n"
        f"Dates (--DTC) = each subject's day-0 date + the study day of the record.\n"
        f"Day-0 dates: {int(counts.get('index_date', 0))} subject(s) from patients.index_date, "
        f"{int(counts.get('input dates', 0))} from the dates given in the input, "
        f"{int(counts.get('default', 0))} set to the anchor --index-date {index_date} "
        "(their input gave days only).\n"
        "Study days (--DY) follow SDTM: day 0 of the data contract is --DY 1, no --DY 0.\n",
        encoding="utf-8")
    written.append(readme)
    return written
