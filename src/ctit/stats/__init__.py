"""Statistics on the per-patient table: tidy, frozen results that name their method.

Each function reproduces a named R (and, where stated, SAS) computation; see
docs/statistics.md. Every result has `as_dict()` for results.json.
"""

from ctit.stats.proportion import Proportion, clopper_pearson
from ctit.stats.summary import Summary, summarize
from ctit.stats.survival import KaplanMeier, KaplanMeierRow, kaplan_meier
from ctit.stats.wilcoxon import WilcoxonResult, wilcoxon_signed_rank

__all__ = [
    "KaplanMeier",
    "KaplanMeierRow",
    "Proportion",
    "Summary",
    "WilcoxonResult",
    "clopper_pearson",
    "kaplan_meier",
    "summarize",
    "wilcoxon_signed_rank",
]
