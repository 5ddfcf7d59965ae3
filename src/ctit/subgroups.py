"""Exploratory subgroups: overall response rate with its exact CI within patient subsets.

One function, `subgroup_orr`, builds every subgroup row from the per-patient table; the
reports only format what it returns. The subsets are descriptive and not powered: the
report labels them exploratory and states no test between subgroups.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from ctit.columns import per_distinct
from ctit.protocol import Protocol
from ctit.stats import clopper_pearson

# Primary site from a free-text tumor type: the keyword that occurs EARLIEST in the text wins
# (the primary site is named first: "breast cancer with lung metastases" is Breast); of two
# keywords starting at the same place, the longer ("colorectal" over "colon"). Order in this
# table does not matter. Unmatched types are kept as written, so nothing is hidden in an
# "other" bucket.
TUMOR_SITES: tuple[tuple[str, str], ...] = (
    ("lung", "Lung"), ("breast", "Breast"), ("gastric", "Gastric"), ("stomach", "Gastric"),
    ("colorectal", "Colorectal"), ("colon", "Colorectal"), ("rectal", "Colorectal"),
    ("pancrea", "Pancreatic"), ("hepatocellular", "Liver"), ("liver", "Liver"),
    ("cholangio", "Biliary"), ("biliary", "Biliary"), ("ovarian", "Ovarian"),
    ("cervical", "Cervical"), ("nasopharyn", "Nasopharyngeal"), ("esophag", "Esophageal"),
    ("oesophag", "Esophageal"),
)

NOT_RECORDED = "Not recorded"


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and pd.isna(x)) or x is pd.NA or not str(x).strip()


def tumor_site(tumor_type: Any) -> str:
    """Primary tumor site of a free-text tumor type (see TUMOR_SITES): the earliest keyword."""
    if _missing(tumor_type):
        return NOT_RECORDED
    text = str(tumor_type).strip()
    low = text.lower()
    found = [(low.find(key), -len(key), site) for key, site in TUMOR_SITES if key in low]
    return min(found)[2] if found else text


def tpo_ra_agent(agents: Any) -> str:
    """The prior TPO-RA of the qualifying course as reported everywhere (Table 1, subgroups):
    the engine's comma-joined agents; a switch within the course reads 'A + B'; no agent
    (missing or empty) is NOT_RECORDED."""
    if _missing(agents):
        return NOT_RECORDED
    parts = [a.strip() for a in str(agents).split(",") if a.strip()]
    return " + ".join(parts) if parts else NOT_RECORDED


def _baseline_grade(grade: Any) -> str:
    if _missing(grade):
        return NOT_RECORDED
    return "Grade 4" if int(grade) >= 4 else "Grade 2-3"


# Subgroup variables: (key, label, column of the per-patient table, its value -> the level).
SUBGROUP_VARIABLES: tuple[tuple[str, str, str, Callable[[Any], str]], ...] = (
    ("tumor_site", "Tumor site", "tumor_type", tumor_site),
    ("prior_tpo_ra", "Prior TPO-RA", "prior_tpo_ra_agents", tpo_ra_agent),
    ("baseline_grade", "Baseline platelet grade", "baseline_grade", _baseline_grade),
)


def _levels(patients: pd.DataFrame, column: str, level_of: Callable[[Any], str]) -> pd.Series:
    """Each patient's level, `level_of` applied once per distinct value (a missing column:
    every patient not recorded)."""
    if column not in patients.columns:
        return pd.Series(level_of(None), index=patients.index, dtype=object)
    return per_distinct(patients[column], level_of)


def subgroup_orr(patients: pd.DataFrame, protocol: Protocol) -> list[dict[str, Any]]:
    """ORR (CR + PR, the protocol's response rules) with its exact CI per subgroup level.

    Included patients only. One dict per (variable, level): `variable`, `variable_label`,
    `level`, `n`, `responders`, `pct`, `ci95_low`, `ci95_high` (0-100 scale, Clopper-Pearson at
    the protocol's `ci_level`). Levels are ordered by decreasing n, then name; the baseline
    grade puts grade 4 first.
    """
    included = patients[patients.included.astype(bool)]
    responder_categories = {r.category for r in protocol.response_rules if r.counts_as_response}
    out: list[dict[str, Any]] = []
    for key, label, column, level_of in SUBGROUP_VARIABLES:
        levels = _levels(included, column, level_of)
        responders = included.best_response.isin(responder_categories)
        counts = levels.value_counts()
        order = sorted(counts.index, key=lambda lv: (lv == NOT_RECORDED, -counts[lv], lv))
        for level in order:
            mask = levels == level
            n = int(mask.sum())
            k = int((responders & mask).sum())
            p = clopper_pearson(k, n, level=protocol.ci_level)
            out.append({
                "variable": key, "variable_label": label, "level": str(level), "n": n,
                "responders": k, "pct": p.pct, "ci95_low": p.ci95_low, "ci95_high": p.ci95_high,
            })
    return out
