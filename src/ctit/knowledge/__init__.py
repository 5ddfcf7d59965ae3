"""Clinical knowledge as data: lab tests and their aliases, unit conversions, the drug dictionary,
the words accepted for coded fields (sex, role, product, yes/no) and the accepted date formats.

The CSV files beside this module are the source of truth; this module only loads and
looks them up. Matching is case-insensitive with surrounding spaces trimmed; units also
ignore inner spaces and accept the micro sign for "u".
"""

from __future__ import annotations

import csv
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


def _key(text: str) -> str:
    return " ".join(str(text).strip().lower().split())


def unit_key(unit: str) -> str:
    """Normalise a unit as written: case, spaces, micro sign and the multiplication sign."""
    u = str(unit).strip().replace("\u00b5", "u").replace("\u03bc", "u").replace("\u00d7", "x")
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
    drug: str
    role: str
    atc: str


@cache
def drug_dictionary() -> dict[str, DrugEntry]:
    """Drug names and synonyms (normalised) -> dictionary entry."""
    return {_key(r["name"]): DrugEntry(r["drug"], r["role"], r["atc"]) for r in _rows("drugs.csv")}


def lookup_drug(name: str) -> DrugEntry | None:
    return drug_dictionary().get(_key(name))


@cache
def vocabulary(field: str) -> dict[str, str]:
    """Accepted words of a coded input field (normalised word -> canonical value), from
    vocabulary.csv: sex, role, product, yes_no."""
    return {_key(r["word"]): r["value"] for r in _rows("vocabulary.csv") if r["field"] == field}


@cache
def date_formats() -> tuple[str, ...]:
    """Accepted input date formats (strptime patterns, tried in file order), from date_formats.csv."""
    return tuple(r["format"] for r in _rows("date_formats.csv"))
