"""A natural-history comparator for the single-arm study (docs/comparator.md).

In persons never exposed to the study drug, an episode of refractory CTIT starts on the
first day t on which all hold: a platelet count of CTCAE grade >= `refractory_min_grade` on day t; an anticancer
drug started before t (within `anticancer_lookback_days` when given); and a TPO-RA course
that started before t and had lasted at least `tpo_ra_min_days` by t (protocol section 4,
criterion 2, counted up to t). Day 0 is t, so follow-up starts when eligibility first holds,
as it does for a treated patient at the first ATRA dose: no time before day 0 counts as
response time (no immortal time). The protocol's derivations then run unchanged on the
episodes, an index marker standing in for the study drug: the same baseline, nadir, windows,
response rules, statistics and attrition as the treated cohort.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import ibis
import ibis.expr.types as ir

from ctit.engine.analysis import derive_graded_labs
from ctit.engine.exposure import derive_tpo_ra_courses
from ctit.omop.reader import OmopTables, anchor
from ctit.protocol import Protocol

EpisodeRule = Literal["first", "each_course"]
EPISODE_RULES: tuple[str, ...] = ("first", "each_course")
INDEX_DRUG = "natural-history index (no study drug)"
# The comparator's own screening, in order: the first failed criterion is the reason.
COMPARATOR_EXCLUSIONS = ("no_anticancer", "no_qualifying_tpo_ra", "no_grade_2_count_after_both")


@dataclass
class ComparatorSettings:
    """How episodes are found: `episodes` first (one per person, the earliest) or
    each_course (the first eligible day in each qualifying TPO-RA course); an optional
    look-back for the anticancer drug before the index day; `prior_tpo_ra_required` False
    relaxes the TPO-RA criterion for the comparator arm (EHR data where TPO-RAs are rare:
    thrombocytopenia after an antineoplastic, whatever came before)."""

    episodes: EpisodeRule = "first"
    anticancer_lookback_days: int | None = None
    prior_tpo_ra_required: bool = True

    def __post_init__(self) -> None:
        if not self.prior_tpo_ra_required and self.episodes == "each_course":
            raise ValueError("each_course episodes are per TPO-RA course: they need the prior TPO-RA criterion")

    def as_dict(self) -> dict[str, Any]:
        return {"episodes": self.episodes, "anticancer_lookback_days": self.anticancer_lookback_days,
                "prior_tpo_ra_required": self.prior_tpo_ra_required}


@dataclass
class ComparatorCohort:
    """The episodes' canonical tables (days from each index day), and the screening."""

    tables: dict[str, ir.Table]
    day0: ir.Table
    screening: ir.Table            # one row per person without study drug: patient_id, reason
    settings: ComparatorSettings = field(default_factory=ComparatorSettings)


def _epoch(omop: OmopTables) -> dict[str, ir.Table]:
    """Every table with days counted from 1970-01-01, so day arithmetic works on dates."""
    pts = omop.tables["patients"]
    zero = pts.select("patient_id", day0=ibis.date(1970, 1, 1))
    return anchor(omop.tables, zero)


def derive_episodes(omop: OmopTables, protocol: Protocol,
                    settings: ComparatorSettings) -> tuple[ir.Table, ir.Table]:
    """Index days of refractory-CTIT episodes without study drug (module docstring), and the
    screening of every person without study drug (first failed comparator criterion).

    Returns (episodes: patient_id, episode_id, index_date; screening: patient_id, reason)."""
    p = protocol
    t = _epoch(omop)
    untreated = t["patients"].select("patient_id").anti_join(omop.day0, "patient_id")
    ex = t["exposures"].join(untreated, "patient_id")
    labs = t["labs"].join(untreated, "patient_id")
    graded = derive_graded_labs(labs, p)
    low = graded.filter((graded.test == "PLT") & graded.value.notnull() & (graded.grade >= p.refractory_min_grade))
    low = low.select("patient_id", _day=low.day).distinct()
    anti = ex.filter(ex.role == "anticancer").select("patient_id", _start=ex.start_day)
    courses = derive_tpo_ra_courses(ex, switch_gap_days=p.tpo_ra_switch_gap_days)
    courses = courses.filter(courses.course_days >= p.tpo_ra_min_days)
    courses = courses.mutate(_course=ibis.row_number().over(group_by="patient_id", order_by=courses.course_start))

    if settings.prior_tpo_ra_required:
        # A count qualifies when the course had lasted tpo_ra_min_days by its day.
        c = low.join(courses, [low.patient_id == courses.patient_id,
                               courses.course_start < low._day,
                               ibis.least(courses.course_end, low._day) - courses.course_start + 1
                               >= p.tpo_ra_min_days])
        c = c.select(patient_id=low.patient_id, _day=low._day, _course=courses._course)
    else:
        c = low.mutate(_course=ibis.literal(0))
    cond = [c.patient_id == anti.patient_id, anti._start < c._day]
    if settings.anticancer_lookback_days is not None:
        cond.append(anti._start >= c._day - settings.anticancer_lookback_days)
    c = c.semi_join(anti, cond)
    group = ["patient_id"] if settings.episodes == "first" else ["patient_id", "_course"]
    first = c.group_by(group).aggregate(_index=c._day.min())
    if settings.episodes == "first":
        first = first.mutate(episode_id=first.patient_id)
    else:
        first = first.mutate(_k=ibis.row_number().over(group_by="patient_id", order_by=first._index) + 1)
        first = first.mutate(episode_id=first.patient_id + "#" + first._k.cast("string"))
    episodes = first.select("patient_id", "episode_id",
                            index_date=ibis.date(1970, 1, 1) + first._index.as_interval("D"))

    has_anti = anti.select("patient_id").distinct().mutate(_a=True)
    has_tpo = courses.select("patient_id").distinct().mutate(_q=True)
    has_ep = episodes.select("patient_id").distinct().mutate(_e=True)
    s = untreated
    for flag in (has_anti, has_tpo, has_ep):
        s = s.left_join(flag, "patient_id").drop("patient_id_right")
    reason = ibis.cases(
        (s._a.isnull(), COMPARATOR_EXCLUSIONS[0]),
        (s._q.isnull() & settings.prior_tpo_ra_required, COMPARATOR_EXCLUSIONS[1]),
        (s._e.isnull(), COMPARATOR_EXCLUSIONS[2]),
        else_=ibis.null("string"))
    return episodes, s.select("patient_id", reason=reason)


def comparator_cohort(omop: OmopTables, protocol: Protocol,
                      settings: ComparatorSettings | None = None) -> ComparatorCohort:
    """The episodes as a study of their own: each episode a patient (its `episode_id`), day 0
    its index day, and an index marker of role study_drug on day 0 only."""
    settings = settings or ComparatorSettings()
    if settings.episodes not in EPISODE_RULES:
        raise ValueError(f"unknown episode rule {settings.episodes!r}; choose {' or '.join(EPISODE_RULES)}")
    episodes, screening = derive_episodes(omop, protocol, settings)
    keys = episodes.select(_pid="patient_id", _eid="episode_id")
    tables: dict[str, ir.Table] = {}
    for name, t in omop.tables.items():
        j = t.join(keys, t.patient_id == keys._pid)
        tables[name] = j.mutate(patient_id=j._eid).drop("_pid", "_eid")
    exp = tables["exposures"]
    marker = episodes.select(
        patient_id=episodes.episode_id, role=ibis.literal("study_drug"),
        drug_name=ibis.literal(INDEX_DRUG), drug=ibis.literal(INDEX_DRUG),
        start_date=episodes.index_date, end_date=episodes.index_date,
        dose=ibis.null("float64"), dose_unit=ibis.null("string"),
        source_row=ibis.row_number().over(order_by=episodes.episode_id).cast(exp.source_row.type()),
        source_table=ibis.literal("COMPARATOR_INDEX"))
    tables["exposures"] = ibis.union(exp, marker.select(*exp.columns).cast(exp.schema()))
    day0 = episodes.select(patient_id=episodes.episode_id, day0=episodes.index_date)
    return ComparatorCohort(anchor(tables, day0), day0, screening, settings)


def screening_counts(cohort: ComparatorCohort) -> dict[str, Any]:
    """The comparator's attrition: persons without study drug, each exclusion, episodes."""
    s = cohort.screening
    rows = s.group_by("reason").aggregate(n=s.count()).to_pyarrow().to_pylist()
    by = {r["reason"]: int(r["n"]) for r in rows}
    n_episodes = int(cohort.day0.count().execute())
    return {
        "screened_without_study_drug": sum(by.values()),
        # A criterion the settings relax is not listed (no one can fail it).
        "excluded": [{"reason": r, "n": by.get(r, 0)} for r in COMPARATOR_EXCLUSIONS
                     if cohort.settings.prior_tpo_ra_required or r != "no_qualifying_tpo_ra"],
        "with_episode": by.get(None, 0),
        "episodes": n_episodes,
    }


def _headline(results: Any) -> dict[str, Any]:
    d = results.to_dict()
    return {k: d[k] for k in ("cohort", "baseline_platelets", "response", "time_to_cr", "landmarks")}


def comparison(treated: Any, comparator: Any, screening: dict[str, Any],
               settings: ComparatorSettings) -> dict[str, Any]:
    """comparison.json: the treated cohort and the natural-history episodes side by side, with
    the same statistics, and the comparator's screening before the protocol's own attrition."""
    return {
        "estimand": "proportion of refractory-CTIT episodes reaching a sustained CR or PR without "
                    "the study drug, over the protocol's windows from the first day eligibility holds",
        "episode_rule": settings.as_dict(),
        # What the comparator arm was not held to, beside the treated cohort's criteria.
        "relaxed_criteria": [] if settings.prior_tpo_ra_required else [
            "no_qualifying_tpo_ra (comparator screening: episodes need no prior TPO-RA course)"],
        "treated": _headline(treated),
        "comparator": {"screening": screening, **_headline(comparator)},
    }


def run_comparator(source: Path, out: Path, protocol: Protocol, settings: ComparatorSettings,
                   *, formats: tuple[str, ...] = ("json",), min_cell_count: int | None = None,
                   ) -> tuple[Any, Any, dict[str, Any]]:
    """Read an OMOP CDM, analyse the treated cohort into OUT/treated and the natural-history
    episodes into OUT/comparator, and write OUT/comparison.json; returns both results and
    the comparison."""
    import json
    from dataclasses import replace

    from ctit.errors import ProblemLog
    from ctit.omop.cdm import open_cdm, reading
    from ctit.omop.concepts import load_settings
    from ctit.omop.reader import omop_tables, to_study
    from ctit.reports import write_reports
    from ctit.results import analyze_study

    cdm = open_cdm(Path(source))
    with reading(cdm):
        omop = omop_tables(cdm, load_settings(cdm.override))
        read_problems = list(omop.log.problems)
        treated_study = to_study(omop)
        cohort = comparator_cohort(omop, protocol, settings)
        log = ProblemLog()
        log.problems.extend(read_problems)
        fresh = replace(omop, log=log)
        study = to_study(fresh, cohort.tables, source=f"{cdm.source}: natural-history episodes "
                         f"({settings.episodes}) without the study drug")
    treated = analyze_study(treated_study, protocol)
    # With the TPO-RA criterion relaxed the protocol's own eligibility waives it too, or the
    # episodes found would be excluded again as no_prior_tpo_ra.
    arm = protocol if settings.prior_tpo_ra_required else replace(
        protocol, waived_criteria=tuple(sorted({*protocol.waived_criteria, "no_prior_tpo_ra"})))
    comparator = analyze_study(study, arm)
    screening = screening_counts(cohort)
    summary = comparison(treated, comparator, screening, settings)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    from ctit.reports.suppression import suppress, suppressed_results

    # Aggregates meant to leave the site: every output of both arms suppressed, as
    # `ctit analyze --min-cell-count` writes them (no per-patient file).
    treated, comparator = (suppressed_results(r, min_cell_count) for r in (treated, comparator))
    if min_cell_count:
        summary = suppress(summary, min_cell_count)
    write_reports(treated, out / "treated", formats, progress=False)
    write_reports(comparator, out / "comparator", formats, progress=False)
    (out / "comparison.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    return treated, comparator, summary
