"""`ctit export sdtm|adam`: CDISC out (docs/cdisc.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from ctit.cli import app
from ctit.cli._common import (
    ENGINE_HELP,
    OVERRIDES,
    PROTOCOL,
    SOURCE,
    SPARK_CONF_HELP,
    console,
    engine_connection,
    input_errors_exit,
)

export_app = typer.Typer(help="Write CDISC datasets: SDTM domains or ADaM analysis datasets.",
                         no_args_is_help=True)
app.add_typer(export_app, name="export")

_INDEX = typer.Option("2024-01-01", "--index-date",
                      help="Day-0 date for subjects whose input gives days only (ISO date).")
_STUDY_ID = typer.Option("CTIT", "--study-id", help="STUDYID written on every record.")

STUDY_DRUG = typer.Option(None, "--study-drug", metavar="NAME",
                          help="SDTM input: classify the treatment EXTRT/CMTRT/CMDECOD = NAME as the "
                               "study drug (repeatable; over --CAT and the drug dictionary).")
TPO_RA = typer.Option(None, "--tpo-ra", metavar="NAME",
                      help="SDTM input: classify the treatment NAME as a TPO-RA (repeatable).")


def treatment_names(source: str, study_drug: list[str] | None, tpo_ra: list[str] | None):  # type: ignore[no-untyped-def]
    """The reading context of --study-drug / --tpo-ra (SDTM input only: a study folder states
    roles in its exposures' role column)."""
    from contextlib import nullcontext

    from ctit.readers.sdtm import named_roles, role_names

    if not (study_drug or tpo_ra):
        return nullcontext()
    if source != "sdtm":
        raise typer.BadParameter("--study-drug / --tpo-ra classify SDTM treatments (--from sdtm); "
                                 "a study folder gives each exposure's role in its role column",
                                 param_hint="--study-drug")
    return named_roles(role_names(study_drug or [], tpo_ra or []))


@export_app.command("sdtm")
def sdtm(
    study: Path = typer.Argument(..., help="Study to read."),
    out: Path = typer.Argument(..., help="Output folder for the domains."),
    source: str = SOURCE,
    index_date: str = _INDEX,
    study_id: str = _STUDY_ID,
    study_drug: list[str] = STUDY_DRUG,
    tpo_ra: list[str] = TPO_RA,
) -> None:
    """Write DM, SUPPDM, VS, EX, CM, LB, AE, PR, FA and TS as SAS transport v5 (.xpt) and CSV, and define.xml."""
    from ctit.cdisc.sdtm_writer import write_sdtm
    from ctit.output import staged_output
    from ctit.sources import read_source

    with input_errors_exit(), treatment_names(source, study_drug, tpo_ra), staged_output(out, "export sdtm") as staging:
        s = read_source(study, source)
        written = write_sdtm(s, staging, study_id=study_id, index_date=index_date)
    console.print((out / "README.txt").read_text(encoding="utf-8").strip(), highlight=False)
    console.print(f"Wrote {len(written)} files to {out}", highlight=False)


@export_app.command("adam")
def adam(
    study: Path = typer.Argument(..., help="Study to read."),
    out: Path = typer.Argument(..., help="Output folder for the datasets."),
    source: str = SOURCE,
    protocol: Path = PROTOCOL,
    set_: list[str] = OVERRIDES,
    index_date: str = _INDEX,
    study_id: str = _STUDY_ID,
    tte_days: bool = typer.Option(
        False, "--tte-days",
        help="ADTTE AVAL = ADT - STARTDT (the protocol's days since day 0) instead of admiral's "
             "derive_vars_duration default ADT - STARTDT + 1."),
    study_drug: list[str] = STUDY_DRUG,
    tpo_ra: list[str] = TPO_RA,
    engine: str = typer.Option("duckdb", "--engine", help=ENGINE_HELP),
    spark_conf: list[str] = typer.Option(None, "--spark-conf", help=SPARK_CONF_HELP),
) -> None:
    """Run the analysis and write ADSL, ADLB, ADRS, ADTTE (.xpt v5 + Parquet), metadata and define.xml."""
    from ctit.cdisc.adam import adam_datasets
    from ctit.cdisc.adam_writer import write_adam
    from ctit.protocol import load_protocol
    from ctit.output import staged_output
    from ctit.sources import read_source

    con = engine_connection(engine, spark_conf)
    with input_errors_exit(), treatment_names(source, study_drug, tpo_ra):
        p = load_protocol(protocol, set_ or [])
        with staged_output(out, "export adam") as staging:
            s = read_source(study, source, con)
            datasets, _ = adam_datasets(s, p, study_id=study_id, index_date=index_date,
                                        tte_add_one=not tte_days, con=con)
            written = write_adam(datasets, staging, study_name=p.title)
    console.print(", ".join(f"{k} {len(v)} rows" for k, v in datasets.items()), highlight=False)
    console.print(f"Wrote {len(written)} files to {out}; day-0 date for day-only subjects: {index_date}",
                  highlight=False)

