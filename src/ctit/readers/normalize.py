"""Raw contract tables -> the canonical `Study` (data contract, "Input" and "Bad input").

This is the part every reader shares: a CSV folder, a workbook, and later SDTM or OMOP readers
translate their source into raw tables whose columns carry the contract's names (plus
`source_row`), and `build_study` checks and types them. All problems are collected; any error
raises `InputError` carrying every problem, warnings otherwise go to `Study.warnings`.
Every row is kept: the reader never drops one (the analysis lists the rows it does not use).
"""

from __future__ import annotations

import difflib
from functools import cache
from typing import Mapping, Sequence

import pandas as pd

from ctit import knowledge
from ctit.errors import Problem, ProblemLog
from ctit.readers.cells import Cells, is_in
from ctit.readers.files import SOURCE_ROW
from ctit.readers.labs import PLT_MAX, normalize_labs
from ctit.readers.timeline import (
    TIME_COLUMNS,
    TableTimes,
    check_end_after_start,
    check_mixing,
    check_study_drug_day0,
    day_zero,
    parse_times,
    resolve_days,
)
from ctit.study import CANONICAL_COLUMNS, REQUIRED_TABLES, TABLES, TEXT, InputFile, Study, conform

# Required columns per table; a tuple means "one of these" (day or date).
REQUIRED_COLUMNS: dict[str, tuple[str | tuple[str, str], ...]] = {
    "patients": ("patient_id",),
    "exposures": ("patient_id", "drug", ("start_day", "start_date")),
    "labs": ("patient_id", ("day", "date"), "test", "value"),
    "transfusions": ("patient_id", ("day", "date"), "product"),
    "bleeding": ("patient_id", ("day", "date"), "who_grade"),
    "adverse_events": ("patient_id", "term", "grade", ("start_day", "start_date")),
}

ROLES = knowledge.vocabulary("role")
SEXES = knowledge.vocabulary("sex")
PRODUCTS = knowledge.vocabulary("product")
YES_NO = knowledge.vocabulary("yes_no")
RELATED = knowledge.vocabulary("related")


def as_text(raw: pd.DataFrame) -> pd.DataFrame:
    """Columns lower-cased and trimmed, cells as text: readers of typed sources may pass numbers."""
    out = raw.copy(deep=False)
    out.columns = [str(c).strip().lower() for c in out.columns]
    for c in out.columns:
        s = out[c]
        if c != SOURCE_ROW and s.dtype != "string" and not isinstance(s.dtype, pd.CategoricalDtype):
            out[c] = s.where(s.isna(), s.astype(str)).astype("string")
    return out


def check_columns(table: str, raw: pd.DataFrame, log: ProblemLog) -> None:
    """A missing required column is one error for the table (row 1: the header)."""
    for need in REQUIRED_COLUMNS[table]:
        if isinstance(need, tuple):
            if not any(c in raw.columns for c in need):
                log.error(table, f"required column is missing: give {need[0]!r} or {need[1]!r}",
                          row=1, column=need[0])
        elif need not in raw.columns:
            log.error(table, "required column is missing", row=1, column=need)


def _extras(c: Cells, typed: pd.DataFrame) -> pd.DataFrame:
    """Input columns the contract does not know, as given (trimmed text; those a builder typed
    are taken typed)."""
    return pd.DataFrame({n: c.text(n) for n in c.raw.columns
                         if n not in CANONICAL_COLUMNS[c.table] and n not in typed.columns},
                        index=c.raw.index)


def _patients(c: Cells) -> tuple[pd.DataFrame, pd.Series]:
    """The patients table, and index_date parsed (for day 0)."""
    pid = c.text("patient_id")
    c.require("patient_id", "patient_id")
    first_row = c.rows.groupby(pid).transform("min")
    dup = pid.notna() & pid.duplicated()
    for i in dup[dup].index:
        c.log.error(c.table, f"duplicate patient_id (first at row {first_row.loc[i]})",
                    int(c.rows.loc[i]), "patient_id", pid.loc[i])
    # `h001` beside `H001` is one patient typed twice or two patients a reader cannot tell apart.
    folded = pid.str.casefold()
    first_id = pid.groupby(folded).transform("first")
    first_at = c.rows.groupby(folded).transform("min")
    case_only = pid.notna() & ~dup & (pid != first_id).fillna(False)
    c.error_at(case_only, "patient_id", "patient_id differs only in upper/lower case from "
               "another patient's: " + first_id.astype("string").fillna("") + " at row "
               + first_at.astype("string").fillna("") + "; ids must differ by more than case")
    index_date = c.date("index_date")
    plt = c.number("pre_therapy_platelets", nonnegative=True)
    c.error_at(plt > PLT_MAX, "pre_therapy_platelets",
               f"platelet count outside 0-{PLT_MAX:g} x10^9/L; give it in 10^9/L")
    frame = pd.DataFrame({
        "patient_id": pid,
        "sex": c.choice("sex", SEXES, "sex"),
        "age_years": c.plausible("age_years", c.number("age_years", nonnegative=True)),
        "height_cm": c.plausible("height_cm", c.number("height_cm", nonnegative=True)),
        "weight_kg": c.plausible("weight_kg", c.number("weight_kg", nonnegative=True)),
        "tumor_type": c.text("tumor_type"),
        "pre_therapy_platelets": plt,
        "index_date": index_date.dt.strftime("%Y-%m-%d").astype("string"),
        "source_row": c.rows,
    })
    return frame.assign(**baseline_fields(c)), index_date


# Optional baseline fields of the patients table (docs/input.md, "Baseline fields"), typed
# when the column is given; Table 1 shows those present.
BASELINE_FIELDS = ("ecog", "stage", "line_of_therapy", "chemotherapy_regimen", "last_chemotherapy_day",
                   "last_chemotherapy_date")


def baseline_fields(c: Cells) -> dict[str, pd.Series]:
    """The optional baseline columns that the table has, typed; a date is kept as its ISO text
    and turned into `last_chemotherapy_day` once day 0 is known."""
    typed = {
        "ecog": lambda: c.integer("ecog", low=0, high=5, what="ECOG performance status"),
        "stage": lambda: c.text("stage"),
        "line_of_therapy": lambda: c.integer("line_of_therapy", low=1, what="line of therapy"),
        "chemotherapy_regimen": lambda: c.text("chemotherapy_regimen"),
        "last_chemotherapy_day": lambda: c.integer("last_chemotherapy_day", high=0,
                                                   what="day of the last chemotherapy (day 0 or before)"),
        "last_chemotherapy_date": lambda: c.date("last_chemotherapy_date").dt.strftime("%Y-%m-%d").astype("string"),
    }
    return {name: parse() for name, parse in typed.items() if c.has(name)}


def resolve_last_chemotherapy(patients: pd.DataFrame, day0: Mapping[str, pd.Timestamp]) -> None:
    """`last_chemotherapy_date` -> `last_chemotherapy_day` (date - day 0), where no day is given."""
    if "last_chemotherapy_date" not in patients:
        return
    dates = pd.to_datetime(patients["last_chemotherapy_date"], errors="coerce")
    zero = pd.to_datetime(patients["patient_id"].map(day0), errors="coerce")
    days = (dates - zero).dt.days.astype("Int64")
    if "last_chemotherapy_day" in patients:
        days = patients["last_chemotherapy_day"].astype("Int64").fillna(days)
    patients["last_chemotherapy_day"] = days


def _exposures(c: Cells) -> pd.DataFrame:
    """Drug names and roles: the table's role when given, else the drug dictionary's."""
    drug = c.text("drug")
    c.require("drug", "drug name")
    given_role = c.choice("role", ROLES, "role")
    dict_role = c.lookup("drug", lambda t: getattr(knowledge.lookup_drug(t), "role", None), TEXT)
    dict_name = c.lookup("drug", lambda t: getattr(knowledge.lookup_drug(t), "drug", None), TEXT)
    role_written = c.text("role")
    from_dictionary = role_written.isna() & drug.notna()

    unknown = from_dictionary & dict_role.isna()
    _unknown_drugs(c, drug, unknown)

    differs = given_role.notna() & dict_role.notna() & (given_role != dict_role)
    groups = pd.DataFrame({"key": drug[differs].str.lower() + "|" + given_role[differs],
                           "row": c.rows[differs], "role": given_role[differs],
                           "dict": dict_role[differs], "name": dict_name[differs]})
    for _, g in groups.groupby("key", sort=False):
        r = g.iloc[0]
        c.log.warn(c.table, f"role {r['role']!r} differs from the drug dictionary's "
                   f"{r['dict']!r} for {r['name']}; the table's role is used",
                   int(r["row"]), "role", r["role"])

    role = given_role.fillna(dict_role)
    role = role.mask(role.isna() & drug.notna(), "other")
    dose, dose_unit = _dose_in_mg(c, role)
    return pd.DataFrame({
        "patient_id": c.text("patient_id"),
        "drug": drug,
        "drug_name": dict_name.fillna(drug),
        "role": role,
        "dose": dose,
        "dose_unit": dose_unit,
        "source_row": c.rows,
    })


# Roles whose misspelt names would change who is analysed (a TPO-RA typo excludes a patient
# as no_prior_tpo_ra; a study-drug typo loses day 0).
_DECISIVE_ROLES = ("study_drug", "tpo_ra")
# How close (difflib ratio of the normalised names) an unknown name must be to a study-drug or
# TPO-RA name to be taken for its misspelling.
_CLOSE_DRUG = 0.8


@cache
def _decisive_names() -> dict[str, str]:
    """Normalised dictionary names of study drugs and TPO-RAs -> canonical drug name."""
    return {k: e.drug for k, e in knowledge.drug_dictionary().items() if e.role in _DECISIVE_ROLES}


def _close_decisive(name: str) -> str | None:
    match = difflib.get_close_matches(knowledge.word_key(name), list(_decisive_names()), n=1,
                                      cutoff=_CLOSE_DRUG)
    return _decisive_names()[match[0]] if match else None


def _unknown_drugs(c: Cells, drug: pd.Series, unknown: pd.Series) -> None:
    """Drugs without a role that the dictionary does not know: an error when the name is close
    to a study-drug or TPO-RA name (a typo would change the analysis), else role 'other' and
    one warning listing the names (concomitant medicines are normal in an export)."""
    if not unknown.any():
        return
    meant = c.lookup("drug", _close_decisive).where(unknown)
    c.error_at(meant.notna(), "drug", "drug not in the dictionary and no role given; did you "
               "mean " + meant.astype("string").fillna("") + "? Correct the name or give a role "
               "column")
    other = unknown & meant.isna()
    if other.any():
        names = pd.DataFrame({"key": drug[other].str.casefold(), "drug": drug[other]})
        counts = names.groupby("key", sort=False)["drug"].agg(["first", "size"])
        listed = "; ".join(f"{name} ({n} row{'s' if n != 1 else ''})"
                           for name, n in zip(counts["first"], counts["size"]))
        c.log.warn(c.table, f"drug not in the dictionary, role 'other' assumed for {len(counts)} "
                   f"name{'s' if len(counts) != 1 else ''}: {listed}; for each, add a role column "
                   "to classify it", int(c.rows[other].min()), "drug", drug[other].iloc[0])


# Mass units of a dose, as factors to mg (unit words normalised by knowledge.unit_key).
_DOSE_UNITS_MG = {"mg": 1.0, "g": 1000.0, "ug": 0.001, "mcg": 0.001}


def _dose_in_mg(c: Cells, role: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Doses in mg/g/ug converted to mg; another unit is an error for the study drug (its
    dose intensity is computed in mg) and kept as written for other drugs."""
    dose = c.number("dose", nonnegative=True)
    written = c.text("dose_unit")
    factor = c.lookup("dose_unit", lambda u: _DOSE_UNITS_MG.get(knowledge.unit_key(u)), "Float64")
    study = (role == "study_drug").fillna(False).astype(bool)
    c.error_at(study & written.notna() & factor.isna(), "dose_unit",
               "unknown dose unit for the study drug; give the dose in mg (g and ug are converted)")
    converted = factor.notna()
    unit = written.mask(converted, "mg")
    return dose.where(~converted, dose * factor), unit


def _transfusions(c: Cells) -> pd.DataFrame:
    c.require("product", "product")
    return pd.DataFrame({
        "patient_id": c.text("patient_id"),
        "product": c.choice("product", PRODUCTS, "product"),
        "units": c.number("units", nonnegative=True),
        "source_row": c.rows,
    })


def _bleeding(c: Cells) -> pd.DataFrame:
    c.require("who_grade", "WHO bleeding grade")
    return pd.DataFrame({
        "patient_id": c.text("patient_id"),
        "who_grade": c.integer("who_grade", low=0, high=4, what="WHO bleeding grade"),
        "site": c.text("site"),
        "source_row": c.rows,
    })


def _adverse_events(c: Cells) -> pd.DataFrame:
    c.require("term", "term")
    c.require("grade", "grade")
    return pd.DataFrame({
        "patient_id": c.text("patient_id"),
        "term": c.text("term"),
        "grade": c.integer("grade", low=1, high=5, what="CTCAE grade"),
        "serious": c.choice("serious", YES_NO, "serious"),
        "related": c.choice("related", RELATED, "related"),
        "source_row": c.rows,
        # The causality category as assessed (WHO-UMC, Naranjo, ...), kept beside its yes/no.
        "related_as_written": c.text("related"),
    })


# C0 control characters and DEL: invisible in a listing, and refused by the workbook writer.
_CONTROL = "[\x00-\x1f\x7f]"
_SHOW_CONTROL = {i: f"\\x{i:02x}" for i in [*range(0x20), 0x7f]}


def check_control_characters(c: Cells) -> None:
    """A cell holding a control character (tab, line break, vertical tab, ...) is an error
    naming its row; the value is shown with the characters escaped."""
    for column in c.raw.columns:
        if column == SOURCE_ROW:
            continue
        bad = c.per_value(column, lambda v: v.str.contains(_CONTROL, regex=True),
                          trimmed=False).fillna(False).astype(bool)
        if bad.any():
            c.error_at(bad, column, "the cell holds a control character (shown as \\xNN; a tab, "
                       "line break or other invisible character); remove it",
                       values=c.per_value(column, lambda v: v.str.translate(_SHOW_CONTROL),
                                          trimmed=False))


# Where a death is recorded: a grade-5 adverse event's start, or the patients table's
# `death_day` / `death_date` (optional columns).
_AFTER_DEATH = (("exposures", "start_day"), ("labs", "day"), ("transfusions", "day"),
                ("bleeding", "day"), ("adverse_events", "start_day"))


def check_after_death(frames: Mapping[str, pd.DataFrame], cells: Mapping[str, Cells],
                      day0: Mapping[str, pd.Timestamp]) -> None:
    """Death ends follow-up: a record dated after a patient's death is an error naming its row
    (a data-entry error in either date; protocol section 1, follow-up)."""
    parts = []
    if "adverse_events" in frames:
        ae = frames["adverse_events"]
        g5 = (ae["grade"] == 5).fillna(False).astype(bool) & ae["start_day"].notna()
        parts.append(pd.DataFrame({"pid": ae["patient_id"][g5], "day": ae["start_day"][g5],
                                   "where": "grade-5 adverse event, adverse_events row "
                                   + ae["source_row"][g5].astype("string")}))
    if "patients" in cells:
        p = cells["patients"]
        pid = p.text("patient_id")
        given = []
        if p.has("death_day"):
            given.append(("death_day", p.integer("death_day", what="death day")))
        if p.has("death_date"):
            zero = pd.to_datetime(pid.map(dict(day0), na_action="ignore"), errors="coerce")
            given.append(("death_date", (p.date("death_date") - zero).dt.days.astype("Int64")))
        for column, day in given:
            ok = day.notna() & pid.notna()
            parts.append(pd.DataFrame({"pid": pid[ok], "day": day[ok],
                                       "where": f"patients {column}, row " + p.rows[ok].astype("string")}))
    if not parts:
        return
    death = (pd.concat(parts, ignore_index=True).sort_values("day", kind="stable")
             .drop_duplicates("pid").set_index("pid"))
    for table, column in _AFTER_DEATH:
        if table not in frames or column not in frames[table]:
            continue
        f = frames[table]
        died = cells[table].per_patient(death["day"], "Int64")
        after = (f[column].astype("Int64") > died).fillna(False).astype(bool)
        if after.any():
            where = cells[table].per_patient(death["where"]).astype("string")
            day = f[column].astype("string")
            cells[table].error_at(after, column, "record on day " + day + " is after the "
                                  "patient's death on day " + died.astype("string")
                                  + " (" + where + "); death ends follow-up", values=day)


def _check_patients(c: Cells, known: pd.Series, patients_have_ids: bool = True) -> None:
    pid = c.text("patient_id")
    c.require("patient_id", "patient_id")
    # Judged once per distinct id: a lab table repeats each id a few dozen times.
    unknown = c.per_value("patient_id", lambda v: v.notna() & ~is_in(v, known)).fillna(False).astype(bool)
    if not patients_have_ids:
        # One root cause, one message: without patient_id in the patients table every row is
        # "unknown"; that error is already reported for the patients table.
        n = int(unknown.sum())
        if n:
            first = unknown[unknown].index[0]
            c.log.error(c.table, f"unknown patient: {n} row{'s' if n != 1 else ''} (first shown), because "
                        "the patients table has no patient_id column", int(c.rows.loc[first]), "patient_id",
                        pid.loc[first])
        return
    c.error_at(unknown, "patient_id", "unknown patient: this patient_id is not in the patients table")


def build_study(
    raw: Mapping[str, pd.DataFrame],
    inputs: Sequence[InputFile],
    source: str,
    *,
    problems: Sequence[Problem] = (),
    expected: Mapping[str, str] | None = None,
) -> Study:
    """Check and type raw contract tables into a `Study`; raise `InputError` with every problem.

    `raw` maps table names to tables whose columns are the contract's names (any case) and
    which carry `source_row`. `problems` found earlier (e.g. while reading files) are included
    in the result; `expected` says where a missing table was looked for, for the message.
    """
    log = ProblemLog()
    log.problems.extend(problems)
    tables = {name: as_text(df) for name, df in raw.items() if name in TABLES}
    for name in REQUIRED_TABLES:
        if name not in tables:
            where = (expected or {}).get(name)
            log.error(name, "required table is missing" + (f" ({where})" if where else ""))
    # A table already reported as unreadable as a whole (e.g. an empty file) is not also
    # reported column by column.
    unreadable = {p.table for p in problems if p.severity == "error" and p.column is None
                  and p.row in (None, 1)}
    for name, df in tables.items():
        if name not in unreadable:
            check_columns(name, df, log)
    cells = {name: Cells(name, df, log) for name, df in tables.items()}
    for c in cells.values():
        check_control_characters(c)

    frames: dict[str, pd.DataFrame] = {}
    index_date = pd.Series(dtype="datetime64[ns]")
    if "patients" in cells:
        frames["patients"], index_date = _patients(cells["patients"])
        known = frames["patients"]["patient_id"].dropna()
        has_ids = cells["patients"].has("patient_id")
        for name, c in cells.items():
            if name != "patients":
                _check_patients(c, known, has_ids)
    builders = {"exposures": _exposures, "labs": normalize_labs, "transfusions": _transfusions,
                "bleeding": _bleeding, "adverse_events": _adverse_events}
    for name, build in builders.items():
        if name in cells:
            frames[name] = build(cells[name])

    times: dict[str, TableTimes] = {n: parse_times(cells[n]) for n in TIME_COLUMNS if n in cells}
    mixed = check_mixing(list(times.values()), log)
    day0: dict[str, pd.Timestamp] = {}
    with_study_drug: set[str] | None = None
    if "exposures" in times:
        study_drug = (frames["exposures"]["role"] == "study_drug").fillna(False)
        with_study_drug = set(frames["exposures"]["patient_id"][study_drug].dropna())
        # Without a patients table (already an error) day 0 still comes from the study drug.
        p = cells.get("patients") or Cells("patients", as_text(pd.DataFrame({SOURCE_ROW: []})), log)
        day0 = day_zero(times["exposures"], study_drug, index_date, p.text("index_date"),
                        p.rows, p.text("patient_id"), log)
        check_study_drug_day0(times["exposures"], study_drug, mixed, log)
    if "patients" in frames:
        resolve_last_chemotherapy(frames["patients"], day0)
    days = resolve_days(list(times.values()), day0, log, mixed, with_study_drug)
    for (name, column), values in days.items():
        frames[name][column] = values
    for name in ("exposures", "adverse_events"):
        if name in times:
            t = times[name]
            end = t.pair("end_day")
            end_column = pd.Series(end.day_column, index=end.day_text.index).where(
                end.day_text.notna(), end.date_column)
            end_text = end.day_text.fillna(end.date_text)
            bad = (frames[name]["end_day"] < frames[name]["start_day"]).fillna(False)
            for column in end_column[bad].unique():
                sel = end_column == column
                check_end_after_start(name, frames[name]["start_day"][sel],
                                      frames[name]["end_day"][sel], t.rows[sel],
                                      end_text[sel], column, log)

    check_after_death(frames, cells, day0)

    log.raise_if_errors()
    typed = {name: conform(name, pd.concat([frames[name], _extras(cells[name], frames[name])], axis=1))
             for name in frames}
    return Study(**typed, inputs=list(inputs), warnings=log.warnings, source=source)
