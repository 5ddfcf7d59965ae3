"""Wilcoxon signed-rank test on paired differences, as R's `wilcox.test(paired = TRUE)`."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

from ctit.stats._common import as_dict, finite_floats

EXACT_METHOD = "Wilcoxon signed rank exact test"
NORMAL_METHOD = "Wilcoxon signed rank test"
CORRECTED_METHOD = "Wilcoxon signed rank test with continuity correction"


@dataclass(frozen=True)
class WilcoxonResult:
    """Two-sided Wilcoxon signed-rank test of `differences` against 0.

    `statistic` is R's V, the sum of the ranks of the positive differences; `p_value` is None
    when no difference is left after dropping zeros, and so is `method`: no test was done.
    """

    n_pairs: int
    n_nonzero: int
    statistic: float
    p_value: float | None
    method: str | None

    def as_dict(self) -> dict[str, Any]:
        return as_dict(self)


def wilcoxon_signed_rank(
    differences: Iterable[Any],
    *,
    exact_max_n: int = 50,
    rounding_digits: int | None = 9,
    correction: bool = True,
) -> WilcoxonResult:
    """Two-sided Wilcoxon signed-rank test, reproducing R's `wilcox.test(x, y, paired = TRUE)`.

    Rules, in order:

    1. None/NaN differences are dropped (R drops incomplete pairs); `n_pairs` counts the rest.
       Infinite differences raise ValueError.
    2. Differences are rounded to `rounding_digits` decimals (None: not rounded) so that
       floating-point noise such as ``0.1 + 0.2 - 0.3`` or unit-conversion residue neither
       hides a zero nor splits a tie. R has no such step (its `digits.rank` is Inf by default);
       on data without such noise the results are identical.
    3. Zero differences are dropped; `n_nonzero` counts the rest. The absolute differences are
       ranked, ties sharing their mean rank; V = sum of the ranks of the positive differences.
    4. Exact null distribution of V (R's `psignrank`; p = min(1, 2 x the smaller tail)) when
       `n_nonzero < exact_max_n` and there were neither zero differences nor tied absolute
       differences. Otherwise the normal approximation with the tie-corrected variance
       n(n+1)(2n+1)/24 - sum(t^3 - t)/48, with continuity correction (0.5 towards the mean)
       unless `correction` is False (R's `correct = FALSE`).

    `exact_max_n=50` is R's default (`exact = NULL`); `exact_max_n=0` is R's `exact = FALSE`.
    SAS PROC UNIVARIATE reports S = V - n(n+1)/4, exact for n <= 20 and a Student t
    approximation above; SciPy's `wilcoxon` has other defaults (zero handling, when to be
    exact): both can give p-values that differ from R's.
    With no difference left, R stops with an error; here `p_value` is None and V is 0.
    """
    if exact_max_n < 0:
        raise ValueError("exact_max_n must be >= 0")
    diffs = finite_floats(differences, name="wilcoxon_signed_rank")
    if rounding_digits is not None:
        diffs = [round(d, rounding_digits) for d in diffs]
    n_pairs = len(diffs)
    zeros = any(d == 0 for d in diffs)
    nonzero = [d for d in diffs if d != 0]
    n = len(nonzero)
    ranks = _average_ranks([abs(d) for d in nonzero])
    statistic = float(sum(r for r, d in zip(ranks, nonzero) if d > 0))
    ties = len(set(ranks)) != len(ranks)

    if n == 0:
        # No pair (or only zero differences): no test is done, so none is named.
        return WilcoxonResult(n_pairs=n_pairs, n_nonzero=0, statistic=0.0, p_value=None, method=None)
    if n < exact_max_n and not ties and not zeros:
        method = EXACT_METHOD
        p_value = _exact_p(int(statistic), n)
    else:
        method = CORRECTED_METHOD if correction else NORMAL_METHOD
        p_value = _normal_p(statistic, ranks, correction)
    return WilcoxonResult(
        n_pairs=n_pairs, n_nonzero=n, statistic=statistic, p_value=p_value, method=method
    )


def _average_ranks(values: list[float]) -> list[float]:
    """Ranks 1..n with tied values sharing their mean rank (R's `rank`, ties.method "average")."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        mean_rank = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[order[k]] = mean_rank
        i = j + 1
    return ranks


@lru_cache(maxsize=64)
def _signrank_counts(n: int) -> tuple[int, ...]:
    """Number of sign assignments giving each rank sum 0..n(n+1)/2 (integers: no rounding)."""
    counts = [1]
    for rank in range(1, n + 1):
        extended = counts + [0] * rank
        for total, ways in enumerate(counts):
            extended[total + rank] += ways
        counts = extended
    return tuple(counts)


def _exact_p(v: int, n: int) -> float:
    counts = _signrank_counts(n)
    # Same tail choice as R: the upper tail P(V >= v) when v is above the mean n(n+1)/4.
    if 4 * v > n * (n + 1):
        tail = sum(counts[v:])
    else:
        tail = sum(counts[: v + 1])
    return float(min(Fraction(2 * tail, 2**n), Fraction(1)))


def _normal_p(statistic: float, ranks: list[float], correction: bool) -> float:
    n = len(ranks)
    z = statistic - n * (n + 1) / 4
    tie_sizes = Counter(ranks).values()
    sigma = math.sqrt(n * (n + 1) * (2 * n + 1) / 24 - sum(t**3 - t for t in tie_sizes) / 48)
    if correction:
        z -= math.copysign(0.5, z) if z != 0 else 0.0
    z /= sigma
    # 2 x the smaller normal tail, via erfc for accuracy far out in the tail.
    return min(1.0, math.erfc(abs(z) / math.sqrt(2)))
