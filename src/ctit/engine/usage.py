"""Which input rows the protocol's results rest on, and why the others do not count
(data contract: "every input row is either used or listed with the reason it was not")."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from ctit.engine.grading import load_criteria
from ctit.protocol import Protocol

_NO_DAY0 = "patient has no study-drug record, so no day 0"


def _listed(table: str, rows: ir.Table, reason: ir.StringValue) -> ir.Table:
    """The unused rows of one canonical table: the input table each came from (a reader may
    name it in `source_table`, e.g. an SDTM domain; else the canonical name), its row, why."""
    rows = rows.mutate(_reason=reason)
    rows = rows.filter(rows._reason.notnull())
    source = rows.source_table.cast("string") if "source_table" in rows.columns else ibis.literal(table)
    return rows.select(table=source, source_row=rows.source_row.cast("int64"), reason=rows._reason,
                       canonical_table=ibis.literal(table))


def derive_unused_rows(t: dict[str, ir.Table], screened: ir.Table, protocol: Protocol) -> ir.Table:
    """Every canonical row that no result uses: table (the input table), source_row, reason,
    canonical_table.

    Used rows: platelet counts in days [-max(lookbacks), followup_end_day]; graded labs of
    included patients in the enzyme baseline or treatment-emergent window (ALT/AST for the
    liver event, other terms for the other lab events); study-drug and TPO-RA exposures and
    anticancer drugs started before day 0 (prior therapy); counted transfusions that can
    touch a washout (days [1 - washout, followup_end_day]), bleeding assessments in the
    response period or the baseline window, and treatment-emergent adverse events, of
    included patients. Rows of a patient without a day 0 are never used.
    """
    p = protocol
    first_plt_day = -max(p.baseline_lookback_days, p.nadir_lookback_days)
    graded_tests = sorted({term.test for term in load_criteria().terms} - {"PLT"})
    who = screened.select(
        "patient_id", _day0=screened.first_drug_day.notnull(), _included=screened.included,
        _teae_end=screened.teae_end_day,
    )
    no_day0 = ibis.literal(_NO_DAY0)
    excluded = ibis.literal("patient excluded: no response or safety values")

    def gate(rows: ir.Table) -> list[tuple[ir.BooleanValue, ir.StringValue]]:
        """What comes before any window: the patient has a day 0 and is included."""
        return [(~rows._day0.fill_null(False), no_day0), (~rows._included, excluded)]

    labs = t["labs"].left_join(who, "patient_id")
    day = labs.day.cast("string")
    lab_reason = ibis.cases(
        (~labs._day0.fill_null(False), no_day0),
        ((labs.test == "PLT") & (labs.day < first_plt_day),
         "platelet count on day " + day + ", before the baseline and nadir windows"),
        ((labs.test == "PLT") & (labs.day > p.followup_end_day),
         "platelet count on day " + day + f", after followup_end_day {p.followup_end_day}"),
        (labs.test == "PLT", ibis.null("string")),
        (~labs.test.isin(graded_tests), labs.test + ": no CTCAE term; listed, not analysed"),
        (~labs._included, excluded),
        (~labs.day.between(-p.enzyme_baseline_lookback_days, labs._teae_end),
         labs.test + " on day " + day + ", outside the lab baseline and treatment-emergent windows"),
        else_=ibis.null("string"),
    )

    exp = t["exposures"].left_join(who, "patient_id")
    exp_reason = ibis.cases(
        (exp.role == "other", "drug " + exp.drug + " has role 'other': the protocol does not use it"),
        (~exp._day0.fill_null(False), no_day0),
        ((exp.role == "anticancer") & (exp.start_day >= 0),
         "anticancer drug starting on day " + exp.start_day.cast("string") + ": not a prior therapy"),
        else_=ibis.null("string"),
    )

    tr = t["transfusions"].left_join(who, "patient_id")
    tr_reason = ibis.cases(
        *gate(tr),
        (~tr["product"].isin(list(p.transfusion_products)),
         "product " + tr["product"] + " does not count for the transfusion washout"),
        (~tr.day.between(1 - p.transfusion_washout_days, p.followup_end_day),
         "transfusion on day " + tr.day.cast("string") + ", outside every possible washout"),
        else_=ibis.null("string"),
    )

    bl = t["bleeding"].left_join(who, "patient_id")
    bl_reason = ibis.cases(
        *gate(bl),
        (~bl.day.between(-p.baseline_bleeding_lookback_days, p.followup_end_day),
         "bleeding assessment on day " + bl.day.cast("string") + ", outside the baseline and response periods"),
        else_=ibis.null("string"),
    )

    ae = t["adverse_events"].left_join(who, "patient_id")
    ae_reason = ibis.cases(
        *gate(ae),
        (~ae.start_day.between(0, ae._teae_end),
         "starts on day " + ae.start_day.cast("string") + ", not treatment-emergent"),
        else_=ibis.null("string"),
    )

    return ibis.union(
        _listed("labs", labs, lab_reason),
        _listed("exposures", exp, exp_reason),
        _listed("transfusions", tr, tr_reason),
        _listed("bleeding", bl, bl_reason),
        _listed("adverse_events", ae, ae_reason),
    )
