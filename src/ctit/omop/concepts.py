"""Concept sets as data (knowledge/omop_concepts.yaml), resolved against the CDM's vocabulary.

An item names a concept by `id`, by `vocabulary` + `code`, or by `vocabulary` + `name`.
Resolution (docs/omop.md, "Concept sets"): an `id` is checked against CONCEPT and a
different name, vocabulary or code is a warning (the id is kept; an id absent from CONCEPT
whose code resolves to another id is replaced by it, with a warning); codes and names are
looked up in CONCEPT. Descendants come from CONCEPT_ANCESTOR. The roots are a handful of
rows; the expanded sets stay engine expressions.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import yaml

from ctit import knowledge
from ctit.errors import ProblemLog
from ctit.omop.cdm import Cdm

OVERRIDE_ENV = "CTIT_OMOP_CONCEPTS"


def load_settings(override: Path | None = None) -> dict[str, Any]:
    """The packaged concept sets, with an override file's keys on top (`sets`-like mappings
    `labs`, `drugs`, `transfusions`, `units`, `body` are merged one level deep)."""
    settings = yaml.safe_load(knowledge.path("omop_concepts.yaml").read_text(encoding="utf-8"))
    paths = [p for p in (override, os.environ.get(OVERRIDE_ENV)) if p]
    for p in paths:
        extra = yaml.safe_load(Path(p).read_text(encoding="utf-8")) or {}
        for key, value in extra.items():
            if isinstance(value, dict) and isinstance(settings.get(key), dict) and key in (
                    "labs", "drugs", "transfusions", "units", "body"):
                settings[key] = {**settings[key], **value}
            else:
                settings[key] = value
    return settings


def bleeding_rows(settings: dict[str, Any], override_dir: Path | None = None) -> list[dict[str, str]]:
    """The condition -> WHO bleeding grade table (knowledge/omop_bleeding_who.csv or the
    file the settings name)."""
    name = settings.get("bleeding_table", "omop_bleeding_who.csv")
    path = Path(name)
    if not path.is_absolute():
        local = (override_dir / name) if override_dir else None
        path = local if local is not None and local.is_file() else knowledge.path(name)
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@dataclass
class Vocabulary:
    """CONCEPT and CONCEPT_ANCESTOR of the CDM (either may be absent)."""

    concept: ir.Table | None
    ancestor: ir.Table | None
    log: ProblemLog
    by_id: dict[int, dict[str, Any]] = field(default_factory=dict)
    by_code: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    by_name: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def prefetch(self, items: list[dict[str, Any]]) -> None:
        """Fetch, in one query, the CONCEPT rows every item may name (a few hundred at most)."""
        if self.concept is None or not items:
            return
        c = self.concept
        ids = sorted({int(i["id"]) for i in items if i.get("id") is not None})
        codes = sorted({str(i["code"]) for i in items if i.get("code")})
        names = sorted({str(i["name"]).lower() for i in items if i.get("name")})
        cond = c.concept_id.isin(ids or [-1]) | c.concept_code.isin(codes or [""]) \
            | c.concept_name.lower().isin(names or [""])
        for r in c.filter(cond).to_pyarrow().to_pylist():
            cid = int(r["concept_id"])
            self.by_id[cid] = r
            vocab = str(r["vocabulary_id"] or "").lower()
            self.by_code.setdefault((vocab, str(r["concept_code"])), []).append(cid)
            self.by_name.setdefault((vocab, str(r["concept_name"] or "").lower()), []).append(cid)

    @classmethod
    def of(cls, cdm: Cdm, log: ProblemLog) -> "Vocabulary":
        concept = ancestor = None
        if cdm.has("concept"):
            concept = cdm.typed("concept", {"concept_id": "int64", "concept_name": "string",
                                            "domain_id": "string", "vocabulary_id": "string",
                                            "concept_class_id": "string", "concept_code": "string"}, log)
        if cdm.has("concept_ancestor"):
            ancestor = cdm.typed("concept_ancestor", {"ancestor_concept_id": "int64",
                                                      "descendant_concept_id": "int64"}, log)
        return cls(concept, ancestor, log)

    def names(self) -> ir.Table | None:
        return None if self.concept is None else self.concept.select("concept_id", "concept_name")

    def roots(self, set_name: str, items: list[dict[str, Any]]) -> list[int]:
        """The concept ids of a set's items, each checked against CONCEPT (module docstring)."""
        ids: list[int] = []
        given = [int(i["id"]) for i in items if i.get("id") is not None]
        found = {i: self.by_id[i] for i in given if i in self.by_id}
        missing: list[int] = []
        for item in items:
            if item.get("id") is not None:
                cid = int(item["id"])
                row = found.get(cid)
                if row is None and self.concept is not None and item.get("code"):
                    alt = self._lookup(item)
                    if alt and cid not in alt:
                        self.log.warn("CONCEPT", f"concept set {set_name!r}: concept_id {cid} is not in "
                                      f"CONCEPT; {item.get('vocabulary')} code {item['code']} is concept_id "
                                      f"{', '.join(map(str, alt))} here, which is used")
                        ids.extend(alt)
                        continue
                if row is None:
                    missing.append(cid)
                else:
                    self._check(set_name, item, row)
                ids.append(cid)
            elif self.concept is not None:
                ids.extend(self._lookup(item))
        # A CONCEPT table may be a subset: an id missing from it matters only when none of
        # the set's ids is there (the set then likely matches nothing).
        if missing and len(missing) == len(given) and self.concept is not None \
                and not set_name.endswith("(excluded)"):
            self.log.warn("CONCEPT", f"concept set {set_name!r}: concept_id {', '.join(map(str, missing))} "
                          "not in this CDM's CONCEPT table; used as given")
        return sorted(set(ids))

    def _lookup(self, item: dict[str, Any]) -> list[int]:
        vocab = str(item.get("vocabulary", "")).lower()
        if item.get("code"):
            return sorted(self.by_code.get((vocab, str(item["code"])), []))
        if item.get("name"):
            return sorted(self.by_name.get((vocab, str(item["name"]).lower()), []))
        return []

    def _check(self, set_name: str, item: dict[str, Any], row: dict[str, Any]) -> None:
        """A concept whose name, vocabulary or code is not what the set expects: a warning."""
        differs = []
        for key, column in (("name", "concept_name"), ("vocabulary", "vocabulary_id"), ("code", "concept_code")):
            want = item.get(key)
            if want is not None and str(row.get(column) or "").lower() != str(want).lower():
                differs.append(f"{key} {row.get(column)!r}, expected {want!r}")
        if differs:
            self.log.warn("CONCEPT", f"concept set {set_name!r}: concept_id {item['id']} has "
                          + "; ".join(differs) + "; the id is used as given")

    def expand(self, ids: list[int], descendants: bool = True) -> ir.Table:
        """The ids and, with `descendants`, every descendant: a one-column table concept_id."""
        base = ibis.memtable({"concept_id": ids}, schema={"concept_id": "int64"})
        if not descendants or self.ancestor is None or not ids:
            return base
        a = self.ancestor
        down = a.filter(a.ancestor_concept_id.isin(ids)).select(concept_id=a.descendant_concept_id)
        return ibis.union(base, down, distinct=True)

    def concept_set(self, set_name: str, spec: dict[str, Any], *, descendants: bool | None = None) -> ir.Table:
        """A set spec (include, exclude, descendants) as a table of concept_id."""
        deep = spec.get("descendants", True) if descendants is None else descendants
        inc = self.expand(self.roots(set_name, spec.get("include", [])), deep)
        exc_items = spec.get("exclude", [])
        if exc_items:
            exc = self.expand(self.roots(set_name + " (excluded)", exc_items), deep)
            inc = inc.anti_join(exc, "concept_id")
        return inc

    def drug_concepts(self, ingredient_ids: list[int], ingredient: str | None) -> ir.Table:
        """An ingredient's drug concepts: descendants, or, without CONCEPT_ANCESTOR, every Drug
        concept whose name contains the ingredient's name (RxNorm names drugs by ingredient)."""
        base = self.expand(ingredient_ids, True)
        if self.ancestor is None and self.concept is not None and ingredient:
            c = self.concept
            named = c.filter((c.domain_id == "Drug") & c.concept_name.lower().contains(ingredient.lower()))
            base = ibis.union(base, named.select("concept_id"), distinct=True)
        return base


def all_items(settings: Any) -> list[dict[str, Any]]:
    """Every concept item anywhere in the settings (the lists under include / exclude)."""
    out: list[dict[str, Any]] = []
    if isinstance(settings, dict):
        for key, value in settings.items():
            if key in ("include", "exclude") and isinstance(value, list):
                out.extend(v for v in value if isinstance(v, dict))
            else:
                out.extend(all_items(value))
    elif isinstance(settings, list):
        for value in settings:
            out.extend(all_items(value))
    return out


def dictionary_names(settings: dict[str, Any] | None = None) -> ir.Table:
    """Source-value rules: the drug dictionary's names (knowledge/drugs.csv) and the
    `source_values` a drug entry of the settings lists (a site's local names, e.g. for rhTPO),
    as name (lower), drug, role; the settings' names come first where both give one."""
    rows = {n.lower(): (e.drug, e.role) for n, e in knowledge.drug_dictionary().items()}
    for role, entries in (settings or {}).get("drugs", {}).items():
        for e in entries:
            for name in e.get("source_values", []) or []:
                rows[str(name).strip().lower()] = (e.get("drug") or str(name), role)
    return ibis.memtable({"_name": list(rows), "_dict_drug": [r[0] for r in rows.values()],
                          "_dict_role": [r[1] for r in rows.values()]})
