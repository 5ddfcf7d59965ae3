"""The SDTM mapping as data: `knowledge/sdtm_mapping.yaml`, optionally overridden by a file.

An override file has the same shape; its top-level entries replace the defaults' (a nested
dictionary is merged one level deep, so `imputation: {point: first}` keeps the other rules).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from ctit import knowledge
from ctit.cdisc.dates import IMPUTATIONS

DEFAULT = "sdtm_mapping.yaml"


@cache
def _default() -> dict[str, Any]:
    with knowledge.path(DEFAULT).open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def load_mapping(path: Path | None = None) -> dict[str, Any]:
    """The effective mapping: the bundled one, with `path`'s entries over it."""
    base = {k: (dict(v) if isinstance(v, dict) else v) for k, v in _default().items()}
    if path is not None:
        with Path(path).open(encoding="utf-8") as fh:
            override = yaml.safe_load(fh) or {}
        if not isinstance(override, dict):
            raise ValueError(f"{path}: a mapping file must be a YAML dictionary")
        for k, v in override.items():
            if isinstance(v, dict) and isinstance(base.get(k), dict):
                base[k] = {**base[k], **v}
            else:
                base[k] = v
    for kind, rule in base["imputation"].items():
        if rule not in IMPUTATIONS:
            raise ValueError(f"mapping: imputation.{kind} must be one of {IMPUTATIONS}, got {rule!r}")
    return base


def as_list(value: Any) -> list[str]:
    """A variable name or list of names -> list."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def domains_used(mapping: dict[str, Any]) -> list[str]:
    """Every domain the mapping reads."""
    p = mapping["patients"]
    out = [p["domain"], p["vitals"]["domain"], p["supplemental"]["domain"]]
    out += [e["domain"] for e in mapping["exposures"]]
    out += [mapping[t]["domain"] for t in ("labs", "adverse_events", "transfusions", "bleeding")]
    return list(dict.fromkeys(d.upper() for d in out))
