"""Which reader turns a user's input into the canonical study: `--from` on the CLI.

Readers are looked up by name and imported only when used, so a CSV user never pays for
the SAS-transport or R-data libraries.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Any

from ctit.study import Study

# name -> "module:function"; each function takes a path and returns a Study or raises InputError.
READERS: dict[str, str] = {
    "study": "ctit.readers:read_study",     # the data contract: CSV folder or .xlsx workbook
    "sdtm": "ctit.readers.sdtm:read_sdtm",  # CDISC SDTM domains (.xpt, .csv, .rda)
    "omop": "ctit.omop.reader:read_omop",   # OMOP CDM 5.4: DuckDB file, CSV or Parquet folder
}
# Readers whose queries run on the derivations' engine when one is given (`--engine spark`):
# a CDM is reduced to its concept-set records where it lives. The others parse local files.
IN_ENGINE = {"omop"}


def read_source(path: Path, source: str = "study", con: Any = None) -> Study:
    """Read `path` with the reader named `source`, on `con`'s engine where that reader can."""
    if source not in READERS:
        raise ValueError(f"unknown input format {source!r}; choose one of: {', '.join(READERS)}")
    module, _, function = READERS[source].partition(":")
    reader = getattr(import_module(module), function)
    if con is not None and source in IN_ENGINE:
        return reader(Path(path), con=con)
    return reader(Path(path))
