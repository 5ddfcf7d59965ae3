"""Wilcoxon signed-rank test, pinned against R 4.2.2:
`wilcox.test(d, rep(0, length(d)), paired = TRUE)`.

R numbers were computed once (R is never called by the tests); the R call is beside each case.
"""

from __future__ import annotations

import math

import pytest

from ctit.stats import WilcoxonResult, wilcoxon_signed_rank

EXACT = "Wilcoxon signed rank exact test"
CORRECTED = "Wilcoxon signed rank test with continuity correction"


def _signed(values: range, step: float, every: int) -> list[float]:
    return [(i + step) * (-1 if i % every == 0 else 1) for i in values]


R_CASES = [
    # d60 <- (1:60 + 0.5) * ifelse((1:60) %% 3 == 0, -1, 1); n >= 50, no ties: normal approximation
    ("n60_no_ties", _signed(range(1, 61), 0.5, 3), 1200, 0.036226494178786643, CORRECTED),
    # d49 <- (1:49 + 0.25) * ifelse((1:49) %% 4 == 0, -1, 1); n = 49 < 50: still exact
    ("n49_no_ties", _signed(range(1, 50), 0.25, 4), 913, 0.0023352991113441139, EXACT),
    # d50 <- (1:50 + 0.25) * ifelse((1:50) %% 4 == 0, -1, 1); n = 50: normal approximation
    ("n50_no_ties", _signed(range(1, 51), 0.25, 4), 963, 0.0017050250555130208, CORRECTED),
    # c(1, 1, 2, -2, 3, 3, 3, -1, 4, 5, -5, 2): ties, no zeros
    (
        "ties_no_zeros",
        [1, 1, 2, -2, 3, 3, 3, -1, 4, 5, -5, 2],
        59.5,
        0.11483394339500672,
        CORRECTED,
    ),
    # c(3)
    ("n1_positive", [3], 1, 1.0, EXACT),
    # c(-3)
    ("n1_negative", [-3], 0, 1.0, EXACT),
    # c(0, 0, 2): one nonzero difference after dropping zeros
    ("n1_nonzero_with_zeros", [0, 0, 2], 1, 1.0, CORRECTED),
    # -(1:10) * 1.1: all negative
    ("all_negative_n10", [-i * 1.1 for i in range(1, 11)], 0, 0.001953125, EXACT),
    # c(1, -1, 2, -2): V at its mean, z = 0
    ("balanced_ties_z0", [1, -1, 2, -2], 5, 1.0, CORRECTED),
    # c(1, -2, 3, 3, -4, 5, -6, -1): |z| < 0.5, the correction crosses the mean
    ("small_z_correction_overshoot", [1, -2, 3, 3, -4, 5, -6, -1], 17.5, 1.0, CORRECTED),
    # c(-5, -4, -3, 1, -2, -6, 7, -8): exact, V below its mean (lower tail)
    ("exact_tail_lower", [-5, -4, -3, 1, -2, -6, 7, -8], 8, 0.19531250000000006, EXACT),
    # round(c(0.1 + 0.2 - 0.3, 0.1 + 0.2, 0.3, -0.7, 1.1, 2.2, 1.3), 9): R on the rounded values
    # (one zero, one tie); ours rounds by itself, see test_noise_is_rounded_away
    (
        "rounded_noise_zero_and_tie",
        [0.1 + 0.2 - 0.3, 0.1 + 0.2, 0.3, -0.7, 1.1, 2.2, 1.3],
        18,
        0.14111613817133617,
        CORRECTED,
    ),
]


@pytest.mark.parametrize(
    ("d", "v", "p", "method"), [c[1:] for c in R_CASES], ids=[c[0] for c in R_CASES]
)
def test_matches_r(d: list[float], v: float, p: float, method: str) -> None:
    result = wilcoxon_signed_rank(d)
    assert result.method == method
    assert result.statistic == v
    assert result.p_value == pytest.approx(p, rel=1e-9)


def test_counts() -> None:
    result = wilcoxon_signed_rank([0, 0, 2, -1, None, float("nan"), 3])
    assert (result.n_pairs, result.n_nonzero) == (5, 3)


def test_noise_is_rounded_away() -> None:
    noisy = [0.1 + 0.2 - 0.3, 0.1 + 0.2, 0.3, -0.7, 1.1, 2.2, 1.3]
    assert noisy[0] != 0 and noisy[1] != noisy[2]
    result = wilcoxon_signed_rank(noisy)
    assert (result.n_pairs, result.n_nonzero) == (7, 6)
    assert result.method == CORRECTED
    # Without rounding the noise is data, as in R's default:
    # wilcox.test(c(0.1 + 0.2 - 0.3, 0.1 + 0.2, 0.3, -0.7, 1.1, 2.2, 1.3), rep(0, 7), paired = TRUE)
    raw = wilcoxon_signed_rank(noisy, rounding_digits=None)
    assert (raw.n_nonzero, raw.statistic, raw.method) == (7, 24, EXACT)
    assert raw.p_value == pytest.approx(0.10937500000000003, rel=1e-9)


def test_ties_that_appear_only_after_rounding() -> None:
    # 1.0000000001 and 0.99999999996 differ, but are both 1.0 at 9 decimals.
    d = [1.0000000001, -0.99999999996, 2, 3, 4]
    assert wilcoxon_signed_rank(d, rounding_digits=None).method == EXACT
    rounded = wilcoxon_signed_rank(d)
    assert rounded.method == CORRECTED
    # wilcox.test(c(1, -1, 2, 3, 4), rep(0, 5), paired = TRUE): V = 13.5, p = 0.13621686984456766
    assert rounded.statistic == 13.5
    assert rounded.p_value == pytest.approx(0.13621686984456766, rel=1e-9)


def test_unit_conversion_noise_counts_as_zero() -> None:
    # e.g. 150 x 10^9/L entered as 150000 /uL and converted back
    diffs = [150000 / 1000 - 150, 0.1 * 3 - 0.3, 5, -2, 7]
    result = wilcoxon_signed_rank(diffs)
    assert result.n_nonzero == 3
    assert result.method == CORRECTED
    # wilcox.test(c(0, 0, 5, -2, 7), rep(0, 5), paired = TRUE): V = 5, p = 0.42267807417063546
    # (R on the raw values sees 0.1 * 3 - 0.3 = 5.6e-17 as a difference: V = 8, p = 0.3613)
    assert result.statistic == 5
    assert result.p_value == pytest.approx(0.42267807417063546, rel=1e-9)


def test_all_zero_differences() -> None:
    # wilcox.test(1:6, 1:6, paired = TRUE): V = 0, p = NA
    result = wilcoxon_signed_rank([0.0] * 6)
    assert result == WilcoxonResult(6, 0, 0.0, None, None)  # no test done, none named


def test_empty_input() -> None:
    # R stops ("not enough (non-missing) 'x' observations"); here p is None.
    for empty in ([], [None, float("nan")]):
        result = wilcoxon_signed_rank(empty)
        summary = (result.n_pairs, result.n_nonzero, result.statistic, result.p_value, result.method)
        assert summary == (0, 0, 0.0, None, None)


def test_exact_max_n_is_the_switch() -> None:
    d = _signed(range(1, 13), 0.5, 3)
    assert wilcoxon_signed_rank(d, exact_max_n=12).method == CORRECTED
    assert wilcoxon_signed_rank(d, exact_max_n=13).method == EXACT


def test_exact_p_is_symmetric_in_sign() -> None:
    d = [0.95, -0.15, 1.02, 0.43, 0.62, 0.59, 0.49, -0.08, 0.01, -0.36, 0.32, 0.67]
    pos = wilcoxon_signed_rank(d)
    neg = wilcoxon_signed_rank([-x for x in d])
    assert pos.statistic + neg.statistic == 12 * 13 / 2
    assert pos.p_value == neg.p_value


def test_agrees_with_scipy_exact_where_defaults_agree() -> None:
    from scipy.stats import wilcoxon

    d = _signed(range(1, 21), 0.5, 3)
    ours = wilcoxon_signed_rank(d)
    theirs = wilcoxon(d, method="exact")
    assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-12)


def test_infinite_difference_is_an_error() -> None:
    with pytest.raises(ValueError):
        wilcoxon_signed_rank([1, math.inf])


def test_as_dict_is_json_ready() -> None:
    import json

    result = wilcoxon_signed_rank([1, 2, 3])
    assert json.loads(json.dumps(result.as_dict())) == {
        "n_pairs": 3,
        "n_nonzero": 3,
        "statistic": 6.0,
        "p_value": 0.25,
        "method": EXACT,
    }
