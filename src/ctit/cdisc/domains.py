"""SDTM / ADaM dataset files: a folder of domains in, datasets out.

In: each data file of a folder whose stem names a domain the mapping uses (`dm.xpt`,
`LB.csv`) or a split domain (SDTM IG 3.4 section 4.1.7: `lbhe.xpt` and `lbch.xpt` are parts
of LB) is read as text. Formats: SAS transport `.xpt` (pyreadstat,
Latin-1), `.csv` (UTF-8, header row), R data `.rda`/`.rdata` (pyreadr, the first data frame).
When one stem exists in several formats the first in the mapping's `file_preference` wins.
Variable names are upper-cased; cells become trimmed text, empty = missing; whole numbers
stored as floats (SAS has only doubles) are written without ".0".

Row numbers (for messages): a CSV row as a spreadsheet shows it (header = row 1); in an
`.xpt` or `.rda` file the observation number (first record = 1).

Out: `write_xpt` writes SAS transport version 5 (the FDA's format: names <= 8 characters,
labels <= 40, character values <= 200 bytes), refusing data that breaks those limits
instead of truncating it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd

from ctit.readers.files import sha256_of
from ctit.study import InputFile

FORMATS = {".xpt": "xpt", ".csv": "csv", ".rda": "rda", ".rdata": "rda"}
XPT_NAME_MAX = 8
XPT_LABEL_MAX = 40
XPT_VALUE_MAX = 200
_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,7}$")


@dataclass
class DomainFile:
    """One dataset read from disk: its rows as text and where each came from."""

    domain: str
    path: Path
    format: str
    data: pd.DataFrame       # upper-case variable names, text cells
    rows: pd.Series          # row number per record, as messages show it

    def input_file(self) -> InputFile:
        return InputFile(self.domain, self.path.name, len(self.data), sha256_of(self.path))


def _cell_text(series: pd.Series) -> pd.Series:
    """Any column -> trimmed text; whole floats without '.0'; empty -> missing."""
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        def fmt(x: object) -> object:
            if x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA:
                return pd.NA
            f = float(x)  # type: ignore[arg-type]
            return str(int(f)) if f.is_integer() and abs(f) < 2**53 else repr(f)
        out = series.map(fmt).astype("string")
    else:
        def txt(x: object) -> object:
            if x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x)):
                return pd.NA
            if isinstance(x, bytes):
                x = x.decode("latin1")
            return str(x)
        out = series.map(txt).astype("string").str.strip()
    return out.mask(out == "")


def read_dataset(path: Path) -> tuple[pd.DataFrame, int]:
    """One dataset file as text, and the row number of its first record."""
    fmt = FORMATS[path.suffix.lower()]
    if fmt == "xpt":
        # pyreadstat, not pandas' read_sas: pandas reads the IBM-float zero that pyreadstat
        # writes as 5.4e-79 (a grade 0 would become a non-integer).
        import pyreadstat

        raw, _ = pyreadstat.read_xport(str(path), encoding="latin1")
        first = 1
    elif fmt == "csv":
        raw = pd.read_csv(path, dtype=str, keep_default_na=True, na_values=["NA"],
                          encoding="utf-8-sig")
        first = 2
    else:
        import pyreadr

        frames = pyreadr.read_r(str(path))
        if not frames:
            raise ValueError(f"{path.name}: no data frame in the R data file")
        raw = next(iter(frames.values()))
        first = 1
    raw.columns = [str(c).strip().upper() for c in raw.columns]
    data = pd.DataFrame({c: _cell_text(raw[c]) for c in raw.columns}, index=range(len(raw)))
    return data, first


def domain_of(stem: str, domains: Iterable[str]) -> str | None:
    """The domain a file stem belongs to: the domain itself, or a split of it (LBHE -> LB)."""
    s = stem.upper()
    known = set(domains)
    if s in known:
        return s
    # Split datasets: the domain code plus up to two characters (SDTM IG 3.4 4.1.7).
    for d in sorted(known, key=len, reverse=True):
        if not d.startswith("SUPP") and s.startswith(d) and len(s) <= len(d) + 2 and s[len(d):].isalnum():
            return d
    return None


def find_domain_files(folder: Path, domains: Iterable[str],
                      preference: Iterable[str] = ("xpt", "csv", "rda")) -> tuple[dict[str, list[Path]], list[Path]]:
    """Files per domain (one format per stem, by `preference`), and the data files whose name
    is no domain of the mapping (other formats of a chosen stem are skipped quietly)."""
    order = {f: i for i, f in enumerate(preference)}
    by_stem: dict[str, list[Path]] = {}
    ignored: list[Path] = []
    domains = list(domains)
    for p in sorted(folder.iterdir()):
        if not p.is_file() or p.suffix.lower() not in FORMATS:
            continue
        if domain_of(p.stem, domains) is None:
            ignored.append(p)
            continue
        by_stem.setdefault(p.stem.upper(), []).append(p)
    out: dict[str, list[Path]] = {}
    for stem, paths in sorted(by_stem.items()):
        paths.sort(key=lambda q: order.get(FORMATS[q.suffix.lower()], len(order)))
        out.setdefault(domain_of(stem, domains) or stem, []).append(paths[0])
    return out, ignored


def read_domain(domain: str, paths: list[Path]) -> list[DomainFile]:
    """Every file of one domain, read as text."""
    out = []
    for p in paths:
        data, first = read_dataset(p)
        out.append(DomainFile(domain, p, FORMATS[p.suffix.lower()], data,
                              pd.Series(range(first, first + len(data)), dtype="Int64")))
    return out


def check_xpt_limits(df: pd.DataFrame, labels: Mapping[str, str], name: str) -> None:
    """Transport v5 limits; a `ValueError` naming the dataset, variable and the limit."""
    if not _NAME.match(name.upper()):
        raise ValueError(f"{name}: dataset name must be 1-8 letters/digits starting with a letter")
    for c in df.columns:
        if not _NAME.match(str(c)):
            raise ValueError(f"{name}.{c}: variable names must be 1-{XPT_NAME_MAX} upper-case "
                             "letters, digits or _ (SAS transport v5)")
        label = labels.get(c, "")
        if len(label) > XPT_LABEL_MAX:
            raise ValueError(f"{name}.{c}: label longer than {XPT_LABEL_MAX} characters: {label!r}")
        if df[c].dtype == object or pd.api.types.is_string_dtype(df[c].dtype):
            longest = df[c].dropna().astype(str).map(lambda v: len(v.encode("latin1", "replace"))).max()
            if longest and longest > XPT_VALUE_MAX:
                raise ValueError(f"{name}.{c}: a value is longer than {XPT_VALUE_MAX} bytes")


def xpt_frame(df: pd.DataFrame, types: Mapping[str, str]) -> pd.DataFrame:
    """Columns as transport types: 'num' -> float64 (missing = SAS missing), 'char' -> text ('' missing)."""
    out = pd.DataFrame(index=df.index)
    for c in df.columns:
        if types.get(c, "char") == "num":
            out[c] = pd.to_numeric(df[c].astype("object"), errors="raise").astype("float64")
        else:
            s = df[c].astype("object")
            out[c] = s.where(pd.notna(s), "").map(lambda v: v if isinstance(v, str) else
                                                  (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)))
    return out


def write_xpt(df: pd.DataFrame, path: Path, name: str, label: str,
              labels: Mapping[str, str], types: Mapping[str, str]) -> None:
    """One dataset as SAS transport version 5 (pyreadstat), limits checked first."""
    import pyreadstat

    frame = xpt_frame(df, types)
    check_xpt_limits(frame, labels, name)
    pyreadstat.write_xport(frame, str(path), file_label=label[:XPT_LABEL_MAX],
                           column_labels={c: labels.get(c, c) for c in frame.columns},
                           table_name=name.upper(), file_format_version=5)


def write_csv(df: pd.DataFrame, path: Path, types: Mapping[str, str] | None = None) -> None:
    """A dataset as CSV, numbers as the .xpt holds them without spurious decimals (9, not 9.0)."""
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_numeric_dtype(out[c].dtype) and not pd.api.types.is_bool_dtype(out[c].dtype):
            out[c] = _cell_text(out[c])
    out.to_csv(path, index=False)
