"""`ctit example DIR`: write the bundled example study, ready to analyse or to copy from.

What is written: the six contract tables (`patients.csv`, `exposures.csv`, `labs.csv`,
`transfusions.csv`, `bleeding.csv`, `adverse_events.csv`) and `README.md` (the bundled
`SCENARIOS.md`: each patient's story and the outcome worked out by hand under the protocol,
with the expected cohort totals). The bundled `expected.csv` (the same outcomes as a table,
used by the test suite) is not written: the study folder holds only the contract's tables,
so reading it gives no "not a contract table" warning, and the README already states every
expected value.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import typer

from ctit.cli import app
from ctit.cli._common import console, err_console

EXAMPLE_NAME = "atra-ctit"
STUDY_TABLES = ("patients", "exposures", "labs", "transfusions", "bleeding", "adverse_events")
# bundled file name -> name written into DIR
EXAMPLE_FILES: dict[str, str] = {f"{t}.csv": f"{t}.csv" for t in STUDY_TABLES} | {
    "SCENARIOS.md": "README.md",
}


def example_source(name: str = EXAMPLE_NAME) -> Traversable:
    """The bundled example study folder (package data)."""
    return resources.files("ctit").joinpath("examples", name)


def write_example(target: Path, *, force: bool = False, name: str = EXAMPLE_NAME) -> list[Path]:
    """Copy the bundled study into `target` (created if needed); returns the written paths.

    Refuses (FileExistsError) when `target` is a non-empty folder and `force` is false;
    with `force`, the example's files are overwritten and other files are left alone.
    """
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(f"{target} exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise FileExistsError(f"{target} is not empty; use --force to write the example files into it")
    source = example_source(name)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for bundled, out_name in EXAMPLE_FILES.items():
        data = source.joinpath(bundled).read_bytes()
        out = target / out_name
        out.write_bytes(data)
        written.append(out)
    return written


@app.command()
def example(
    directory: Path = typer.Argument(..., metavar="DIR", help="Folder to write the example study into."),
    force: bool = typer.Option(False, "--force", help="Write into a non-empty folder, overwriting "
                               "the example's files."),
) -> None:
    """Write the bundled example study (32 synthetic refractory-CTIT patients) into DIR.

    DIR gets the six contract tables and README.md, which tells each patient's story and the
    outcome expected under the default protocol. Then: ctit analyze DIR --out OUT.
    """
    try:
        written = write_example(directory, force=force)
    except (FileExistsError, NotADirectoryError) as exc:
        err_console.print(f"[red]error[/red] {exc}", highlight=False)
        raise typer.Exit(2)
    console.print(f"Wrote the example study '{EXAMPLE_NAME}' to {directory}: "
                  + ", ".join(p.name for p in written), highlight=False)
    console.print(f"Next: ctit analyze {directory} --out <folder>", highlight=False)
