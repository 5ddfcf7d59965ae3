"""The pure-Python incomplete beta and its inverse, against exact values and SciPy's.

The Clopper-Pearson limits are beta quantiles at the shapes (k, n - k + 1) and (k + 1, n - k);
they are checked over every k of small n, and at the extremes and the middle of large n, where
a naive log-space prefactor would lose digits. For integer shapes the exact value is a binomial
tail, I_x(a, b) = P(Binomial(a + b - 1, x) >= a), summed here in 60-digit decimals; SciPy
(Boost's ibeta_inv) is itself only good to about 1e-11 at n = 10^6, so it is the reference
for the broad grid at that tolerance, and the exact tail pins the last digits.
"""

from __future__ import annotations

import decimal
import math

import pytest
from scipy.special import betainc, betaincinv

from ctit.stats._quantiles import beta_quantile, regularized_incomplete_beta

LEVELS = (0.025, 0.975, 0.005, 0.995, 0.05, 0.5)


def _close(got: float, want: float, rel: float = 1e-12) -> bool:
    return math.isclose(got, want, rel_tol=rel, abs_tol=1e-300)


def _cp_shapes(n: int):
    ks = range(n + 1) if n <= 60 else sorted({0, 1, 2, 3, n // 3, n // 2, n - 3, n - 2, n - 1, n})
    for k in ks:
        if k > 0:
            yield k, n - k + 1
        if k < n:
            yield k + 1, n - k


def _exact_tail(x: float, a: int, b: int) -> decimal.Decimal:
    """I_x(a, b) for integer shapes, as a binomial tail summed over the fewer terms."""
    with decimal.localcontext(decimal.Context(prec=60)):
        n, x_ = a + b - 1, decimal.Decimal(x)
        if a <= b:
            return 1 - sum(math.comb(n, j) * x_**j * (1 - x_) ** (n - j) for j in range(a))
        return sum(math.comb(n, i) * (1 - x_) ** i * x_ ** (n - i) for i in range(b))


def _exact_root(q: float, target: decimal.Decimal, a: int, b: int) -> decimal.Decimal:
    """The exact root of I_x(a, b) = target near q: one Newton step in 60 digits from q, which
    squares q's relative error (1e-14 becomes 1e-28)."""
    with decimal.localcontext(decimal.Context(prec=60)):
        n, x = a + b - 1, decimal.Decimal(q)
        density = n * math.comb(n - 1, a - 1) * x ** (a - 1) * (1 - x) ** (b - 1)
        return x - (_exact_tail(q, a, b) - target) / density


# Lower-tail probabilities, and upper-tail ones (an upper confidence limit's alpha/2, given
# exactly: 1 - 0.0005 as a double is 1.4e-14 relative off the upper limit it stands for).
TARGETS = [(p, False) for p in LEVELS] + [(p, True) for p in (0.025, 0.0005, 1e-10)]


@pytest.mark.parametrize("n", [1, 2, 5, 27, 60, 1_000, 100_000, 1_000_000])
def test_clopper_pearson_quantiles_match_the_exact_root(n: int) -> None:
    misses = []
    for a, b in _cp_shapes(n):
        if min(a, b) > 60:
            continue  # the exact sum would need too many terms; the SciPy grid covers these
        for p, upper in TARGETS:
            q = beta_quantile(p, a, b, upper=upper)
            target = 1 - decimal.Decimal(p) if upper else decimal.Decimal(p)
            error = abs((decimal.Decimal(q) - _exact_root(q, target, a, b)) / decimal.Decimal(q))
            if error > 4e-15:
                misses.append((p, upper, a, b, q, float(error)))
    assert misses == []


@pytest.mark.parametrize("n", [1, 2, 5, 27, 60, 1_000, 100_000, 1_000_000])
def test_beta_quantiles_match_scipy_on_clopper_pearson_shapes(n: int) -> None:
    misses = [
        (p, a, b, beta_quantile(p, a, b), float(betaincinv(a, b, p)))
        for a, b in _cp_shapes(n)
        for p in LEVELS
        if not _close(beta_quantile(p, a, b), float(betaincinv(a, b, p)), rel=1e-10)
    ]
    assert misses == []


@pytest.mark.parametrize("a,b", [(1, 1), (1, 30), (30, 1), (2.5, 7.25), (500, 3), (10**6, 10**6)])
def test_incomplete_beta_matches_scipy_across_x(a: float, b: float) -> None:
    xs = [0.0, 1e-300, 1e-12, 0.001, 0.1, 0.3, 0.5, 0.7, 0.9, 0.999, 1 - 1e-12, 1.0]
    xs += [a / (a + b) * f for f in (0.99, 0.999, 1.0, 1.001)]
    misses = [
        (x, regularized_incomplete_beta(x, a, b), float(betainc(a, b, x)))
        for x in xs
        if x <= 1 and not _close(regularized_incomplete_beta(x, a, b), float(betainc(a, b, x)))
    ]
    assert misses == []


def test_quantile_inverts_the_distribution_function() -> None:
    for a, b in [(3, 25), (14, 14), (26, 2), (1, 1)]:
        for p in (1e-10, 0.025, 0.5, 0.975, 1 - 1e-10):
            assert regularized_incomplete_beta(beta_quantile(p, a, b), a, b) == pytest.approx(p, rel=1e-12)


@pytest.mark.parametrize(
    "call",
    [lambda: beta_quantile(1.5, 2, 2), lambda: beta_quantile(0.5, 0.5, 2),
     lambda: regularized_incomplete_beta(-0.1, 2, 2), lambda: beta_quantile(0.5, 2, math.inf)],
)
def test_out_of_domain_arguments_are_refused(call) -> None:
    with pytest.raises(ValueError):
        call()


def test_the_ends_are_exact() -> None:
    assert beta_quantile(0, 3, 4) == 0.0 and beta_quantile(1, 3, 4) == 1.0
    assert beta_quantile(0, 3, 4, upper=True) == 1.0 and beta_quantile(1, 3, 4, upper=True) == 0.0
    assert regularized_incomplete_beta(0, 3, 4) == 0.0 and regularized_incomplete_beta(1, 3, 4) == 1.0
