"""A proportion with its exact (Clopper-Pearson) confidence interval, on the 0-100 scale."""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

from ctit.stats._common import as_dict, percent_label
from ctit.stats._quantiles import beta_quantile


@dataclass(frozen=True)
class Proportion:
    """k of n as a percentage with its Clopper-Pearson limits (0-100 scale; None when n = 0).

    The limit fields keep the data contract's names `ci95_low`/`ci95_high`; the confidence
    level actually used is stated in `method`.
    """

    k: int
    n: int
    pct: float | None
    ci95_low: float | None
    ci95_high: float | None
    method: str

    def as_dict(self) -> dict[str, Any]:
        return as_dict(self)


def clopper_pearson(k: int, n: int, level: float = 0.95) -> Proportion:
    """Percentage k/n with the exact two-sided Clopper-Pearson interval at `level`.

    Limits are beta quantiles: lower = Beta(alpha/2; k, n-k+1) (0 when k = 0), upper =
    Beta(1-alpha/2; k+1, n-k) (1 when k = n), alpha = 1 - level, multiplied by 100. This is
    R's `binom.test(k, n, conf.level = level)$conf.int`, SAS PROC FREQ's BINOMIAL "Exact
    Conf Limits", and SciPy's `binomtest(k, n).proportion_ci(method="exact")`.
    n = 0 gives pct and limits None. k and n must be integers with 0 <= k <= n.
    """
    k = operator.index(k)
    n = operator.index(n)
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    method = f"Clopper-Pearson exact {percent_label(level)}% CI"
    if n == 0:
        return Proportion(k=k, n=n, pct=None, ci95_low=None, ci95_high=None, method=method)
    alpha = 1 - level
    low = 0.0 if k == 0 else beta_quantile(alpha / 2, k, n - k + 1)
    high = 1.0 if k == n else beta_quantile(alpha / 2, k + 1, n - k, upper=True)
    return Proportion(
        k=k, n=n, pct=100 * k / n, ci95_low=100 * low, ci95_high=100 * high, method=method
    )


