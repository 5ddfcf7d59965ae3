"""`ctit export omop` and `ctit comparator`: OMOP CDM out, and the natural-history comparator
(docs/omop.md, docs/comparator.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from ctit.cli import app
from ctit.cli._common import OVERRIDES, PROTOCOL, SOURCE, console, input_errors_exit
from ctit.cli.export import export_app


@export_app.command("omop")
def omop(
    study: Path = typer.Argument(..., help="Study to read."),
    out: Path = typer.Argument(..., help="Output folder for the OMOP CDM tables."),
    source: str = SOURCE,
    fmt: str = typer.Option("csv", "--format", help="csv or parquet."),
    index_date: str = typer.Option("2024-01-01", "--index-date",
                                   help="Day-0 date for patients without patients.index_date (ISO date)."),
) -> None:
    """Write the study as OMOP CDM 5.4 tables with the vocabulary subset its concepts need."""
    from ctit.omop.writer import write_omop
    from ctit.sources import read_source

    if fmt not in ("csv", "parquet"):
        raise typer.BadParameter("choose csv or parquet", param_hint="--format")
    with input_errors_exit():
        s = read_source(study, source)
        written = write_omop(s, out, fmt=fmt, index_date=index_date)
    console.print(f"Wrote {len(written)} files to {out} (OMOP CDM 5.4, {fmt}); read back with "
                  f"ctit analyze {out} --from omop", highlight=False)


@app.command()
def comparator(
    source: Path = typer.Argument(..., help="OMOP CDM: a DuckDB file, or a folder of CSV or Parquet tables."),
    out: Path = typer.Option(Path("out"), "--out", "-o", help="Output folder."),
    protocol: Path = PROTOCOL,
    set_: list[str] = OVERRIDES,
    episodes: str = typer.Option("first", "--episodes",
                                 help="Episodes per person: first (default) or each_course (one per TPO-RA course)."),
    anticancer_lookback_days: int = typer.Option(None, "--anticancer-lookback-days",
                                                 help="The anticancer drug must start at most this many days "
                                                      "before the index day (default: any time before)."),
    without_tpo_ra: bool = typer.Option(
        False, "--comparator-without-tpo-ra",
        help="Relax the prior-TPO-RA criterion for the comparator arm: an episode starts at a grade >= "
             "refractory_min_grade count after an antineoplastic, whatever came before (EHR data where "
             "TPO-RAs are rare). Recorded in comparison.json; not with --episodes each_course."),
    min_cell_count: int = typer.Option(None, "--min-cell-count",
                                       help="Suppress counts below N (OHDSI networks use 5) in every output "
                                            "of both cohorts; no per-patient file is written then."),
    format_: list[str] = typer.Option(None, "--format", "-f",
                                      help="Report formats for both cohorts (default: json and csv only)."),
) -> None:
    """The treated cohort and a natural-history comparator (refractory-CTIT episodes without the
    study drug) through the same protocol, side by side (docs/comparator.md)."""
    from ctit.omop.comparator import EPISODE_RULES, ComparatorSettings, run_comparator
    from ctit.protocol import load_protocol
    from ctit.reports import parse_formats

    if episodes not in EPISODE_RULES:
        raise typer.BadParameter(f"choose {' or '.join(EPISODE_RULES)}", param_hint="--episodes")
    try:
        settings = ComparatorSettings(episodes, anticancer_lookback_days, prior_tpo_ra_required=not without_tpo_ra)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--comparator-without-tpo-ra") from exc
    if min_cell_count is not None and min_cell_count < 1:
        raise typer.BadParameter("give a positive count", param_hint="--min-cell-count")
    formats = parse_formats(format_) if format_ else ("json",)
    with input_errors_exit():
        p = load_protocol(protocol, set_ or [])
        _, _, summary = run_comparator(source, out, p, settings,
                                       formats=formats, min_cell_count=min_cell_count)
    for arm in ("treated", "comparator"):
        r = summary[arm]["response"]
        console.print(f"{arm}: {summary[arm]['cohort']['included']} included; CR {r['cr']['n']}, "
                      f"PR {r['pr']['n']}, ORR {r['orr']['n']} ({_pct(r['orr']['pct'])})", highlight=False)
    sc = summary["comparator"]["screening"]
    console.print(f"comparator screening: {sc['screened_without_study_drug']} persons without study drug; "
                  + ", ".join(f"{e['reason']} {e['n']}" for e in sc["excluded"])
                  + f"; {sc['episodes']} episode(s)", highlight=False)
    if min_cell_count:
        console.print(summary["suppression"]["statement"], highlight=False)
    console.print(f"Wrote {out}/comparison.json, {out}/treated/, {out}/comparator/", highlight=False)


def _pct(value: object) -> str:
    return "not estimable" if value is None else f"{float(value):.1f}%"  # type: ignore[arg-type]


@app.command()
def share(
    results: Path = typer.Argument(..., help="An analysis output folder (with results.json)."),
    dest: Path = typer.Argument(..., help="Folder for the shareable aggregates."),
    min_cell_count: int = typer.Option(5, "--min-cell-count", help="Suppress counts below N (default 5)."),
) -> None:
    """Aggregates meant to leave the site: results.json (and comparison.json) with every count
    below N suppressed, the suppression stated; no per-patient file is copied."""
    import json

    from ctit.reports.suppression import suppress

    found = [p for p in (results / "results.json", results / "comparison.json") if p.is_file()]
    if not found:
        console.print(f"[red]error[/red] no results.json or comparison.json in {results}", highlight=False)
        raise typer.Exit(2)
    dest.mkdir(parents=True, exist_ok=True)
    for path in found:
        data = suppress(json.loads(path.read_text(encoding="utf-8")), min_cell_count)
        (dest / path.name).write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
        console.print(f"{path.name}: {data['suppression']['cells_suppressed']} cell(s) suppressed "
                      f"(min cell count {min_cell_count})", highlight=False)
