"""Conformance checks of written SDTM and ADaM datasets, each citing the rule it implements.

CDISC's open rules engine needs a CDISC Library key to build its rule cache, which cannot be
had offline, so ctit carries the checks that apply to the datasets it writes. A check reads
what a reviewer's tool reads: the `.xpt` files (names, labels, types, display formats) and
their values. Each finding names the rule, the dataset, the variable and what is wrong.

Rules (SDTMIG v3.4, ADaMIG v1.3, ADaM Structure for Occurrence/TTE, SAS transport v5):

| id | rule |
| --- | --- |
| SD0001 | SDTMIG 3.4 4.1.5: Req variables are present and never null |
| SD0002 | SDTMIG 3.4 4.1.5: Exp variables are present (null allowed) |
| SD0003 | SDTMIG 3.4 4.1.2 (--SEQ): --SEQ is unique per USUBJID within a domain (TSSEQ per TSPARMCD) |
| SD0004 | SDTMIG 3.4 4.4.4: --DY is never 0 (no day 0) |
| SD0005 | SDTMIG 3.4 4.4.2: --DTC is ISO 8601 |
| SD0006 | SDTMIG 3.4 5.2 (DM): one record per subject; every USUBJID of a domain is in DM |
| SD0007 | SDTMIG 3.4 4.5.7 / CT NY: flags (DTHFL, --LOBXFL) are Y or null |
| SD0008 | SDTMIG 3.4 4.1.3 / CT: --TESTCD is <= 8 characters and 1:1 with --TEST |
| TR0001 | SAS transport v5 (FDA): dataset and variable names <= 8, labels <= 40, values <= 200 |
| AD0001 | ADaMIG 1.3 3.2 (ADSL) / 3.3 (BDS), ADaM TTE: required variables are present |
| AD0002 | ADaMIG 1.3 3.2: ADSL has one record per subject; every USUBJID of a dataset is in ADSL |
| AD0003 | ADaMIG 1.3 3.3.9: ASEQ is unique per USUBJID |
| AD0004 | ADaMIG 1.3 3.1.4 (flags): population flags (ADSL *FL) are Y/N, record flags Y or null |
| AD0005 | ADaMIG 1.3 3.1.3 (timing): *DT numeric with a date format, *DTM with a datetime format |
| AD0006 | ADaMIG 1.3 3.3.4: PARAMCD <= 8 characters, starting with a letter, 1:1 with PARAM |
| AD0007 | ADaMIG 1.3 3.3.5 (ADY/--DY): ADY is never 0 |
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ctit.cdisc.dates import DtcError, parse_dtc

RULES = {
    "SD0001": "SDTMIG 3.4 4.1.5: Req variables present and never null",
    "SD0002": "SDTMIG 3.4 4.1.5: Exp variables present",
    "SD0003": "SDTMIG 3.4 4.1.2: --SEQ unique per USUBJID within a domain",
    "SD0004": "SDTMIG 3.4 4.4.4: --DY is never 0",
    "SD0005": "SDTMIG 3.4 4.4.2: --DTC is ISO 8601",
    "SD0006": "SDTMIG 3.4 5.2: DM one record per subject, every USUBJID in DM",
    "SD0007": "SDTMIG 3.4 4.5.7: flags are Y or null",
    "SD0008": "SDTMIG 3.4 4.1.3: --TESTCD <= 8 and 1:1 with --TEST",
    "TR0001": "SAS transport v5: names <= 8, labels <= 40, values <= 200 bytes",
    "AD0001": "ADaMIG 1.3 3.2/3.3, ADaM TTE: required variables present",
    "AD0002": "ADaMIG 1.3 3.2: ADSL one record per subject, every USUBJID in ADSL",
    "AD0003": "ADaMIG 1.3 3.3.9: ASEQ unique per USUBJID",
    "AD0004": "ADaMIG 1.3 3.1.4: population flags Y/N, record flags Y or null",
    "AD0005": "ADaMIG 1.3 3.1.3: *DT numeric with a date format, *DTM a datetime format",
    "AD0006": "ADaMIG 1.3 3.3.4: PARAMCD <= 8, starts with a letter, 1:1 with PARAM",
    "AD0007": "ADaMIG 1.3 3.3.5: ADY is never 0",
}

# SDTMIG 3.4 Req / Exp variables of the domains ctit writes (domain specification tables).
SDTM_REQ = {
    "DM": ["STUDYID", "DOMAIN", "USUBJID", "SUBJID", "SITEID", "SEX", "COUNTRY"],
    "SUPPDM": ["STUDYID", "RDOMAIN", "USUBJID", "QNAM", "QLABEL", "QVAL", "QORIG"],
    "VS": ["STUDYID", "DOMAIN", "USUBJID", "VSSEQ", "VSTESTCD", "VSTEST"],
    "EX": ["STUDYID", "DOMAIN", "USUBJID", "EXSEQ", "EXTRT"],
    "CM": ["STUDYID", "DOMAIN", "USUBJID", "CMSEQ", "CMTRT"],
    "LB": ["STUDYID", "DOMAIN", "USUBJID", "LBSEQ", "LBTESTCD", "LBTEST"],
    "AE": ["STUDYID", "DOMAIN", "USUBJID", "AESEQ", "AETERM", "AEDECOD"],
    "PR": ["STUDYID", "DOMAIN", "USUBJID", "PRSEQ", "PRTRT"],
    "FA": ["STUDYID", "DOMAIN", "USUBJID", "FASEQ", "FATESTCD", "FATEST", "FAOBJ"],
    "TS": ["STUDYID", "DOMAIN", "TSSEQ", "TSPARMCD", "TSPARM", "TSVAL"],
}
# Req variables whose value the input may not hold: present, null allowed (documented in
# docs/cdisc.md: ctit never invents a site or a country).
SDTM_REQ_NULLABLE = {"DM": {"SITEID", "COUNTRY"}}
SDTM_EXP = {
    "DM": ["RFSTDTC", "RFENDTC", "RFXSTDTC", "RFXENDTC", "RFICDTC", "RFPENDTC", "DTHDTC", "DTHFL",
           "AGE", "AGEU", "RACE", "ETHNIC", "ARMCD", "ARM", "ACTARMCD", "ACTARM", "ARMNRS", "ACTARMUD"],
    "SUPPDM": ["IDVAR", "IDVARVAL", "QEVAL"],
    "EX": ["EXDOSE", "EXDOSU", "EXDOSFRM", "EXSTDTC", "EXENDTC"],
    "LB": ["LBORRES", "LBORRESU", "LBORNRLO", "LBORNRHI", "LBSTRESC", "LBSTRESN", "LBSTRESU",
           "LBSTNRLO", "LBSTNRHI", "LBNRIND", "LBLOBXFL", "LBDTC"],
    "AE": ["AEBODSYS", "AESER", "AEACN", "AEREL", "AEOUT", "AESTDTC", "AEENDTC"],
    "PR": ["PRSTDTC"],
    "FA": ["FAORRES", "FASTRESC", "FADTC"],
    "TS": ["TSVALCD", "TSVCDREF", "TSVCDVER"],
}
# ADaMIG 1.3 ADSL Req; BDS Req (AVAL or AVALC: at least one); ADaM TTE Req.
ADSL_REQ = ["STUDYID", "USUBJID", "SUBJID", "SITEID", "AGE", "AGEU", "SEX", "RACE", "ARM", "ACTARM",
            "TRT01P"]
BDS_REQ = ["STUDYID", "USUBJID", "PARAM", "PARAMCD"]
TTE_REQ = ["STUDYID", "USUBJID", "PARAM", "PARAMCD", "AVAL", "STARTDT", "ADT", "CNSR"]
POPULATION_FLAGS = re.compile(r"^(SAF|ITT|FAS|PP|COMP|RAND|ENRL|SCRN|ELIG)[A-Z0-9]*FL$")
_PARAMCD = re.compile(r"^[A-Z][A-Z0-9_]{0,7}$")
_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,7}$")


@dataclass(frozen=True)
class Finding:
    rule: str
    dataset: str
    variable: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.dataset}.{self.variable}" if self.variable else self.dataset
        return f"{self.rule} {where}: {self.message} ({RULES[self.rule]})"


@dataclass
class Dataset:
    """One dataset as a reviewer's tool sees it: values, labels, SAS types and formats."""

    name: str
    data: pd.DataFrame
    label: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)      # num / char
    formats: dict[str, str] = field(default_factory=dict)    # e.g. DATE9


def read_xpt(path: Path) -> Dataset:
    import pyreadstat

    data, meta = pyreadstat.read_xport(str(path), encoding="latin1")
    types = {c: ("char" if t == "string" else "num") for c, t in meta.readstat_variable_types.items()}
    formats = {c: str(f or "").rstrip(".") for c, f in meta.original_variable_types.items()}
    for c, t in types.items():
        if t == "char":
            data[c] = data[c].mask(data[c] == "")
    return Dataset(meta.table_name or path.stem.upper(), data, meta.file_label or "",
                   dict(meta.column_names_to_labels), types, formats)


def read_folder(folder: Path) -> dict[str, Dataset]:
    return {d.name: d for d in (read_xpt(p) for p in sorted(Path(folder).glob("*.xpt")))}


def _blank(s: pd.Series) -> pd.Series:
    return s.isna() | s.astype("string").str.strip().eq("").fillna(True)


def transport(ds: Dataset) -> list[Finding]:
    out = []
    if not _NAME.match(ds.name):
        out.append(Finding("TR0001", ds.name, None, "dataset name is not 1-8 letters/digits"))
    for c in ds.data.columns:
        if not _NAME.match(str(c)):
            out.append(Finding("TR0001", ds.name, c, "variable name longer than 8 or not A-Z0-9_"))
        if len(ds.labels.get(c) or "") > 40:
            out.append(Finding("TR0001", ds.name, c, f"label longer than 40: {ds.labels[c]!r}"))
        if ds.types.get(c) == "char":
            longest = ds.data[c].dropna().astype(str).map(lambda v: len(v.encode("latin1", "replace"))).max()
            if pd.notna(longest) and longest > 200:
                out.append(Finding("TR0001", ds.name, c, "a value is longer than 200 bytes"))
    return out


def _unique_per_subject(ds: Dataset, seq: str, rule: str, by: str = "USUBJID") -> list[Finding]:
    if seq not in ds.data.columns or by not in ds.data.columns:
        return []
    d = ds.data
    dup = d[[by, seq]].duplicated()
    if dup.any():
        i = dup[dup].index[0]
        return [Finding(rule, ds.name, seq, f"{int(dup.sum())} duplicate {seq} within {by} "
                        f"(first: {d.at[i, by]} {seq} {d.at[i, seq]})")]
    if d[seq].isna().any():
        return [Finding(rule, ds.name, seq, f"{int(d[seq].isna().sum())} records without {seq}")]
    return []


def _flags_y_null(ds: Dataset, names: list[str], rule: str) -> list[Finding]:
    out = []
    for c in names:
        bad = ds.data[c].dropna()
        bad = bad[bad != "Y"]
        if len(bad):
            out.append(Finding(rule, ds.name, c, f"values other than Y or null: {sorted(set(bad.astype(str)))[:3]}"))
    return out


def _one_to_one(ds: Dataset, code: str, name: str, rule: str) -> list[Finding]:
    if code not in ds.data.columns or name not in ds.data.columns:
        return []
    pairs = ds.data[[code, name]].drop_duplicates()
    out = []
    for col in (code, name):
        dup = pairs[col][pairs[col].duplicated()]
        if len(dup):
            out.append(Finding(rule, ds.name, col, f"{code} and {name} are not 1:1 (e.g. {dup.iloc[0]!r})"))
    return out


def check_sdtm(domains: dict[str, Dataset]) -> list[Finding]:
    """Every SDTM rule of the module docstring on a set of domains."""
    out: list[Finding] = []
    dm = domains.get("DM")
    for name, ds in domains.items():
        d = ds.data
        out += transport(ds)
        for v in SDTM_REQ.get(name, []):
            if v not in d.columns:
                out.append(Finding("SD0001", name, v, "required variable is missing"))
            elif v not in SDTM_REQ_NULLABLE.get(name, set()) and _blank(d[v]).any():
                out.append(Finding("SD0001", name, v, f"{int(_blank(d[v]).sum())} records with a null "
                                   "required value"))
        for v in SDTM_EXP.get(name, []):
            if v not in d.columns:
                out.append(Finding("SD0002", name, v, "expected variable is missing"))
        seq = [c for c in d.columns if c.endswith("SEQ") and c != "ASEQ"]
        for s in seq:
            out += _unique_per_subject(ds, s, "SD0003", by="TSPARMCD" if name == "TS" else "USUBJID")
        for c in [c for c in d.columns if re.fullmatch(r"[A-Z]{2}(ST|EN)?DY|DMDY", c)]:
            zero = pd.to_numeric(d[c], errors="coerce").eq(0)
            if zero.any():
                out.append(Finding("SD0004", name, c, f"{int(zero.sum())} records with study day 0"))
        for c in [c for c in d.columns if c.endswith("DTC")]:
            bad = []
            for v in d[c].dropna().unique():
                try:
                    parse_dtc(str(v))
                except DtcError:
                    bad.append(v)
            if bad:
                out.append(Finding("SD0005", name, c, f"not ISO 8601: {bad[:3]}"))
        if "USUBJID" in d.columns and dm is not None and name != "DM":
            missing = set(d.USUBJID.dropna()) - set(dm.data.USUBJID.dropna())
            if missing:
                out.append(Finding("SD0006", name, "USUBJID", f"{len(missing)} subjects not in DM: "
                                   f"{sorted(missing)[:3]}"))
        out += _flags_y_null(ds, [c for c in d.columns if c in ("DTHFL",) or c.endswith("LOBXFL")], "SD0007")
        for c in [c for c in d.columns if c.endswith("TESTCD")]:
            long_ = d[c].dropna()[d[c].dropna().astype(str).str.len() > 8]
            if len(long_):
                out.append(Finding("SD0008", name, c, f"longer than 8: {long_.iloc[0]!r}"))
            out += _one_to_one(ds, c, c[:-2], "SD0008")
    if dm is not None and dm.data.USUBJID.duplicated().any():
        out.append(Finding("SD0006", "DM", "USUBJID", "more than one record for a subject"))
    return out


def check_adam(datasets: dict[str, Dataset]) -> list[Finding]:
    """Every ADaM rule of the module docstring on a set of analysis datasets."""
    out: list[Finding] = []
    adsl = datasets.get("ADSL")
    for name, ds in datasets.items():
        d = ds.data
        out += transport(ds)
        tte = name.startswith("ADTTE") or "CNSR" in d.columns
        need = ADSL_REQ if name == "ADSL" else TTE_REQ if tte else BDS_REQ
        for v in need:
            if v not in d.columns:
                out.append(Finding("AD0001", name, v, "required variable is missing"))
        if name != "ADSL" and not {"AVAL", "AVALC"} & set(d.columns):
            out.append(Finding("AD0001", name, "AVAL", "neither AVAL nor AVALC"))
        if name == "ADSL" and "USUBJID" in d.columns and d.USUBJID.duplicated().any():
            out.append(Finding("AD0002", name, "USUBJID", "more than one record for a subject"))
        if name != "ADSL" and adsl is not None and "USUBJID" in d.columns:
            missing = set(d.USUBJID.dropna()) - set(adsl.data.USUBJID.dropna())
            if missing:
                out.append(Finding("AD0002", name, "USUBJID", f"{len(missing)} subjects not in ADSL"))
        out += _unique_per_subject(ds, "ASEQ", "AD0003")
        flags = [c for c in d.columns if c.endswith("FL")]
        for c in flags:
            # ADSL's population flags, and their copies in other datasets, are Y/N.
            population = bool(POPULATION_FLAGS.match(c))
            values = set(d[c].dropna().astype(str))
            if population and (d[c].isna().any() or values - {"Y", "N"}):
                out.append(Finding("AD0004", name, c, "a population flag must be Y or N on every record"))
        out += _flags_y_null(ds, [c for c in flags if not POPULATION_FLAGS.match(c)], "AD0004")
        for c in d.columns:
            fmt = ds.formats.get(c, "")
            if c.endswith("DTM") and (ds.types.get(c) != "num" or not re.match(r"^(DATETIME|E8601DT|IS8601DT)", fmt)):
                out.append(Finding("AD0005", name, c, f"a datetime must be numeric with a datetime format (got {ds.types.get(c)} {fmt!r})"))
            elif c.endswith("DT") and (ds.types.get(c) != "num" or not re.match(r"^(DATE|E8601DA|IS8601DA|YYMMDD)", fmt)):
                out.append(Finding("AD0005", name, c, f"a date must be numeric with a date format (got {ds.types.get(c)} {fmt!r})"))
        if "PARAMCD" in d.columns:
            bad = sorted({v for v in d.PARAMCD.dropna().astype(str) if not _PARAMCD.match(v)})
            if bad:
                out.append(Finding("AD0006", name, "PARAMCD", f"not <= 8 characters starting with a letter: {bad[:3]}"))
            out += _one_to_one(ds, "PARAMCD", "PARAM", "AD0006")
        if "ADY" in d.columns and pd.to_numeric(d.ADY, errors="coerce").eq(0).any():
            out.append(Finding("AD0007", name, "ADY", "ADY 0 (study days have no day 0)"))
    return out
