"""define.xml lists every dataset and variable the writers produced, as written (the .xpt
files), with resolvable codelists and derivation methods (ctit.cdisc.define)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

from ctit.cdisc.adam import adam_datasets
from ctit.cdisc.adam_writer import write_adam
from ctit.cdisc.sdtm_writer import write_sdtm
from ctit.protocol import load_protocol
from ctit.readers import read_study

EXAMPLE = Path(__file__).resolve().parents[1] / "src" / "ctit" / "examples" / "atra-ctit"
NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.0",
      "xlink": "http://www.w3.org/1999/xlink"}
HREF = "{http://www.w3.org/1999/xlink}href"


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("define")
    study = read_study(EXAMPLE)
    write_sdtm(study, out / "sdtm")
    datasets, _ = adam_datasets(study, load_protocol(None))
    write_adam(datasets, out / "adam", study_name="ATRA for refractory CTIT")
    return {"SDTM": out / "sdtm", "ADaM": out / "adam"}


def _text(el: ET.Element) -> str:
    t = el.find("odm:Description/odm:TranslatedText", NS)
    return "" if t is None or t.text is None else t.text


@pytest.mark.parametrize("standard", ["SDTM", "ADaM"])
def test_define_lists_every_dataset_and_variable_as_written(outputs, standard) -> None:  # type: ignore[no-untyped-def]
    folder = outputs[standard]
    raw = (folder / "define.xml").read_text(encoding="utf-8")
    assert '<?xml-stylesheet type="text/xsl" href="define2-0-0.xsl"?>' in raw
    root = ET.fromstring(raw.encode("utf-8"))        # well-formed
    mdv = root.find("odm:Study/odm:MetaDataVersion", NS)
    assert mdv is not None and mdv.get(f"{{{NS['def']}}}DefineVersion") == "2.0.0"
    items = {i.get("OID"): i for i in mdv.findall("odm:ItemDef", NS)}
    codelists = {c.get("OID"): c for c in mdv.findall("odm:CodeList", NS)}
    methods = {m.get("OID"): m for m in mdv.findall("odm:MethodDef", NS)}
    groups = {g.get("Name"): g for g in mdv.findall("odm:ItemGroupDef", NS)}
    xpts = sorted(folder.glob("*.xpt"))
    assert set(groups) == {p.stem.upper() for p in xpts}
    for path in xpts:
        data, meta = pyreadstat.read_xport(str(path))
        g = groups[path.stem.upper()]
        leaf = g.find("def:leaf", NS)
        assert leaf is not None and (folder / leaf.get(HREF)).is_file()
        refs = g.findall("odm:ItemRef", NS)
        assert [items[r.get("ItemOID")].get("Name") for r in refs] == meta.column_names
        assert [int(r.get("OrderNumber")) for r in refs] == list(range(1, len(refs) + 1))
        assert any(r.get("KeySequence") == "1" for r in refs)
        for r in refs:
            item = items[r.get("ItemOID")]
            name = item.get("Name")
            assert _text(item) == meta.column_names_to_labels[name], name
            kind = meta.readstat_variable_types[name]
            dtype = item.get("DataType")
            if kind == "string":
                assert dtype in ("text", "date"), name
                if dtype == "text":
                    longest = data[name].astype(str).str.len().max() if len(data) else 0
                    assert int(item.get("Length")) >= longest, name
            else:
                assert dtype in ("integer", "float"), name
                fmt = (meta.original_variable_types.get(name) or "").rstrip(".")
                if fmt.startswith("DATE"):
                    assert item.get(f"{{{NS['def']}}}DisplayFormat").rstrip(".") == fmt
            assert item.find("def:Origin", NS) is not None
            cl = item.find("odm:CodeListRef", NS)
            if cl is not None:
                terms = {t.get("CodedValue") for t in codelists[cl.get("CodeListOID")]}
                values = {v if isinstance(v, str) else str(int(v)) for v in data[name] if v not in ("", None)
                          and not (isinstance(v, float) and pd.isna(v))}
                assert values <= terms, (name, values - terms)
            if r.get("MethodOID"):
                assert _text(methods[r.get("MethodOID")]), name


def test_define_adam_derivations_come_from_the_metadata(outputs) -> None:  # type: ignore[no-untyped-def]
    from ctit.cdisc.metadata import variable

    root = ET.parse(outputs["ADaM"] / "define.xml").getroot()
    method = root.find(".//odm:MethodDef[@OID='MT.ADSL.SAFFL']", NS)
    assert method is not None and _text(method) == variable("ADSL", "SAFFL").derivation
    assert "protocol 9" in _text(method)
    ny = root.find(".//odm:CodeList[@OID='CL.NY']", NS)
    assert {i.get("CodedValue") for i in ny} == {"N", "Y"}
