"""Which reader turns a user's input into the canonical study: `--from` on the CLI.

Readers are looked up by name and imported only when used, so a CSV user never pays for
the SAS-transport or R-data libraries.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

from ctit.study import Study

# name -> "module:function"; each function takes a path and returns a Study or raises InputError.
READERS: dict[str, str] = {
    "study": "ctit.readers:read_study",     # the data contract: CSV folder or .xlsx workbook
    "sdtm": "ctit.readers.sdtm:read_sdtm",  # CDISC SDTM domains (.xpt, .csv, .rda)
    "omop": "ctit.omop.reader:read_omop",   # OMOP CDM 5.4: DuckDB file, CSV or Parquet folder
}


def read_source(path: Path, source: str = "study") -> Study:
    """Read `path` with the reader named `source`."""
    if source not in READERS:
        raise ValueError(f"unknown input format {source!r}; choose one of: {', '.join(READERS)}")
    module, _, function = READERS[source].partition(":")
    return getattr(import_module(module), function)(Path(path))
