"""Readers: input files into the canonical `Study` (data contract).

- `files`: a CSV folder or `.xlsx` workbook -> raw string tables with file row numbers;
- `cells`: typed parsing of raw cells, one located problem per bad cell;
- `labs`: test names and units into canonical codes and units;
- `timeline`: days and dates into integer days (protocol sections 1 and 11);
- `normalize`: `build_study`, raw contract tables -> `Study` (shared by every reader);
- `read`: the entry points `read_study` and `read_labs_file`.
"""

from ctit.readers.normalize import build_study
from ctit.readers.read import read_labs_file, read_study

__all__ = ["build_study", "read_labs_file", "read_study"]
