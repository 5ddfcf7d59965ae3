"""OMOP CDM 5.4 -> the canonical tables of the data contract, as engine expressions
(docs/omop.md). `ctit analyze --from omop SOURCE`.

- PERSON -> patients: gender concept 8507 M, 8532 F, else U; age in completed years at
  day 0; height and weight (MEASUREMENT) the last on or before day 0, else the first;
  tumour type the latest solid-tumour condition on or before day 0, else the first;
- DRUG_EXPOSURE -> exposures, role by concept set (study drug, TPO-RA, anticancer), else by
  the source value through the drug dictionary; tretinoin for the skin is role 'other';
- MEASUREMENT -> labs, value and limits (range_low / range_high) in canonical units by the
  unit rules; PROCEDURE_OCCURRENCE and DEVICE_EXPOSURE -> transfusions; CONDITION_OCCURRENCE
  -> bleeding (WHO grade table) and OBSERVATION -> assessed bleeding grades, reported adverse
  events and pre-therapy platelets; DEATH ends follow-up: records after death are not read.
- Day 0 = the first study-drug exposure's start date; every date becomes a day against it.
  A person without study drug has no day 0: their days are empty and the analysis excludes
  them as no_study_drug.

Only records of a concept set are read; `Study.inputs` gives, per CDM table, the rows read.
`source_row` is the record's id (measurement_id, ...), and `source_table` the CDM table.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from ctit import knowledge
from ctit.errors import ProblemLog
from ctit.omop.cdm import Cdm, file_sha256, open_cdm, reading
from ctit.omop.concepts import Vocabulary, all_items, bleeding_rows, dictionary_names, load_settings
from ctit.readers.labs import PLT_MAX
from ctit.study import REQUIRED_TABLES, TABLES, InputFile, Study, conform, empty_table

GENDER = {8507: "M", 8532: "F"}


@dataclass
class OmopTables:
    """The canonical tables as engine expressions, each with `date` columns, and day 0."""

    tables: dict[str, ir.Table]            # with dates (start_date/end_date or date)
    day0: ir.Table                         # patient_id, day0 (date)
    cdm: Cdm | None = None
    log: ProblemLog = field(default_factory=ProblemLog)


def _empty(schema: dict[str, str]) -> ir.Table:
    """An empty engine table of `schema` (Arrow-typed: pandas cannot hold an empty date column)."""
    return ibis.memtable(ibis.schema(schema).to_pyarrow().empty_table())


def _t(cdm: Cdm, table: str, log: ProblemLog, **columns: str) -> ir.Table:
    """A CDM table with the given columns typed (name=kind)."""
    return cdm.typed(table, columns, log)


def _unit_rules(settings: dict[str, Any]) -> tuple[ir.Table, ir.Table]:
    """(quantity, unit_concept_id, factor) from the settings; (quantity, unit key, factor)
    from knowledge/units.csv for unit_source_value."""
    rows = [(q, int(u), float(f)) for q, m in settings["units"].items() for u, f in m.items()]
    by_id = ibis.memtable({"_q": [r[0] for r in rows], "_uid": [r[1] for r in rows],
                           "_f1": [r[2] for r in rows]})
    with knowledge.path("units.csv").open(encoding="utf-8", newline="") as fh:
        text = [(r["quantity"], knowledge.unit_key(r["unit"]), float(r["factor"])) for r in csv.DictReader(fh)]
    by_text = ibis.memtable({"_q2": [r[0] for r in text], "_tkey": [r[1] for r in text],
                             "_f2": [r[2] for r in text]})
    return by_id, by_text


def _unit_key(u: ir.StringValue) -> ir.StringValue:
    """knowledge.unit_key in the engine: case, spaces, micro sign."""
    return u.replace("\u00b5", "u").replace("\u03bc", "u").replace("\u00d7", "x").replace(" ", "").lower()


def _lab_concepts(v: Vocabulary, settings: dict[str, Any]) -> ir.Table:
    """concept_id -> test code, for every lab set; LOINC aliases of the other tests."""
    parts = []
    for code, spec in settings["labs"].items():
        s = v.concept_set(f"labs.{code}", spec, descendants=spec.get("descendants", False))
        parts.append(s.mutate(test=ibis.literal(code)))
    named = set(settings["labs"])
    if settings.get("loinc_aliases", True) and v.concept is not None:
        with knowledge.path("lab_test_aliases.csv").open(encoding="utf-8", newline="") as fh:
            aliases = [(r["alias"], r["code"]) for r in csv.DictReader(fh)
                       if r["source"] == "LOINC" and r["code"] not in named]
        if aliases:
            m = ibis.memtable({"_code": [a[0] for a in aliases], "_test": [a[1] for a in aliases]})
            c = v.concept.filter(v.concept.vocabulary_id == "LOINC")
            j = c.join(m, c.concept_code == m._code)
            parts.append(j.select("concept_id", test=j._test))
    out = ibis.union(*parts, distinct=True)
    # A concept in two sets would give two rows per measurement: the first set wins.
    return out.group_by("concept_id").aggregate(test=out.test.min())


def _drug_concepts(v: Vocabulary, settings: dict[str, Any]) -> ir.Table:
    """concept_id -> role, drug_name (the set's drug, else the concept's name); study drug
    over TPO-RA over anticancer where sets overlap (tretinoin is also ATC L01)."""
    parts = []
    for rank, (role, entries) in enumerate(settings["drugs"].items()):
        for e in entries:
            ids = v.roots(f"drugs.{role}.{e.get('drug') or 'set'}", e.get("include", []))
            s = v.drug_concepts(ids, e.get("drug"))
            parts.append(s.mutate(role=ibis.literal(role), drug_name=ibis.literal(e.get("drug"), "string"),
                                  _rank=ibis.literal(rank)))
    if v.ancestor is None and v.concept is not None:
        # Without CONCEPT_ANCESTOR no ATC class has descendants: the drug dictionary's names
        # (knowledge/drugs.csv) find the drug concepts of its anticancer drugs, last in rank.
        d = dictionary_names()
        d = d.filter(d._dict_role == "anticancer")
        c = v.concept.filter(v.concept.domain_id == "Drug")
        j = c.join(d, c.concept_name.lower().re_search("(^|[^a-z])" + d._name + "([^a-z]|$)"))
        parts.append(j.select("concept_id", role=j._dict_role, drug_name=j._dict_drug,
                              _rank=ibis.literal(len(settings["drugs"]))))
    out = ibis.union(*parts, distinct=True)
    ranked = out.mutate(_r=ibis.row_number().over(group_by="concept_id", order_by=[out._rank, out.drug_name]))
    return ranked.filter(ranked._r == 0).select("concept_id", "role", "drug_name")


def _dated(t: ir.Table, death: ir.Table, date_col: str) -> ir.Table:
    """Rows of `t` on or before their patient's death (DEATH ends follow-up)."""
    j = t.left_join(death, t.patient_id == death._pid)
    j = j.filter(j._death.isnull() | (j[date_col] <= j._death))
    return j.drop("_pid", "_death")


def omop_tables(cdm: Cdm, settings: dict[str, Any] | None = None,
                log: ProblemLog | None = None) -> OmopTables:
    """Every canonical table of the contract as an expression over the CDM (module docstring)."""
    log = log or ProblemLog()
    settings = settings or load_settings(cdm.override)
    if not cdm.has("person"):
        log.error("PERSON", "required CDM table is missing (PERSON.csv, person.parquet or a person table)")
        log.raise_if_errors()
    v = Vocabulary.of(cdm, log)
    who = bleeding_rows(settings, cdm.override.parent if cdm.override else None)
    v.prefetch(all_items(settings) + [{"vocabulary": r["vocabulary"], "code": r["code"]} for r in who])
    if v.ancestor is None:
        log.warn("CONCEPT_ANCESTOR", "no CONCEPT_ANCESTOR table: concept sets are their listed "
                 "concepts only (drugs: concepts whose name contains the ingredient)")
    names = v.names()

    # -- patients and day 0 -------------------------------------------------------------------
    p = _t(cdm, "person", log, person_id="int64", gender_concept_id="int64", year_of_birth="int64",
           month_of_birth="int64", day_of_birth="int64", person_source_value="string")
    id_column = settings.get("patient_id", "person_id")
    pid = p.person_source_value if id_column == "person_source_value" else p.person_id.cast("string")
    persons = p.mutate(patient_id=pid)
    keys = persons.select("person_id", "patient_id")

    def with_patient(t: ir.Table) -> ir.Table:
        return t.join(keys, "person_id")

    death = _empty({"_pid": "string", "_death": "date"})
    if cdm.has("death"):
        d = _t(cdm, "death", log, person_id="int64", death_date="date")
        d = with_patient(d)
        death = d.group_by("patient_id").aggregate(_death=d.death_date.min()).rename(_pid="patient_id")

    # -- exposures ----------------------------------------------------------------------------
    exposures = None
    if cdm.has("drug_exposure"):
        de = _t(cdm, "drug_exposure", log, drug_exposure_id="int64", person_id="int64",
                drug_concept_id="int64", drug_exposure_start_date="date", drug_exposure_end_date="date",
                route_concept_id="int64", quantity="float64", drug_source_value="string",
                dose_unit_source_value="string")
        dc = cdm.keep("drug_concepts", _drug_concepts(v, settings))
        j = de.left_join(dc, de.drug_concept_id == dc.concept_id).drop("concept_id")
        if names is not None:
            j = j.left_join(names, j.drug_concept_id == names.concept_id).drop("concept_id")
        else:
            j = j.mutate(concept_name=ibis.null("string"))
        # Source-value rule: the drug dictionary's names (hetrombopag, rhTPO have no concept).
        dn = dictionary_names(settings)
        src = j.drug_source_value.strip().lower()
        j = j.mutate(_src=src)
        k = j.left_join(dn, j.role.isnull() & ((j._src == dn._name) | j._src.startswith(dn._name + " ")))
        k = k.mutate(_r=ibis.row_number().over(group_by="drug_exposure_id", order_by=k._name.length().desc()))
        k = k.filter(k._r == 0)
        role = k.role.coalesce(k._dict_role)
        drug_name = k.drug_name.coalesce(k._dict_drug).coalesce(k.concept_name)
        ex = settings.get("study_drug_exclude", {})
        words = [w.lower() for w in ex.get("name_words", [])]
        topical = k.route_concept_id.isin([int(r) for r in ex.get("route_concept_ids", [])]).fill_null(False)
        for w in words:
            topical |= k.concept_name.lower().re_search(rf"\b{w}\b").fill_null(False)
            topical |= k.drug_source_value.lower().re_search(rf"\b{w}\b").fill_null(False)
        is_topical = (role == "study_drug") & topical
        e = k.mutate(
            role=ibis.cases((is_topical, "other"), else_=role),
            drug_name=ibis.cases((is_topical, drug_name + " (topical)"), else_=drug_name),
        )
        e = e.filter(e.role.notnull())
        e = with_patient(e)
        e = e.select(
            "patient_id", "role", "drug_name",
            drug=e.drug_source_value.coalesce(e.concept_name).coalesce(e.drug_name),
            start_date=e.drug_exposure_start_date, end_date=e.drug_exposure_end_date,
            dose=ibis.cases((e.dose_unit_source_value.notnull(), e.quantity), else_=ibis.null("float64")),
            dose_unit=e.dose_unit_source_value,
            source_row=e.drug_exposure_id, source_table=ibis.literal("DRUG_EXPOSURE"),
        )
        exposures = cdm.keep("exposures", _dated(e, death, "start_date"))
    sd = exposures.filter(exposures.role == "study_drug") if exposures is not None else None
    day0 = (cdm.keep("day0", sd.group_by("patient_id").aggregate(day0=sd.start_date.min())) if sd is not None
            else _empty({"patient_id": "string", "day0": "date"}))

    # -- labs and body measurements --------------------------------------------------------------
    labs = None
    body: dict[str, ir.Table] = {}
    if cdm.has("measurement"):
        m = _t(cdm, "measurement", log, measurement_id="int64", person_id="int64",
               measurement_concept_id="int64", measurement_date="date", value_as_number="float64",
               unit_concept_id="int64", range_low="float64", range_high="float64",
               unit_source_value="string")
        m = cdm.keep("measurement_persons", with_patient(m))
        lc = cdm.keep("lab_concepts", _lab_concepts(v, settings))
        l = m.join(lc, m.measurement_concept_id == lc.concept_id).drop("concept_id")
        tests = knowledge.lab_tests()
        q = ibis.memtable({"_test": list(tests), "_quantity": [t.quantity for t in tests.values()],
                           "_canonical": [t.canonical_unit for t in tests.values()]})
        l = l.join(q, l.test == q._test).drop("_test")
        by_id, by_text = _unit_rules(settings)
        l = l.left_join(by_id, (l._quantity == by_id._q) & (l.unit_concept_id == by_id._uid)).drop("_q", "_uid")
        l = l.mutate(_ukey=_unit_key(l.unit_source_value))
        l = l.left_join(by_text, (l._quantity == by_text._q2) & (l._ukey == by_text._tkey))
        l = l.drop("_q2", "_tkey")
        factor = l._f1.coalesce(l._f2)
        no_value = l.value_as_number.isnull()
        l = l.mutate(_factor=factor)
        lab_rows = l.filter(~no_value)
        n_no_value = int(l.filter(no_value).count().execute())
        if n_no_value:
            log.warn("MEASUREMENT", f"{n_no_value} measurement(s) of a lab concept set without "
                     "value_as_number (a coded result only): not read")
        labs = lab_rows.select(
            "patient_id", "test",
            date=lab_rows.measurement_date,
            test_as_written=lab_rows.measurement_concept_id.cast("string"),
            value=lab_rows.value_as_number * lab_rows._factor,
            unit=ibis.cases((lab_rows._factor.notnull(), lab_rows._canonical), else_=ibis.null("string")),
            lln=lab_rows.range_low * lab_rows._factor,
            uln=lab_rows.range_high * lab_rows._factor,
            value_as_written=lab_rows.value_as_number,
            unit_as_written=lab_rows.unit_source_value.coalesce(lab_rows.unit_concept_id.cast("string")),
            source_row=lab_rows.measurement_id, source_table=ibis.literal("MEASUREMENT"),
        )
        labs = cdm.keep("labs", _dated(labs, death, "date"))
        _check_labs(labs, tests, log)
        for column, spec in settings.get("body", {}).items():
            s = v.concept_set(f"body.{column}", spec, descendants=False)
            b = m.join(s, m.measurement_concept_id == s.concept_id)
            rule = ibis.memtable({"_bu": [int(k) for k in spec.get("units", {})],
                                  "_bf": [float(x) for x in spec.get("units", {}).values()]})
            b = b.left_join(rule, b.unit_concept_id == rule._bu)
            # Unit 0 or unknown: taken as the canonical unit (cm, kg), as Eunomia writes them.
            b = b.filter(b.value_as_number.notnull())
            body[column] = b.select("patient_id", date=b.measurement_date,
                                    value=b.value_as_number * b._bf.fill_null(1.0), _id=b.measurement_id)

    # -- transfusions ---------------------------------------------------------------------------
    tr_parts = []
    for table, cid, date, src, key in (
            ("procedure_occurrence", "procedure_concept_id", "procedure_date", "procedure_source_value",
             "procedure_occurrence_id"),
            ("device_exposure", "device_concept_id", "device_exposure_start_date", "device_source_value",
             "device_exposure_id")):
        if not cdm.has(table):
            continue
        r = _t(cdm, table, log, **{key: "int64", "person_id": "int64", cid: "int64", date: "date",
                                   "quantity": "float64", src: "string"})
        prod_parts = []
        for product, spec in settings["transfusions"].items():
            s = v.concept_set(f"transfusions.{product}", spec, descendants=spec.get("descendants", True))
            by_concept = r.join(s, r[cid] == s.concept_id).select(_k=r[key], _product=ibis.literal(product))
            prod_parts.append(by_concept)
            values = [str(x).lower() for x in spec.get("source_values", [])]
            if values:
                by_src = r.filter(r[src].strip().lower().isin(values))
                prod_parts.append(by_src.select(_k=by_src[key], _product=ibis.literal(product)))
        prod = ibis.union(*prod_parts, distinct=True)
        prod = cdm.keep(f"{table}_products", prod.group_by("_k").aggregate(_product=prod._product.min()))
        x = with_patient(r.join(prod, r[key] == prod._k))
        x = x.select("patient_id", date=x[date], product=x._product, units=x.quantity,
                     source_row=x[key], source_table=ibis.literal(table.upper()))
        x = _dated(x, death, "date")
        tr_parts.append(x)
    transfusions = cdm.keep("transfusions", ibis.union(*tr_parts)) if tr_parts else None

    # -- conditions: bleeding and tumour type ----------------------------------------------------
    bl_parts, tumor = [], None
    if cdm.has("condition_occurrence"):
        co = _t(cdm, "condition_occurrence", log, condition_occurrence_id="int64", person_id="int64",
                condition_concept_id="int64", condition_start_date="date", condition_source_value="string")
        co = with_patient(co)
        grade_parts = []
        for row in who:
            item = {"vocabulary": row["vocabulary"], "code": row["code"], "name": row["name"]}
            if row.get("concept_id"):
                item["id"] = int(row["concept_id"])
            s = v.concept_set(f"bleeding {row['name']}", {"include": [item]})
            grade_parts.append(s.mutate(_grade=ibis.literal(int(row["who_grade"]), "int64"),
                                        _site=ibis.literal(row.get("site") or row["name"])))
        if grade_parts:
            g = ibis.union(*grade_parts)
            # A descendant of two mapped conditions takes the higher grade.
            g = g.mutate(_r=ibis.row_number().over(group_by="concept_id", order_by=g._grade.desc()))
            g = cdm.keep("who_grades", g.filter(g._r == 0).drop("_r"))
            b = co.join(g, co.condition_concept_id == g.concept_id)
            bl = b.select("patient_id", date=b.condition_start_date, who_grade=b._grade, site=b._site,
                          source_row=b.condition_occurrence_id, source_table=ibis.literal("CONDITION_OCCURRENCE"))
            bl_parts.append(bl)
        solid = cdm.keep("solid_tumor", v.concept_set("solid_tumor", settings["solid_tumor"]))
        st = co.join(solid, co.condition_concept_id == solid.concept_id)
        if names is not None:
            st = st.left_join(names, st.condition_concept_id == names.concept_id)
            tumor_name = st.concept_name.coalesce(st.condition_source_value)
        else:
            tumor_name = st.condition_source_value
        tumor = st.select("patient_id", date=st.condition_start_date, value=tumor_name,
                          _id=st.condition_occurrence_id)

    # -- observations: bleeding grades, pre-therapy platelets, adverse events ----------------------
    adverse_events, pre_plt = None, None
    if cdm.has("observation"):
        o = _t(cdm, "observation", log, observation_id="int64", person_id="int64",
               observation_concept_id="int64", observation_date="date", value_as_number="float64",
               value_as_string="string")
        o = with_patient(o)
        s = v.concept_set("bleeding_grade_observation", settings["bleeding_grade_observation"], descendants=False)
        ob = o.join(s, o.observation_concept_id == s.concept_id)
        bl_parts.append(ob.select("patient_id", date=ob.observation_date,
                                  who_grade=ob.value_as_number.cast("int64"), site=ob.value_as_string,
                                  source_row=ob.observation_id, source_table=ibis.literal("OBSERVATION")))
        s = v.concept_set("pre_therapy_platelets", settings["pre_therapy_platelets"], descendants=False)
        op = o.join(s, o.observation_concept_id == s.concept_id)
        pre_plt = op.select("patient_id", date=op.observation_date, value=op.value_as_number,
                            _id=op.observation_id)
        cls = settings.get("adverse_event_class")
        if cls and v.concept is not None:
            c = v.concept
            terms = c.filter((c.vocabulary_id == cls["vocabulary"]) & (c.concept_class_id == cls["concept_class"]))
            ae = o.join(terms, o.observation_concept_id == terms.concept_id)
            flags = ae.value_as_string.lower()
            adverse_events = ae.select(
                "patient_id", term=ae.concept_name, grade=ae.value_as_number.cast("int64"),
                start_date=ae.observation_date, end_date=ibis.null("date"),
                serious=flags.re_extract(r"serious=(\w+)", 1).nullif(""),
                related=flags.re_extract(r"related=(\w+)", 1).nullif(""),
                source_row=ae.observation_id, source_table=ibis.literal("OBSERVATION"))
            adverse_events = cdm.keep("adverse_events", _dated(adverse_events, death, "start_date"))
    bleeding = None
    if bl_parts:
        bleeding = cdm.keep("bleeding", _dated(ibis.union(*bl_parts), death, "date"))

    # -- patients --------------------------------------------------------------------------------
    pt = persons.left_join(day0, "patient_id").drop("patient_id_right")
    before = (pt.month_of_birth.fill_null(1) > pt.day0.month()) | (
        (pt.month_of_birth.fill_null(1) == pt.day0.month()) & (pt.day_of_birth.fill_null(1) > pt.day0.day()))
    age = pt.day0.year() - pt.year_of_birth - before.cast("int64")
    pt = pt.mutate(age_years=age.cast("float64"),
                   sex=pt.gender_concept_id.cases(*GENDER.items(), else_="U"))
    facts = {**body}
    if tumor is not None:
        facts["tumor_type"] = tumor
    if pre_plt is not None:
        facts["pre_therapy_platelets"] = pre_plt
    for column, f in facts.items():
        f = f.left_join(day0, "patient_id").drop("patient_id_right")
        on_before = (f.day0.notnull() & (f.date <= f.day0)).cast("int64")
        f = f.mutate(_r=ibis.row_number().over(
            group_by="patient_id",
            order_by=[on_before.desc(), ibis.cases((on_before == 1, f.date), else_=ibis.null("date")).desc(),
                      f.date, f._id]))
        f = f.filter(f._r == 0).select(_fp="patient_id", **{column: f.value})
        pt = pt.left_join(f, pt.patient_id == f._fp).drop("_fp")
    for column in ("height_cm", "weight_kg", "tumor_type", "pre_therapy_platelets"):
        if column not in pt.columns:
            pt = pt.mutate(**{column: ibis.null("string" if column == "tumor_type" else "float64")})
    pt = pt.left_join(death, pt.patient_id == death._pid)
    patients = pt.select("patient_id", "sex", "age_years", "height_cm", "weight_kg", "tumor_type",
                         "pre_therapy_platelets", index_date=ibis.null("string"),
                         death_date=pt._death, source_row=pt.person_id,
                         source_table=ibis.literal("PERSON"))

    tables = {"patients": cdm.keep("patients", patients)}
    for name, t in (("exposures", exposures), ("labs", labs), ("transfusions", transfusions),
                    ("bleeding", bleeding), ("adverse_events", adverse_events)):
        if t is not None:
            tables[name] = t
    _check_patients(persons, tables, log)
    return OmopTables(tables, day0, cdm, log)


def _check_labs(labs: ir.Table, tests: dict[str, Any], log: ProblemLog) -> None:
    """Contract errors: a unit that converts to nothing where one is needed; a platelet count
    outside 0-2000 x10^9/L; a negative value."""
    required = [c for c, t in tests.items() if t.unit_required]
    bad_unit = labs.filter(labs.test.isin(required) & labs.unit.isnull())
    for r in bad_unit.limit(5).to_pyarrow().to_pylist():
        log.error("MEASUREMENT", f"unknown or missing unit for {r['test']} (measurement_id {r['source_row']}): "
                  "add its unit_concept_id to the concept sets' units, or a unit_source_value "
                  "knowledge/units.csv knows", None, "unit_concept_id", r["unit_as_written"])
    bad = labs.filter(((labs.test == "PLT") & (labs.value > PLT_MAX)) | (labs.value < 0))
    for r in bad.limit(5).to_pyarrow().to_pylist():
        log.error("MEASUREMENT", f"{r['test']} value outside its range after conversion ({r['value']:g} "
                  f"{r['unit']}; measurement_id {r['source_row']})", None, "value_as_number",
                  r["value_as_written"])


def _check_patients(persons: ir.Table, tables: dict[str, ir.Table], log: ProblemLog) -> None:
    dup = persons.group_by("patient_id").aggregate(n=persons.count())
    for r in dup.filter((dup.n > 1) | dup.patient_id.isnull()).limit(5).to_pyarrow().to_pylist():
        log.error("PERSON", "duplicate or empty patient_id", None, "person_id", r["patient_id"])


def anchor(tables: dict[str, ir.Table], day0: ir.Table) -> dict[str, ir.Table]:
    """The canonical tables with integer days from day 0 (protocol section 1); dates dropped."""
    pairs = {"exposures": {"start_day": "start_date", "end_day": "end_date"},
             "labs": {"day": "date"}, "transfusions": {"day": "date"}, "bleeding": {"day": "date"},
             "adverse_events": {"start_day": "start_date", "end_day": "end_date"}}
    z = day0.select(_p0="patient_id", _d0="day0")
    out = {}
    for name, t in tables.items():
        if name == "patients":
            j = t.left_join(z, t.patient_id == z._p0)
            out[name] = j.mutate(death_day=(j.death_date - j._d0).cast("int64")).drop("_p0", "_d0", "death_date")
            continue
        j = t.left_join(z, t.patient_id == z._p0)
        days = {day: j[date].delta(j._d0, unit="day") for day, date in pairs[name].items()}
        out[name] = j.mutate(**days).drop("_p0", "_d0", *pairs[name].values())
    return out


def _in_record_order(t: ir.Table) -> ir.Table:
    keys = [c for c in ("source_table", "source_row", "patient_id") if c in t.columns]
    return t.order_by(keys) if keys else t


def to_study(omop: OmopTables, tables: dict[str, ir.Table] | None = None, source: str = "") -> Study:
    """The adapter: execute the canonical expressions into today's pandas `Study`."""
    from ctit.engine.arrow import to_pandas

    log = omop.log
    tables = tables if tables is not None else anchor(omop.tables, omop.day0)
    # In the CDM's record order, whatever order the engine's joins produce: the same tables
    # on every engine, and a first-written adverse-event term is the first record's.
    frames = {name: conform(name, to_pandas(_in_record_order(t).to_pyarrow()))
              for name, t in tables.items() if name in TABLES}
    for name in REQUIRED_TABLES:
        # A CDM without DRUG_EXPOSURE or MEASUREMENT has none of those records: empty tables.
        frames.setdefault(name, empty_table(name))
    exp = frames.get("exposures")
    if exp is not None:
        bad = exp[(exp.end_day < exp.start_day).fillna(False)]
        for r in bad.head(5).itertuples():
            log.error("DRUG_EXPOSURE", f"ends on day {r.end_day}, before its start on day {r.start_day} "
                      f"(drug_exposure_id {r.source_row})", None, "drug_exposure_end_date")
    log.raise_if_errors()
    pts = frames["patients"]
    with_day0 = set(exp.patient_id[exp.role == "study_drug"]) if exp is not None else set()
    n_without = int((~pts.patient_id.isin(with_day0)).sum())
    roles = exp.role.value_counts() if exp is not None else pd.Series(dtype="int64")
    labs = frames.get("labs")
    n_plt = int((labs.test == "PLT").sum()) if labs is not None else 0
    summary = ("read by concept set: " + ", ".join(
        f"{r} {int(roles.get(r, 0))}" for r in ("study_drug", "tpo_ra", "anticancer", "other"))
        + f" drug exposures, {n_plt} platelet counts")
    if n_without == len(pts) and len(pts):
        log.warn("DRUG_EXPOSURE", f"none of the {len(pts)} persons has a study-drug exposure (concept "
                 "set drugs.study_drug: tretinoin, not topical), so nobody has a day 0 and the analysis "
                 f"excludes every person as no_study_drug ({summary})")
    cdm = omop.cdm
    # Rows read per CDM table: the records of a concept set (the others are outside the protocol).
    read: dict[str, int] = {}
    for frame in frames.values():
        if "source_table" not in frame.columns:
            continue
        for table, n in frame["source_table"].value_counts().items():
            read[str(table)] = read.get(str(table), 0) + int(n)
    inputs = []
    for table, n in read.items():
        key = table.lower()
        name = cdm.files[key].name if cdm is not None and key in cdm.files else table
        inputs.append(InputFile(table, name, n, file_sha256(cdm, key) if cdm else ""))
    return Study(**frames, inputs=inputs, warnings=log.warnings,
                 source=source or f"{cdm.source if cdm is not None else 'OMOP CDM'} ({summary})")


def read_omop(path: Path, concepts: Path | None = None, con: ibis.BaseBackend | None = None) -> Study:
    """Read an OMOP CDM (DuckDB file, CSV or Parquet folder, or on Spark a catalogue
    database) into the canonical `Study`, its queries run by `con` (DuckDB unless given).

    Raises `InputError` with every problem; `FileNotFoundError` when the source does not exist.
    """
    cdm = open_cdm(Path(path), con)
    settings = load_settings(concepts or cdm.override)
    with reading(cdm):
        return to_study(omop_tables(cdm, settings))
