"""CDISC SDTM domains -> the canonical `Study` (docs/cdisc.md, "Reading SDTM").

A folder of SDTM datasets (`.xpt`, `.csv`, `.rda`; `ctit.cdisc.domains`) is translated into
the data contract's raw tables, with dates, and handed to `ctit.readers.build_study`, so
validation, units, the drug dictionary and day 0 are exactly those of the CSV reader. How
domains fill tables is data: `knowledge/sdtm_mapping.yaml` (SDTM IG 3.4 variable names):

- DM (+ VS HEIGHT/WEIGHT, SUPPDM) -> patients; `index_date` = RFXSTDTC, else the first EX
  start, else RFSTDTC: the subject's day 0, so writers can give dates;
- EX, CM -> exposures (role from a name given with --study-drug / --tpo-ra, else --CAT when
  the mapping knows the category, else the drug dictionary);
- LB -> labs (LBTESTCD through the test aliases, LBSTRESN/LBSTRESU/LBSTNRLO/LBSTNRHI);
- AE -> adverse_events (AETOXGR; AESEV mapped to a grade when AETOXGR is absent, with a warning);
- PR -> transfusions (treatments the mapping lists as blood products);
- FA rows with FATESTCD = WHOBLDGR -> bleeding.

Time (SDTM IG 3.4 4.4): --DTC dates are ISO 8601, partial ones imputed by the mapping's rules
(`ctit.cdisc.dates`; one warning per dataset and variable, with the count and examples). A row with only --DY is placed at
reference date (RFSTDTC) + day when its subject has dates elsewhere, else it gives the
contract day --DY - 1 (--DY >= 1) or --DY (before the first dose): CDISC has no day 0.

Rows that cannot enter the contract (a lab test ctit does not know, a result with no
numeric value, a PR procedure that is not a transfusion, an FA test other than the bleeding
grade, a findings date that is partial) are listed in `Study.unused_rows` with the reason and
summarised in warnings: nothing is dropped silently (data contract, "Bad input").

Problems name the domain (or the split dataset, e.g. LBHE), the row (a CSV row as a
spreadsheet shows it, header = 1; an .xpt/.rda observation number), the SDTM variable and
its value: problems found by `build_study` are translated back to the domain row.
"""

from __future__ import annotations

from collections import defaultdict
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Iterator

import pandas as pd

from ctit import knowledge
from ctit.cdisc.dates import DtcError, parse_dtc, study_day_to_day
from ctit.cdisc.domains import DomainFile, find_domain_files, read_domain
from ctit.cdisc.mapping import as_list, domains_used, load_mapping
from ctit.errors import InputError, Problem, ProblemLog
from ctit.readers.files import SOURCE_ROW
from ctit.readers.normalize import build_study
from ctit.study import TABLES, Study

# Extra columns every translated row carries into the Study (kept after the canonical ones).
PROVENANCE = ("sdtm_domain", "sdtm_row", "sdtm_seq")
TRIAL_DESIGN = {"TA", "TD", "TE", "TI", "TM", "TS", "TV"}
# Treatments named on the command line (--study-drug, --tpo-ra): EXTRT/CMTRT/CMDECOD (any
# case) -> role; they win over --CAT and the drug dictionary.
_NAMED_ROLES: ContextVar[dict[str, str]] = ContextVar("ctit_sdtm_named_roles", default={})
ADVICE = ("give --CAT (EXCAT/CMCAT) a category listed under the mapping's role_categories "
          "(e.g. STUDY DRUG, TPO-RA), or name the treatment with --study-drug / --tpo-ra")


def role_names(study_drugs: Iterable[str] = (), tpo_ras: Iterable[str] = ()) -> dict[str, str]:
    """Treatment names -> role, as --study-drug and --tpo-ra give them."""
    out = {str(n).strip().upper(): "study_drug" for n in study_drugs}
    out.update({str(n).strip().upper(): "tpo_ra" for n in tpo_ras})
    return out


@contextmanager
def named_roles(roles: dict[str, str]) -> Iterator[None]:
    """Within the block, `read_sdtm` classifies these treatment names by these roles."""
    token = _NAMED_ROLES.set({str(k).strip().upper(): v for k, v in roles.items()})
    try:
        yield
    finally:
        _NAMED_ROLES.reset(token)


@dataclass
class Domain:
    """All rows of one domain (split datasets concatenated), as text with their origin."""

    name: str
    data: pd.DataFrame                 # variables, plus _table (name for messages) and _row
    files: list[DomainFile] = field(default_factory=list)

    def get(self, variable: str | list[str] | None) -> pd.Series:
        """A variable as text (the first present, non-empty one of a list), missing if absent."""
        out = pd.Series(pd.NA, index=self.data.index, dtype="string")
        for v in as_list(variable):
            if v.upper() in self.data.columns:
                out = out.fillna(self.data[v.upper()])
        return out

    def first_variable(self, variable: str | list[str] | None) -> str:
        names = as_list(variable)
        present = [v for v in names if v.upper() in self.data.columns]
        return (present or names or ["?"])[0].upper()


def _load(folder: Path, domains: list[str], preference: list[str],
          log: ProblemLog) -> tuple[dict[str, Domain], list[Path]]:
    files, ignored = find_domain_files(folder, domains, preference)
    out: dict[str, Domain] = {}
    for name, paths in files.items():
        parts = read_domain(name, paths)
        frames = []
        for f in parts:
            d = f.data.copy()
            # A split dataset is named by its file stem (LBHE), so its row numbers are unambiguous.
            d["_table"] = name if len(parts) == 1 else f.path.stem.upper()
            d["_row"] = f.rows.to_numpy()
            frames.append(d)
        out[name] = Domain(name, pd.concat(frames, ignore_index=True), parts)
    return out, ignored


class _Translator:
    """SDTM domains -> raw contract tables, collecting problems against domain rows."""

    def __init__(self, domains: dict[str, Domain], mapping: dict[str, Any], log: ProblemLog,
                 named: dict[str, str] | None = None) -> None:
        self.named = named or {}
        self.d = domains
        self.m = mapping
        self.log = log
        self.subject = mapping["subject"].upper()
        self.rows: dict[str, list[pd.DataFrame]] = defaultdict(list)     # contract table -> parts
        self.columns: dict[tuple[str, str], dict[str, str]] = {}        # (table, domain) -> column -> variable
        self.unused: list[tuple[str, int, str]] = []

    # -- cells -------------------------------------------------------------------------
    def _subjects(self, dom: Domain) -> pd.Series:
        sid = dom.get(self.subject)
        for i in sid[sid.isna()].index:
            self.log.error(dom.data.at[i, "_table"], f"required {self.subject} is missing",
                           int(dom.data.at[i, "_row"]), self.subject)
        return sid

    def _dtc(self, dom: Domain, variable: str | None, rule: str) -> tuple[pd.Series, pd.Series]:
        """(ISO date text or missing, partial-and-not-imputed flag) of one --DTC variable.

        Each distinct text is parsed once; errors are per row, imputations one warning per dataset."""
        text = dom.get(variable)
        parsed: dict[str, tuple[str | None, bool, bool, str | None]] = {}
        for value in text.dropna().unique():
            try:
                dtc = parse_dtc(value)
            except DtcError as exc:
                parsed[value] = (None, False, False, str(exc))
                continue
            date = dtc.impute(rule)  # type: ignore[arg-type]
            parsed[value] = (None if date is None else date.isoformat(), date is None,
                             date is not None and not dtc.complete, None)
        info = text.map(parsed, na_action="ignore")
        out = info.map(lambda x: x[0], na_action="ignore").astype("string")
        partial = info.map(lambda x: x[1], na_action="ignore").astype("boolean").fillna(False).astype(bool)
        imputed = info.map(lambda x: x[2], na_action="ignore").astype("boolean").fillna(False).astype(bool)
        error = info.map(lambda x: x[3], na_action="ignore")
        tables, rows, var = dom.data["_table"], dom.data["_row"], str(variable).upper()
        for i in error[error.notna()].index:
            self.log.error(tables.loc[i], error.loc[i], int(rows.loc[i]), var, text.loc[i])
        # One warning per dataset and variable, with the count and examples (a CM list can
        # hold thousands of partial dates).
        frame = pd.DataFrame({"t": tables[imputed], "r": rows[imputed], "v": text[imputed], "d": out[imputed]})
        for t, g in frame.groupby("t", sort=False):
            examples = ", ".join(f"{v} -> {d}" for v, d in
                                 g.drop_duplicates("v")[["v", "d"]].head(3).itertuples(index=False))
            n = len(g)
            self.log.warn(t, f"{n} partial date{'s' if n != 1 else ''} imputed by rule '{rule}' (the "
                          f"{rule} day of the missing period; first shown; e.g. {examples}; docs/cdisc.md)",
                          int(g.r.iloc[0]), var, g.v.iloc[0])
        return out, partial

    def _dy(self, dom: Domain, variable: str | None) -> pd.Series:
        """--DY -> contract day (no day 0 in CDISC); errors for non-integers and 0."""
        text = dom.get(variable)
        num = pd.to_numeric(text.astype("object"), errors="coerce").astype("float64")
        bad = text.notna() & (num.isna() | (num != num.round()) | (num == 0))
        tables, rows, var = dom.data["_table"], dom.data["_row"], str(variable).upper()
        for i in bad[bad].index:
            msg = ("--DY 0 does not exist: CDISC study days have no day 0" if num.loc[i] == 0
                   else "a study day must be a whole number")
            self.log.error(tables.loc[i], msg, int(rows.loc[i]), var, text.loc[i])
        num = num.where(~bad)
        return num.map(lambda d: d if pd.isna(d) else study_day_to_day(int(d)), na_action="ignore").astype("Int64")

    def _add(self, table: str, dom: Domain, index: pd.Index, columns: dict[str, pd.Series],
             variables: dict[str, str], seq: pd.Series | None = None) -> None:
        """Rows `index` of `dom` into contract `table`; `variables` says which SDTM variable
        each contract column came from (for messages)."""
        self.columns[(table, dom.name)] = {"patient_id": self.subject, **variables}
        frame = pd.DataFrame({c: s.loc[index] for c, s in columns.items()}, index=index)
        frame["sdtm_domain"] = dom.data["_table"].loc[index]
        # The input table of each row, for the row accounting (results.json inputs, unused_rows).
        frame["source_table"] = frame["sdtm_domain"]
        frame["sdtm_row"] = dom.data["_row"].loc[index].astype("Int64")
        frame["sdtm_seq"] = (pd.Series(pd.NA, index=index, dtype="string") if seq is None
                             else seq.loc[index])
        frame["_dom"] = dom.name
        self.rows[table].append(frame.reset_index(drop=True))

    def _unused(self, dom: Domain, mask: pd.Series, reason: str, column: str | None = None) -> None:
        """Rows that cannot enter the contract: listed, and one warning per reason."""
        idx = mask[mask.fillna(False)].index
        if not len(idx):
            return
        t, r = dom.data["_table"], dom.data["_row"]
        for i in idx:
            self.unused.append((str(t.loc[i]), int(r.loc[i]), reason))
        first = idx[0]
        value = dom.data.at[first, column] if column and column in dom.data.columns else None
        self.log.warn(str(t.loc[first]), f"{len(idx)} row{'s' if len(idx) != 1 else ''} not used "
                      f"(first shown): {reason}", int(r.loc[first]), column,
                      None if value is None or pd.isna(value) else value)

    def _time(self, table: str, dom: Domain, day_col: str, date_col: str, dtc_var: str | None,
              dy_var: str | None, rule: str) -> tuple[dict[str, pd.Series], dict[str, str], pd.Series]:
        """A contract day/date pair from --DTC and --DY; the partial-date mask."""
        date, partial = self._dtc(dom, dtc_var, rule)
        day = self._dy(dom, dy_var)
        # A date wins; --DY is kept only where there is no date (resolved per subject later).
        day = day.where(date.isna() & ~partial)
        return ({date_col: date, day_col: day},
                {date_col: str(dtc_var).upper(), day_col: str(dy_var).upper()}, partial)

    # -- domains -----------------------------------------------------------------------
    def patients(self) -> None:
        spec = self.m["patients"]
        dom = self.d.get(spec["domain"].upper())
        if dom is None:
            return
        sid = self._subjects(dom)
        age_unit = dom.get(spec.get("age_unit")).str.upper()
        age = dom.get(spec["age"]).where(age_unit.isna() | (age_unit == "YEARS"))
        for i in age_unit[age_unit.notna() & (age_unit != "YEARS")].index:
            self.log.warn(dom.data.at[i, "_table"], "age not in YEARS: not used",
                          int(dom.data.at[i, "_row"]), spec.get("age_unit"), age_unit.loc[i])
        self.reference: dict[str, str] = {}
        ref, _ = self._dtc(dom, spec.get("study_day_reference"), self.m["imputation"]["start"])
        index = pd.Series(pd.NA, index=dom.data.index, dtype="string")
        index_var = pd.Series(pd.NA, index=dom.data.index, dtype="string")
        for source in as_list(spec["index_date"]):
            if source.upper() in self.d and source.upper() != dom.name:
                first = self._first_start(source.upper())
                value = sid.map(first).astype("string")
            else:
                value, _ = self._dtc(dom, source, self.m["imputation"]["start"])
            index_var = index_var.mask(index.isna() & value.notna(), source.upper())
            index = index.fillna(value)
        for i in sid.index:
            if pd.notna(sid.loc[i]):
                r = ref.loc[i] if pd.notna(ref.loc[i]) else index.loc[i]
                if pd.notna(r):
                    self.reference[str(sid.loc[i])] = str(r)
        extra = self._vitals(sid, index)
        extra.update(self._supplemental(sid))
        extra.update({column: dom.get(var) for column, var in spec.get("keep", {}).items()})
        columns = {"patient_id": sid, "sex": dom.get(spec["sex"]), "age_years": age,
                   "index_date": index, **extra}
        variables = {"sex": spec["sex"], "age_years": spec["age"], "index_date": "RFXSTDTC",
                     "height_cm": "VSSTRESN", "weight_kg": "VSSTRESN", "tumor_type": "QVAL",
                     "pre_therapy_platelets": "QVAL"}
        self._add("patients", dom, dom.data.index, columns, variables)
        self.known = set(sid.dropna())

    def _first_start(self, name: str) -> dict[str, str]:
        """Each subject's first start date in an exposure domain (for the index date)."""
        spec = next((e for e in self.m["exposures"] if e["domain"].upper() == name), None)
        dom = self.d[name]
        if spec is None:
            return {}
        quiet = ProblemLog()   # the exposure rows report their own date problems
        log, self.log = self.log, quiet
        try:
            start, _ = self._dtc(dom, spec["start"], self.m["imputation"]["start"])
        finally:
            self.log = log
        frame = pd.DataFrame({"sid": dom.get(self.subject), "start": start}).dropna()
        return frame.groupby("sid")["start"].min().to_dict()

    def _vitals(self, sid: pd.Series, index: pd.Series) -> dict[str, pd.Series]:
        """Height and weight: the last record on or before the index date, else the first."""
        spec = self.m["patients"]["vitals"]
        dom = self.d.get(spec["domain"].upper())
        out = {"height_cm": pd.Series(pd.NA, index=sid.index, dtype="string"),
               "weight_kg": pd.Series(pd.NA, index=sid.index, dtype="string")}
        if dom is None:
            return out
        vs_sid = self._subjects(dom)
        self._check_known(dom, vs_sid)
        test = dom.get(spec["test"]).str.upper()
        value = pd.to_numeric(dom.get(spec["value"]), errors="coerce")
        unit = dom.get(spec["unit"]).str.lower()
        date, _ = self._dtc(dom, spec["date"], self.m["imputation"]["point"])
        index_of = dict(zip(sid, index))
        for column, code, units in (("height_cm", spec["height"], spec["height_units"]),
                                    ("weight_kg", spec["weight"], spec["weight_units"])):
            rows = test == str(code).upper()
            self._unused(dom, rows & value.isna(), f"{code} without a numeric {spec['value']}", spec["value"])
            factor = unit.map({k.lower(): float(v) for k, v in units.items()})
            bad = rows & value.notna() & factor.isna()
            for i in bad[bad].index:
                self.log.error(dom.data.at[i, "_table"], f"unknown unit for {code}; accepted: "
                               f"{', '.join(units)}", int(dom.data.at[i, "_row"]),
                               str(spec["unit"]).upper(), dom.get(spec["unit"]).loc[i])
            ok = rows & value.notna() & factor.notna()
            frame = pd.DataFrame({"sid": vs_sid[ok], "value": (value * factor)[ok], "date": date[ok],
                                  "row": dom.data["_row"][ok]})
            frame["index"] = frame["sid"].map(index_of)
            frame["before"] = frame["date"].notna() & frame["index"].notna() & (frame["date"] <= frame["index"])
            # The last on/before day 0 wins; without one, the first record.
            frame = frame.sort_values(["sid", "before", "date", "row"], na_position="first")
            chosen = {}
            for s, g in frame.groupby("sid"):
                before = g[g["before"]]
                chosen[s] = (before.iloc[-1] if len(before) else g.iloc[0])["value"]
            out[column] = sid.map(chosen).astype("string")
        return out

    def _supplemental(self, sid: pd.Series) -> dict[str, pd.Series]:
        spec = self.m["patients"]["supplemental"]
        dom = self.d.get(spec["domain"].upper())
        out: dict[str, pd.Series] = {}
        if dom is None:
            return out
        supp_sid = self._subjects(dom)
        self._check_known(dom, supp_sid)
        qnam = dom.get("QNAM").str.upper()
        qval = dom.get("QVAL")
        wanted = {str(q).upper(): col for col, q in spec["qnam"].items()}
        self._unused(dom, ~qnam.isin(list(wanted)), "supplemental qualifier not in the mapping", "QNAM")
        for q, column in wanted.items():
            rows = qnam == q
            out[column] = sid.map(dict(zip(supp_sid[rows], qval[rows]))).astype("string")
        return out

    def _check_known(self, dom: Domain, sid: pd.Series) -> None:
        """Subjects of a domain that fills patients' columns must be in DM."""
        known = getattr(self, "known", None)
        dm = self.d.get(self.m["patients"]["domain"].upper())
        if dm is None:
            return
        known = set(dm.get(self.subject).dropna())
        bad = sid.notna() & ~sid.isin(known)
        for i in bad[bad].index:
            self.log.error(dom.data.at[i, "_table"], f"unknown subject: this {self.subject} is not in DM",
                           int(dom.data.at[i, "_row"]), self.subject, sid.loc[i])

    def exposures(self) -> None:
        roles = {str(k).upper(): v for k, v in self.m["role_categories"].items()}
        for spec in self.m["exposures"]:
            dom = self.d.get(spec["domain"].upper())
            if dom is None:
                continue
            sid = self._subjects(dom)
            names = as_list(spec["drug"])
            drug = pd.Series(pd.NA, index=dom.data.index, dtype="string")
            for v in names:   # the first variable whose value the dictionary knows
                value = dom.get(v)
                known = value.map(lambda x: knowledge.lookup_drug(x) is not None, na_action="ignore")
                drug = drug.fillna(value.where(known.fillna(False).astype(bool)))
            drug = drug.fillna(dom.get(names))
            category = dom.get(spec.get("category")).str.upper()
            role = category.map(roles).astype("string")
            if self.named:
                by_name = pd.Series(pd.NA, index=dom.data.index, dtype="string")
                for v in names:
                    by_name = by_name.fillna(dom.get(v).str.strip().str.upper().map(self.named).astype("string"))
                role = by_name.fillna(role)
            dict_role = drug.map(lambda x: getattr(knowledge.lookup_drug(x), "role", None),
                                 na_action="ignore")
            # Unknown treatments with no category: role 'other' stated here once per domain
            # (a concomitant-medication list has hundreds), not once per name.
            unknown = role.isna() & dict_role.isna() & drug.notna()
            if unknown.any() and spec["domain"].upper() != "EX":
                n = int(drug[unknown].str.lower().nunique())
                i = unknown[unknown].index[0]
                self.log.warn(dom.data.at[i, "_table"], f"{int(unknown.sum())} rows of {n} treatment(s) "
                              f"not in the drug dictionary: role 'other' (first shown); to classify one, {ADVICE}",
                              int(dom.data.at[i, "_row"]), dom.first_variable(names), drug.loc[i])
                role = role.mask(unknown, "other")
            times, variables, _ = self._time("exposures", dom, "start_day", "start_date",
                                             spec["start"], spec.get("start_study_day"),
                                             self.m["imputation"]["start"])
            end, end_vars, _ = self._time("exposures", dom, "end_day", "end_date", spec.get("end"),
                                          spec.get("end_study_day"), self.m["imputation"]["end"])
            no_start = times["start_date"].isna() & times["start_day"].isna()
            effective = role.fillna(dict_role.astype("string"))
            irrelevant = no_start & (effective == "other") & dom.get(spec["start"]).isna()
            self._unused(dom, irrelevant, f"no start ({str(spec['start']).upper()}) for a treatment "
                         "of role 'other' (not used by the protocol)", dom.first_variable(names))
            keep = sid.notna() & ~irrelevant
            columns = {"patient_id": sid, "drug": drug, "role": role, **times, **end,
                       "dose": dom.get(spec.get("dose")), "dose_unit": dom.get(spec.get("dose_unit"))}
            variables = {"drug": dom.first_variable(names), "role": str(spec.get("category")).upper(),
                         **variables, **end_vars, "dose": str(spec.get("dose")).upper(),
                         "dose_unit": str(spec.get("dose_unit")).upper()}
            self._add("exposures", dom, keep[keep].index, columns, variables, dom.get(spec.get("seq")))

    def labs(self) -> None:
        spec = self.m["labs"]
        dom = self.d.get(spec["domain"].upper())
        if dom is None:
            return
        sid = self._subjects(dom)
        test = dom.get(spec["test"])
        code = test.map(knowledge.lab_test_code, na_action="ignore")
        unknown = test.notna() & code.isna()
        for t, g in pd.DataFrame({"t": test[unknown]}).groupby("t", sort=False):
            self._unused(dom, test == t, f"lab test {t} is not one ctit knows (not used by the "
                         "protocol)", str(spec["test"]).upper())
        value = dom.get(spec["value"])
        no_value = ~unknown & value.isna() & test.notna()
        for t, g in pd.DataFrame({"t": test[no_value]}).groupby("t", sort=False):
            self._unused(dom, no_value & (test == t), f"{t} without a numeric result "
                         f"({str(spec['value']).upper()} empty)", str(spec["value"]).upper())
        times, variables, partial = self._time("labs", dom, "day", "date", spec["date"],
                                               spec.get("study_day"), self.m["imputation"]["point"])
        partial = partial & ~unknown & ~no_value
        self._unused(dom, partial, f"partial {str(spec['date']).upper()}: a result's day is not "
                     "imputed (docs/cdisc.md)", str(spec["date"]).upper())
        keep = sid.notna() & ~unknown & ~no_value & ~partial
        columns = {"patient_id": sid, "test": test, "value": value, "unit": dom.get(spec["unit"]),
                   "lln": dom.get(spec.get("lln")), "uln": dom.get(spec.get("uln")), **times}
        variables = {"test": spec["test"], "value": spec["value"], "unit": spec["unit"],
                     "lln": spec.get("lln"), "uln": spec.get("uln"), **variables}
        self._add("labs", dom, keep[keep].index, columns, {k: str(v).upper() for k, v in variables.items()},
                  dom.get(spec.get("seq")))

    def adverse_events(self) -> None:
        spec = self.m["adverse_events"]
        dom = self.d.get(spec["domain"].upper())
        if dom is None:
            return
        sid = self._subjects(dom)
        grade = dom.get(spec["grade"])
        severity = dom.get(spec.get("severity")).str.upper()
        from_sev = severity.map({str(k).upper(): str(v) for k, v in spec["severity_grades"].items()})
        use_sev = grade.isna() & from_sev.notna()
        if use_sev.any():
            i = use_sev[use_sev].index[0]
            self.log.warn(dom.data.at[i, "_table"], f"{int(use_sev.sum())} rows without "
                          f"{str(spec['grade']).upper()}: grade taken from {str(spec['severity']).upper()} "
                          f"({', '.join(f'{k} {v}' for k, v in spec['severity_grades'].items())}; first shown)",
                          int(dom.data.at[i, "_row"]), str(spec["severity"]).upper(), severity.loc[i])
        grade = grade.fillna(from_sev.astype("string"))
        related_map = {str(k).upper(): v for k, v in spec["related_values"].items()}
        related_text = dom.get(spec.get("related"))
        related = related_text.str.upper().map(related_map).astype("string")
        unmapped = related_text.notna() & related.isna()
        if unmapped.any():
            i = unmapped[unmapped].index[0]
            self.log.warn(dom.data.at[i, "_table"], f"{int(unmapped.sum())} causality value(s) not in the "
                          "mapping's related_values: left empty (first shown)", int(dom.data.at[i, "_row"]),
                          str(spec["related"]).upper(), related_text.loc[i])
        start, start_vars, _ = self._time("adverse_events", dom, "start_day", "start_date", spec["start"],
                                          spec.get("start_study_day"), self.m["imputation"]["start"])
        end, end_vars, _ = self._time("adverse_events", dom, "end_day", "end_date", spec.get("end"),
                                      spec.get("end_study_day"), self.m["imputation"]["end"])
        columns = {"patient_id": sid, "term": dom.get(spec["term"]), "grade": grade, **start, **end,
                   "serious": dom.get(spec.get("serious")), "related": related}
        variables = {"term": dom.first_variable(spec["term"]),
                     "grade": str(spec["grade"]).upper(), **start_vars, **end_vars,
                     "serious": str(spec.get("serious")).upper(), "related": str(spec.get("related")).upper()}
        keep = sid.notna()
        self._add("adverse_events", dom, keep[keep].index, columns, variables, dom.get(spec.get("seq")))

    def transfusions(self) -> None:
        spec = self.m["transfusions"]
        dom = self.d.get(spec["domain"].upper())
        if dom is None:
            return
        sid = self._subjects(dom)
        products = {str(n).strip().upper(): p for p, names in spec["products"].items() for n in names}
        product = pd.Series(pd.NA, index=dom.data.index, dtype="string")
        for v in as_list(spec["treatment"]):
            product = product.fillna(dom.get(v).str.upper().map(products).astype("string"))
        self._unused(dom, product.isna(), "not a transfusion listed in the mapping (a procedure)",
                     dom.first_variable(spec["treatment"]))
        times, variables, partial = self._time("transfusions", dom, "day", "date", spec["date"],
                                               spec.get("study_day"), self.m["imputation"]["point"])
        partial = partial & product.notna()
        self._unused(dom, partial, f"partial {str(spec['date']).upper()}: not imputed", str(spec["date"]).upper())
        keep = sid.notna() & product.notna() & ~partial
        columns = {"patient_id": sid, "product": product, "units": dom.get(spec.get("units")), **times}
        variables = {"product": dom.first_variable(spec["treatment"]),
                     "units": str(spec.get("units")).upper(), **variables}
        self._add("transfusions", dom, keep[keep].index, columns, variables, dom.get(spec.get("seq")))

    def bleeding(self) -> None:
        spec = self.m["bleeding"]
        dom = self.d.get(spec["domain"].upper())
        if dom is None:
            return
        sid = self._subjects(dom)
        test = dom.get(spec["test"]).str.upper()
        other = test != str(spec["code"]).upper()
        self._unused(dom, other.fillna(True), f"{str(spec['test']).upper()} is not "
                     f"{spec['code']} (the bleeding grade)", str(spec["test"]).upper())
        times, variables, partial = self._time("bleeding", dom, "day", "date", spec["date"],
                                               spec.get("study_day"), self.m["imputation"]["point"])
        partial = partial & ~other.fillna(True)
        self._unused(dom, partial, f"partial {str(spec['date']).upper()}: not imputed", str(spec["date"]).upper())
        keep = sid.notna() & ~other.fillna(True) & ~partial
        columns = {"patient_id": sid, "who_grade": dom.get(spec["value"]), "site": dom.get(spec.get("site")),
                   **times}
        variables = {"who_grade": str(spec["value"]).upper(), "site": str(spec.get("site")).upper(), **variables}
        self._add("bleeding", dom, keep[keep].index, columns, variables, dom.get(spec.get("seq")))

    # -- days and dates per subject ----------------------------------------------------------
    def resolve_study_days(self) -> None:
        """Rows with only --DY: a date from the reference when the subject has dates elsewhere."""
        pairs = {"exposures": [("start_day", "start_date"), ("end_day", "end_date")],
                 "adverse_events": [("start_day", "start_date"), ("end_day", "end_date")],
                 "labs": [("day", "date")], "transfusions": [("day", "date")], "bleeding": [("day", "date")]}
        frames = {t: pd.concat(self.rows[t], ignore_index=True) for t in pairs if self.rows.get(t)}
        dated: set[str] = set()
        for t, f in frames.items():
            for _, date in pairs[t]:
                dated |= set(f.loc[f[date].notna(), "patient_id"].dropna())
        reference = pd.Series(getattr(self, "reference", {}), dtype="object")
        for t, f in frames.items():
            for day, date in pairs[t]:
                move = f[day].notna() & f[date].isna() & f["patient_id"].isin(dated)
                if not move.any():
                    continue
                ref = pd.to_datetime(f["patient_id"].map(reference))
                for i in (move & ref.isna())[move & ref.isna()].index:
                    var = self.columns[(t, f.at[i, "_dom"])][day]
                    self.log.error(f.at[i, "sdtm_domain"], "only this study day is given and the "
                                   "subject has dates elsewhere, but DM has no RFSTDTC to place it",
                                   int(f.at[i, "sdtm_row"]), var, f.at[i, day])
                ok = move & ref.notna()
                shifted = ref[ok] + pd.to_timedelta(f.loc[ok, day].astype("int64"), unit="D")
                f[date] = f[date].astype("object")
                f.loc[ok, date] = shifted.dt.strftime("%Y-%m-%d")
                f[day] = f[day].astype("object").where(~ok, None)
            self.rows[t] = [f]

    def raw_tables(self) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
        """Raw contract tables (source_row = a running number), and per table the origin of
        each running number (domain, row, variable map)."""
        raw, origin = {}, {}
        for table in TABLES:
            parts = self.rows.get(table)
            if not parts:
                continue
            frame = pd.concat(parts, ignore_index=True)
            # Running numbers from 2, so no row is mistaken for a header (row 1).
            frame[SOURCE_ROW] = range(2, len(frame) + 2)
            origin[table] = frame[[SOURCE_ROW, "sdtm_domain", "sdtm_row", "_dom"]].set_index(SOURCE_ROW)
            raw[table] = frame.drop(columns=["_dom"])
        return raw, origin


_MESSAGE_WORDS = (("patients table", "DM domain"), ("patient_id", "USUBJID"),
                  ("add a role column to classify it", f"to classify it, {ADVICE}"))


def _translate(problems: list[Problem], origin: dict[str, pd.DataFrame],
               columns: dict[tuple[str, str], dict[str, str]]) -> list[Problem]:
    """build_study's problems (contract table, running number, column) -> domain, row, variable."""
    out: list[Problem] = []
    seen: set[tuple[Any, ...]] = set()
    for p in problems:
        if p.table in origin and p.row is not None and p.row in origin[p.table].index:
            o = origin[p.table].loc[p.row]
            variable = columns.get((p.table, o["_dom"]), {}).get(p.column or "", p.column)
            message = p.message
            for old, new in _MESSAGE_WORDS:
                message = message.replace(old, new)
            p = replace(p, table=str(o["sdtm_domain"]), row=int(o["sdtm_row"]), column=variable,
                        message=message)
        key = (p.table, p.row, p.column, p.severity, p.message)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def read_sdtm(path: Path, mapping: Path | None = None, drug_roles: dict[str, str] | None = None) -> Study:
    """Read a folder of SDTM domains into the canonical `Study` (module docstring).

    `drug_roles`: treatment name (EXTRT, CMDECOD or CMTRT, any case) -> role, over --CAT and
    the dictionary (default: the names of an enclosing `named_roles` block).

    Raises `InputError` with every problem (domain, row, SDTM variable, value) when any is an
    error; `FileNotFoundError` when the folder does not exist.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"no such SDTM folder: {folder}")
    m = load_mapping(mapping)
    log = ProblemLog()
    domains, ignored = _load(folder, domains_used(m), m["file_preference"], log)
    for p in ignored:
        # Trial design domains (SDTM IG 3.4 section 7) describe the study, not its subjects.
        if p.stem.upper() not in TRIAL_DESIGN:
            log.warn(p.name, "file not read: its name is not a domain the mapping uses")
    dm = m["patients"]["domain"].upper()
    if dm not in domains:
        log.error(dm, f"required domain is missing: no {dm.lower()}.xpt, .csv or .rda in {folder}")
    named = (_NAMED_ROLES.get() if drug_roles is None else
             {str(k).strip().upper(): v for k, v in drug_roles.items()})
    t = _Translator(domains, m, log, named)
    t.patients()
    t.exposures()
    t.labs()
    t.adverse_events()
    t.transfusions()
    t.bleeding()
    t.resolve_study_days()
    raw, origin = t.raw_tables()
    inputs = [f.input_file() for d in domains.values() for f in d.files]
    source = f"SDTM {folder}"
    expected = {"exposures": "EX or CM", "labs": "LB", "patients": "DM"}
    try:
        study = build_study(raw, inputs, source, expected=expected)
    except InputError as exc:
        raise InputError(log.problems + _translate(exc.problems, origin, t.columns)) from None
    if any(p.severity == "error" for p in log.problems):
        raise InputError(log.problems + _translate(study.warnings, origin, t.columns))
    study.warnings = log.warnings + _translate(study.warnings, origin, t.columns)
    # Provenance: source_row becomes the domain row; the domain and --SEQ stay as columns.
    for name in TABLES:
        frame = getattr(study, name)
        if "sdtm_row" in frame.columns:
            frame[SOURCE_ROW] = pd.to_numeric(frame["sdtm_row"]).astype("Int64")
    study.unused_rows = t.unused
    return study
