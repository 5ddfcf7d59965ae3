"""define.xml (CDISC Define-XML 2.0) for the datasets ctit writes, SDTM or ADaM.

Generated from the same variable metadata the writers use (`knowledge/adam_variables.csv`,
`knowledge/sdtm_variables.csv`) and from the datasets as written: one ItemGroupDef per
dataset (class, structure, keys, the `.xpt` file as def:leaf), one ItemDef per variable
(label, data type, length or display format from the values, origin), a CodeList per named
codelist with the terms the data hold (NY: Y/N with decodes), and for every derived ADaM
variable a MethodDef whose text is the derivation in words (protocol sections cited).

The XML references CDISC's standard stylesheet (`define2-0-0.xsl`) by name; the stylesheet
itself is not shipped (it comes with CDISC's Define-XML package under CDISC's terms): put
it next to define.xml to read it in a browser. Element order follows the Define-XML 2.0
schema (ItemGroupDef, ItemDef, CodeList, MethodDef, def:leaf).

Origins: Define-XML 2.0 types (CRF, Derived, Assigned, Protocol, eDT, Predecessor); the
metadata's "Collected" (a value the input holds) is written as CRF.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import pandas as pd

import ctit
from ctit.cdisc import conformance

ODM = "http://www.cdisc.org/ns/odm/v1.3"
DEF = "http://www.cdisc.org/ns/def/v2.0"
XLINK = "http://www.w3.org/1999/xlink"
STYLESHEET = "define2-0-0.xsl"

ADAM_CLASS = {"ADSL": ("SUBJECT LEVEL ANALYSIS DATASET", "One record per subject")}
SDTM_CLASS = {
    "DM": ("SPECIAL PURPOSE", "One record per subject"),
    "SUPPDM": ("RELATIONSHIP", "One record per supplemental qualifier per subject"),
    "VS": ("FINDINGS", "One record per vital sign measurement per subject"),
    "LB": ("FINDINGS", "One record per lab test per time point per subject"),
    "FA": ("FINDINGS", "One record per finding per object per time point per subject"),
    "EX": ("INTERVENTIONS", "One record per constant dosing interval per subject"),
    "CM": ("INTERVENTIONS", "One record per recorded medication occurrence per subject"),
    "PR": ("INTERVENTIONS", "One record per recorded procedure per subject"),
    "AE": ("EVENTS", "One record per adverse event per subject"),
    "TS": ("TRIAL DESIGN", "One record per trial summary parameter value"),
}
CODELIST_NAMES = {"NY": "No Yes Response", "Y": "Yes Response", "NRIND": "Reference Range Indicator",
                  "SEX": "Sex", "AGEU": "Age Unit", "PARAMCD": "Parameter Code", "AVALC": "Response",
                  "CNSR": "Censor", "ARMCD": "Arm Code", "ARM": "Arm", "RACE": "Race",
                  "ETHNIC": "Ethnic Group", "COUNTRY": "Country", "PARCAT1": "Parameter Category",
                  "AVISIT": "Analysis Visit", "LBTESTCD": "Laboratory Test Code", "LBCAT": "Lab Category",
                  "TSPARMCD": "Trial Summary Parameter Code", "CAT": "Treatment Category",
                  "EXCLRS": "Eligibility Criterion"}
DECODES = {"NY": {"N": "No", "Y": "Yes"}, "Y": {"Y": "Yes"}}


@dataclass(frozen=True)
class VariableMeta:
    """What define.xml states about one variable of one dataset."""

    dataset: str
    name: str
    label: str
    type: str            # char / num / date / datetime (ADaM numeric dates), dtc (SDTM ISO text)
    origin: str
    codelist: str = ""
    derivation: str = ""
    mandatory: bool = False


def adam_variables(datasets: dict[str, pd.DataFrame]) -> list[VariableMeta]:
    from ctit.cdisc.metadata import variable

    out = []
    for name, frame in datasets.items():
        tte = name.startswith("ADTTE")
        need = set(conformance.ADSL_REQ if name == "ADSL" else conformance.TTE_REQ if tte else
                   conformance.BDS_REQ)
        for c in frame.columns:
            v = variable(name, c)
            out.append(VariableMeta(name, c, v.label, v.type, v.origin, v.codelist,
                                    v.derivation if v.origin == "Derived" else "", c in need))
    return out


def sdtm_variables(domains: dict[str, pd.DataFrame]) -> list[VariableMeta]:
    from ctit.cdisc.sdtm_writer import spec

    out = []
    for name, frame in domains.items():
        meta = spec(name)
        for c in frame.columns:
            r = meta[c]
            kind = "dtc" if c.endswith("DTC") else r["type"]
            out.append(VariableMeta(name, c, r["label"], kind, r.get("origin") or "Collected",
                                    r.get("codelist") or "", "", r.get("core") == "Req"))
    return out


def _origin(origin: str) -> str:
    return {"Collected": "CRF"}.get(origin, origin)


def _number_shape(values: pd.Series) -> tuple[str, int, int | None]:
    """(DataType, Length, SignificantDigits) of a numeric variable from its values."""
    nums = pd.to_numeric(values.astype("object"), errors="coerce").dropna().astype(float)
    nums = nums[nums.map(math.isfinite)]
    if not len(nums) or (nums == nums.round()).all():
        width = max([len(str(int(abs(x)))) for x in nums] or [1])
        return "integer", width, None
    digits = max(len(repr(abs(x)).split(".")[1]) if "." in repr(abs(x)) else 0 for x in nums)
    digits = min(digits, 8)
    width = max(len(str(int(abs(x)))) for x in nums) + digits + 1
    return "float", width, digits


def _attrs(**kw: object) -> str:
    return "".join(f" {k.replace('__', ':')}={quoteattr(str(v))}" for k, v in kw.items() if v is not None)


def _text(tag: str, text: str) -> str:
    return f'<{tag}><TranslatedText xml:lang="en">{escape(text)}</TranslatedText></{tag}>'


def _keys(name: str, columns: list[str]) -> list[str]:
    if name == "TS":
        want = ["STUDYID", "TSPARMCD", "TSSEQ"]
    elif name.startswith("SUPP"):
        want = ["STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM"]
    else:
        seq = [c for c in columns if c == "ASEQ"] or [c for c in columns if c.endswith("SEQ") and c != "SRCSEQ"]
        want = ["STUDYID", "USUBJID", *(seq[:1] if seq else ["PARAMCD"] if "PARAMCD" in columns else [])]
    return [c for c in want if c in columns]


def define_xml(datasets: dict[str, pd.DataFrame], variables: list[VariableMeta], *, standard: str,
               study_id: str, study_name: str, dataset_labels: dict[str, str]) -> str:
    """The define.xml text for `datasets` (module docstring)."""
    adam = standard == "ADaM"
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    by_ds: dict[str, list[VariableMeta]] = {}
    for v in variables:
        by_ds.setdefault(v.dataset, []).append(v)
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             f'<?xml-stylesheet type="text/xsl" href="{STYLESHEET}"?>',
             f'<ODM xmlns="{ODM}" xmlns:def="{DEF}" xmlns:xlink="{XLINK}"'
             + _attrs(ODMVersion="1.3.2", FileType="Snapshot", FileOID=f"DEF.{study_id}.{standard}",
                      CreationDateTime=now, Originator="ctit", SourceSystem="ctit",
                      SourceSystemVersion=ctit.__version__) + ">",
             f'<Study OID={quoteattr("STUDY." + study_id)}>',
             "<GlobalVariables>", f"<StudyName>{escape(study_id)}</StudyName>",
             f"<StudyDescription>{escape(study_name)}</StudyDescription>",
             f"<ProtocolName>{escape(study_id)}</ProtocolName>", "</GlobalVariables>",
             "<MetaDataVersion" + _attrs(
                 OID=f"MDV.{study_id}.{standard}", Name=f"{study_id} {standard} metadata",
                 Description=f"{standard} datasets written by ctit", def__DefineVersion="2.0.0",
                 def__StandardName="ADaM-IG" if adam else "SDTM-IG",
                 def__StandardVersion="1.3" if adam else "3.4") + ">"]
    items, codelists, methods = [], {}, []
    for name, frame in datasets.items():
        cls, structure = (ADAM_CLASS.get(name, ("BASIC DATA STRUCTURE", "One record per subject per "
                                                "parameter per analysis record"))
                          if adam else SDTM_CLASS.get(name, ("FINDINGS", "One record per record")))
        keys = _keys(name, list(frame.columns))
        lines.append("<ItemGroupDef" + _attrs(
            OID=f"IG.{name}", Name=name, Repeating="No" if name in ("ADSL", "DM") else "Yes",
            IsReferenceData="Yes" if name == "TS" else "No", SASDatasetName=name,
            Domain=None if adam or name.startswith("SUPP") else name,
            Purpose="Analysis" if adam else "Tabulation", def__Structure=structure, def__Class=cls,
            def__ArchiveLocationID=f"LF.{name}") + ">")
        lines.append(_text("Description", dataset_labels.get(name, name)))
        for order, v in enumerate(by_ds.get(name, []), 1):
            oid = f"IT.{name}.{v.name}"
            method = f"MT.{name}.{v.name}" if adam and v.derivation else None
            lines.append("<ItemRef" + _attrs(
                ItemOID=oid, OrderNumber=order, Mandatory="Yes" if v.mandatory or v.name in keys else "No",
                KeySequence=keys.index(v.name) + 1 if v.name in keys else None, MethodOID=method) + "/>")
            values = frame[v.name]
            fmt = None
            sig = None
            if v.type in ("date", "datetime"):
                dtype, length = "integer", None
                fmt = "DATE9." if v.type == "date" else "DATETIME20."
            elif v.type == "dtc":
                dtype, length = "date", None
            elif v.type == "num":
                dtype, length, sig = _number_shape(values)
            else:
                texts = values.dropna().astype(str)
                dtype, length = "text", max([len(t.encode("latin1", "replace")) for t in texts] or [1])
            body = [_text("Description", v.label)]
            if v.codelist:
                body.append(f'<CodeListRef CodeListOID="CL.{v.codelist}"/>')
                codelists.setdefault(v.codelist, set()).update(
                    values.dropna().map(lambda x: x if isinstance(x, str) else
                                        str(int(x)) if float(x).is_integer() else str(x)))
            origin = _origin(v.origin)
            body.append(f'<def:Origin Type="{origin}"/>' if origin != "Predecessor" else
                        f'<def:Origin Type="Predecessor">{_text("Description", v.derivation or v.label)}</def:Origin>')
            items.append("<ItemDef" + _attrs(OID=oid, Name=v.name, DataType=dtype, Length=length,
                                             SignificantDigits=sig, SASFieldName=v.name,
                                             def__DisplayFormat=fmt) + ">" + "".join(body) + "</ItemDef>")
            if method:
                methods.append("<MethodDef" + _attrs(OID=method, Name=f"Algorithm to derive {name}.{v.name}",
                                                     Type="Computation") + ">"
                               + _text("Description", v.derivation) + "</MethodDef>")
        lines.append(f'<def:leaf ID="LF.{name}" xlink:href="{name.lower()}.xpt">'
                     f"<def:title>{name.lower()}.xpt</def:title></def:leaf>")
        lines.append("</ItemGroupDef>")
    lines += items
    for cl, terms in sorted(codelists.items()):
        decodes = DECODES.get(cl)
        terms = set(decodes) if decodes else terms
        numeric = all(t.lstrip("-").isdigit() for t in terms) and bool(terms)
        lines.append("<CodeList" + _attrs(OID=f"CL.{cl}", Name=CODELIST_NAMES.get(cl, cl),
                                          DataType="integer" if numeric else "text") + ">")
        for t in sorted(terms, key=lambda x: (int(x) if numeric else 0, x)):
            if decodes:
                lines.append(f"<CodeListItem CodedValue={quoteattr(t)}>{_text('Decode', decodes[t])}</CodeListItem>")
            else:
                lines.append(f"<EnumeratedItem CodedValue={quoteattr(t)}/>")
        lines.append("</CodeList>")
    lines += methods
    lines += ["</MetaDataVersion>", "</Study>", "</ODM>"]
    return "\n".join(lines) + "\n"


def write_define(datasets: dict[str, pd.DataFrame], out: Path, *, standard: str, study_id: str,
                 study_name: str, dataset_labels: dict[str, str]) -> Path:
    """Write `out/define.xml` for the datasets (SDTM or ADaM) written into `out`."""
    variables = adam_variables(datasets) if standard == "ADaM" else sdtm_variables(datasets)
    path = Path(out) / "define.xml"
    path.write_text(define_xml(datasets, variables, standard=standard, study_id=study_id,
                               study_name=study_name, dataset_labels=dataset_labels), encoding="utf-8")
    return path
