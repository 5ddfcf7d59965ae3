"""Clopper-Pearson intervals, pinned against R 4.2.2:
`binom.test(x, n, conf.level = level)$conf.int`.
"""

from __future__ import annotations

import json

import pytest

from ctit.stats import Proportion, clopper_pearson

R_CASES = [
    # binom.test(1, 1)$conf.int
    (1, 1, 0.95, 0.025000000000000022, 1.0),
    # binom.test(0, 1)$conf.int
    (0, 1, 0.95, 0.0, 0.97499999999999998),
    # binom.test(19, 28, conf.level = 0.90)$conf.int
    (19, 28, 0.90, 0.5062110280808656, 0.8209229948652812),
    # binom.test(4, 28)$conf.int
    (4, 28, 0.95, 0.040335630797091335, 0.32665266931579529),
    # binom.test(1, 28)$conf.int
    (1, 28, 0.95, 0.00090379875565805917, 0.18347759754462367),
    # binom.test(27, 28, conf.level = 0.99)$conf.int
    (27, 28, 0.99, 0.7631185942913602, 0.99982099667216695),
]


@pytest.mark.parametrize(("k", "n", "level", "low", "high"), R_CASES)
def test_matches_r(k: int, n: int, level: float, low: float, high: float) -> None:
    result = clopper_pearson(k, n, level)
    assert result.pct == pytest.approx(100 * k / n, rel=1e-12)
    assert result.ci95_low == pytest.approx(100 * low, rel=1e-9, abs=1e-12)
    assert result.ci95_high == pytest.approx(100 * high, rel=1e-9)


def test_bounds_are_exact_at_the_edges() -> None:
    assert clopper_pearson(0, 28).ci95_low == 0.0
    assert clopper_pearson(28, 28).ci95_high == 100.0


def test_zero_denominator() -> None:
    expected = Proportion(0, 0, None, None, None, "Clopper-Pearson exact 95% CI")
    assert clopper_pearson(0, 0) == expected


def test_method_names_the_level() -> None:
    assert clopper_pearson(19, 28, 0.90).method == "Clopper-Pearson exact 90% CI"


def test_numpy_integers_are_accepted() -> None:
    import numpy as np

    assert clopper_pearson(np.int64(4), np.int64(28)) == clopper_pearson(4, 28)


@pytest.mark.parametrize(
    ("k", "n", "level"), [(-1, 5, 0.95), (6, 5, 0.95), (1, 5, 0.0), (1, 5, 1.0), (1, -1, 0.95)]
)
def test_invalid_input(k: int, n: int, level: float) -> None:
    with pytest.raises(ValueError):
        clopper_pearson(k, n, level)


def test_fractional_counts_are_rejected() -> None:
    with pytest.raises(TypeError):
        clopper_pearson(1.5, 5)  # type: ignore[arg-type]


def test_as_dict_is_json_ready() -> None:
    d = json.loads(json.dumps(clopper_pearson(19, 28).as_dict()))
    assert set(d) == {"k", "n", "pct", "ci95_low", "ci95_high", "method"}
    assert d["ci95_low"] == pytest.approx(47.648359329038154, rel=1e-9)
