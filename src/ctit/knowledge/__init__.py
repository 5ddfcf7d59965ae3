"""Clinical knowledge as data: lab tests and their aliases, unit conversions, the drug dictionary,
the words accepted for coded fields (sex, role, product, yes/no) and the accepted date formats.

The CSV files beside this module are the source of truth; this module only loads and
looks them up, so a user extends a vocabulary by adding a row. Matching is case-insensitive
with surrounding spaces trimmed and Unicode compatibility forms folded (full-width letters and
brackets as Chinese input methods type them, `（PLT）` = `(PLT)`); units also ignore inner
spaces, accept the micro sign for "u" and read superscript powers as `^` powers (`×10⁹/L` =
`x10^9/L`).
"""

from __future__ import annotations

import csv
import math
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path


def _rows(name: str) -> list[dict[str, str]]:
    with resources.files(__package__).joinpath(name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def path(name: str) -> Path:
    """Filesystem path of a knowledge file (for documentation and provenance)."""
    return Path(str(resources.files(__package__).joinpath(name)))


_SUPERSCRIPTS = str.maketrans("\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079\u207b",
                               "0123456789-")
_SUPERSCRIPT_RUN = re.compile("[\u2070\u00b9\u00b2\u00b3\u2074-\u2079\u207b]+")


def word_key(text: str) -> str:
    """A word as the vocabularies match it: full-width forms folded, case and spaces ignored."""
    return " ".join(unicodedata.normalize("NFKC", str(text)).strip().lower().split())


_key = word_key


def unit_key(unit: str) -> str:
    """Normalise a unit as written: case, spaces, full-width forms, the micro sign, the
    multiplication sign, and a superscript power written as a `^` power (10⁹ = 10^9)."""
    u = _SUPERSCRIPT_RUN.sub(lambda m: "^" + m.group().translate(_SUPERSCRIPTS), str(unit))
    u = unicodedata.normalize("NFKC", u).strip()
    u = u.replace("\u00b5", "u").replace("\u03bc", "u").replace("\u00d7", "x")
    return "".join(u.split()).lower()


@dataclass(frozen=True)
class LabTest:
    code: str
    name: str
    quantity: str
    canonical_unit: str
    unit_required: bool


@cache
def lab_tests() -> dict[str, LabTest]:
    """Canonical lab tests by code."""
    return {
        r["code"]: LabTest(r["code"], r["name"], r["quantity"], r["canonical_unit"],
                           r["unit_required"] == "yes")
        for r in _rows("lab_tests.csv")
    }


@cache
def _aliases() -> dict[str, str]:
    return {_key(r["alias"]): r["code"] for r in _rows("lab_test_aliases.csv")}


def lab_test_code(name: str) -> str | None:
    """Canonical code for a test name, code or LOINC code; None when unknown."""
    return _aliases().get(_key(name))


@cache
def _unit_factors() -> dict[tuple[str, str], float]:
    return {(r["quantity"], unit_key(r["unit"])): float(r["factor"]) for r in _rows("units.csv")}


def unit_factor(code: str, unit: str) -> float | None:
    """Factor that converts a value of test `code` in `unit` to its canonical unit; None if unknown."""
    test = lab_tests().get(code)
    if test is None:
        return None
    return _unit_factors().get((test.quantity, unit_key(unit)))


@dataclass(frozen=True)
class DrugEntry:
    drug: str          # the one canonical name, whatever name or brand was written
    role: str
    atc: str
    drug_class: str    # pharmacological class, for grouping drug lists in tables


@cache
def drug_dictionary() -> dict[str, DrugEntry]:
    """Drug names, synonyms and brand names (normalised, any language) -> dictionary entry."""
    return {_key(r["name"]): DrugEntry(r["drug"], r["role"], r["atc"], r.get("drug_class") or "")
            for r in _rows("drugs.csv")}


def lookup_drug(name: str) -> DrugEntry | None:
    return drug_dictionary().get(_key(name))


@cache
def drug_classes() -> dict[str, str]:
    """Canonical drug name -> its class ('' when the dictionary gives none)."""
    return {e.drug: e.drug_class for e in drug_dictionary().values()}


@cache
def vocabulary(field: str) -> dict[str, str]:
    """Accepted words of a coded input field (normalised word -> canonical value), from
    vocabulary.csv: sex, role, product, yes_no, related.

    `related` accepts every yes_no word plus the words of the causality scales (WHO-UMC,
    Naranjo, the Chinese ADR scale); an empty value means the word is accepted but says
    nothing about relatedness (WHO-UMC "conditional", "unassessable"): the field stays missing.
    """
    rows = _rows("vocabulary.csv")
    fields = ("yes_no", "related") if field == "related" else (field,)
    return {_key(r["word"]): r["value"] for r in rows if r["field"] in fields}


@cache
def date_formats() -> tuple[str, ...]:
    """Accepted input date formats (strptime patterns, tried in file order), from date_formats.csv."""
    return tuple(r["format"] for r in _rows("date_formats.csv"))


@dataclass(frozen=True)
class PlausibleRange:
    """Values of one measurement that are impossible (an error) or unusual (a warning), one row
    of plausible_ranges.csv."""

    table: str
    column: str
    unit: str
    impossible_below: float
    unusual_below: float
    unusual_above: float
    impossible_above: float
    why: str

    def judge(self, value: float) -> str | None:
        """None when plausible; otherwise 'error' or 'warning' and why, as one message."""
        if not math.isfinite(value) or not self.impossible_below <= value <= self.impossible_above:
            return (f"error: {self.column} {value:g} {self.unit} is impossible (plausible "
                    f"{self.impossible_below:g}-{self.impossible_above:g} {self.unit}; {self.why})")
        if not self.unusual_below <= value <= self.unusual_above:
            return (f"warning: {self.column} {value:g} {self.unit} is unusual (usual "
                    f"{self.unusual_below:g}-{self.unusual_above:g} {self.unit}); check it")
        return None


@cache
def _plausible_ranges() -> dict[tuple[str, str], PlausibleRange]:
    return {(r["table"], r["column"]): PlausibleRange(
                r["table"], r["column"], r["unit"], float(r["impossible_below"]), float(r["unusual_below"]),
                float(r["unusual_above"]), float(r["impossible_above"]), r["why"])
            for r in _rows("plausible_ranges.csv")}


def plausible_range(table: str, column: str) -> PlausibleRange | None:
    """The plausible range of a table's column (or of a lab test code, table `labs`; `*` for
    every table), from plausible_ranges.csv; None when it has none."""
    return _plausible_ranges().get((table, column))


def plausible_ranges(table: str) -> dict[str, PlausibleRange]:
    """Every plausible range of one table, by column."""
    return {column: r for (t, column), r in _plausible_ranges().items() if t == table}
