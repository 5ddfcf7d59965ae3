"""Kaplan-Meier and the median's Brookmeyer-Crowley interval, pinned against R 4.2.2 and
survival 3.5-3:
`f <- survfit(Surv(time, status) ~ 1, conf.type = "log-log", conf.int = level); quantile(f, 0.5)`.
"""

from __future__ import annotations

import json
import math

import pytest

from ctit.stats import KaplanMeier, kaplan_meier

NA = None
LOW_PLATEAU_LEVEL = 0.7476778884533908  # log-log lower curve = 0.5 at t = 3 for 1:10 all events
HIGH_PLATEAU_LEVEL = 0.8312360503546559  # log-log upper curve = 0.5 at t = 7 for 1:10 all events

R_CASES = [
    # time c(5, 10, 15, 20), status c(0, 0, 0, 0): all censored
    ("all_censored", [5, 10, 15, 20], [0, 0, 0, 0], 0.95, NA, NA, NA),
    # time c(1, 1, 1, 1, 1), status rep(1, 5): everyone has the event at the first time
    ("all_event_first_time", [1] * 5, [1] * 5, 0.95, 1, NA, NA),
    # time c(1, 1, 1, 1, 1, 2, 3, 4, 5, 6), status c(1, 1, 1, 1, 1, 0, 0, 0, 0, 0):
    # S = 0.5 from t = 1 to the end: median (1 + last time) / 2
    ("half_event_first_time", [1] * 5 + [2, 3, 4, 5, 6], [1] * 5 + [0] * 5, 0.95, 3.5, 1, NA),
    # time c(1, 1, 1, 2:8), status rep(1, 10)
    ("three_events_first_time", [1, 1, 1, 2, 3, 4, 5, 6, 7, 8], [1] * 10, 0.95, 3.5, 1, 6),
    # time 1:8, status c(1, 1, 1, 1, 0, 0, 1, 0): S = 0.5 from t = 4 through censorings to t = 7
    ("plateau_through_censoring", list(range(1, 9)), [1, 1, 1, 1, 0, 0, 1, 0], 0.95, 5.5, 1, NA),
    # time c(3, 5, 7, 9, 11, 13, rep(20, 6)), status c(rep(1, 6), rep(0, 6)):
    # S = 0.49999999999999989 in floating point from t = 13; the upper limit is not reached
    (
        "lower_reached_upper_not",
        [3, 5, 7, 9, 11, 13] + [20] * 6,
        [1] * 6 + [0] * 6,
        0.95,
        16.5,
        5,
        NA,
    ),
    # time 1:10, status rep(1, 10), conf.int = 0.7476778884533908: lower curve = 0.5 on [3, 4)
    ("lower_curve_plateau", list(range(1, 11)), [1] * 10, LOW_PLATEAU_LEVEL, 5.5, 3.5, 7),
    # time 1:10, status rep(1, 10), conf.int = 0.8312360503546559: upper curve = 0.5 on [7, 8)
    ("upper_curve_plateau", list(range(1, 11)), [1] * 10, HIGH_PLATEAU_LEVEL, 5.5, 3, 7.5),
    # time c(2, 2, 2, 4, 4, 6, 7, 7, 9, 11, 12, 12, 15, 18, 20),
    # status c(1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 0, 1, 1, 0, 0), conf.int = 0.90
    (
        "ties_event_censor_level90",
        [2, 2, 2, 4, 4, 6, 7, 7, 9, 11, 12, 12, 15, 18, 20],
        [1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 0, 1, 1, 0, 0],
        0.90,
        11,
        6,
        15,
    ),
    # time c(0, 2, 3, 5, 8, 9), status c(1, 1, 0, 1, 1, 0)
    ("event_at_time_zero", [0, 2, 3, 5, 8, 9], [1, 1, 0, 1, 1, 0], 0.95, 5, 0, NA),
]


@pytest.mark.parametrize(
    ("times", "events", "level", "median", "low", "high"),
    [c[1:] for c in R_CASES],
    ids=[c[0] for c in R_CASES],
)
def test_median_and_ci_match_r(
    times: list[float],
    events: list[int],
    level: float,
    median: float | None,
    low: float | None,
    high: float | None,
) -> None:
    result = kaplan_meier(times, events, level)
    assert (result.median, result.ci_low, result.ci_high) == (median, low, high)
    assert result.n == len(times)
    assert result.n_events == sum(events)


def _column(result: KaplanMeier, name: str) -> list[float | None]:
    return [getattr(row, name) for row in result.table]


def _assert_close(ours: list[float | None], r: list[float | None]) -> None:
    assert len(ours) == len(r)
    for a, b in zip(ours, r):
        if a is None or b is None:
            assert a is None and b is None, (ours, r)
        else:
            assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15), (ours, r)


def test_table_all_censored() -> None:
    # f$n.risk 4 3 2 1; f$n.censor 1 1 1 1; f$surv 1 1 1 1; f$lower and f$upper all NA
    result = kaplan_meier([5, 10, 15, 20], [0, 0, 0, 0])
    assert _column(result, "time") == [5, 10, 15, 20]
    assert _column(result, "n_risk") == [4, 3, 2, 1]
    assert _column(result, "n_event") == [0, 0, 0, 0]
    assert _column(result, "n_censor") == [1, 1, 1, 1]
    assert _column(result, "surv") == [1, 1, 1, 1]
    assert _column(result, "lower") == _column(result, "upper") == [None] * 4


def test_table_lower_curve_plateau() -> None:
    result = kaplan_meier(range(1, 11), [1] * 10, LOW_PLATEAU_LEVEL)
    # f$lower
    r_lower = [0.71807998615117508, 0.60521546664127968, 0.5, 0.40208801727057886,
               0.31082776102429072, 0.22616010608927445, 0.14870337081719365,
               0.080162725111414576, 0.024968064851384253, NA]  # fmt: skip
    # f$upper
    r_upper = [0.96703593466593107, 0.90560177937680797, 0.83232244631727303,
               0.75095534281031762, 0.66287755253052871, 0.56847127818278942,
               0.46738647610556672, 0.35829902277117359, 0.23769489963115392, NA]  # fmt: skip
    _assert_close(_column(result, "lower"), r_lower)
    _assert_close(_column(result, "upper"), r_upper)


def test_table_ties_level90() -> None:
    result = kaplan_meier(
        [2, 2, 2, 4, 4, 6, 7, 7, 9, 11, 12, 12, 15, 18, 20],
        [1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 0, 1, 1, 0, 0],
        0.90,
    )
    assert _column(result, "time") == [2, 4, 6, 7, 9, 11, 12, 15, 18, 20]
    assert _column(result, "n_risk") == [15, 12, 10, 9, 7, 6, 5, 3, 2, 1]
    assert _column(result, "n_event") == [2, 1, 1, 2, 0, 1, 1, 1, 0, 0]
    assert _column(result, "n_censor") == [1, 1, 0, 0, 1, 0, 1, 0, 1, 1]
    # f$surv
    _assert_close(_column(result, "surv"), [
        0.8666666666666667, 0.7944444444444444, 0.71499999999999997, 0.55611111111111111,
        0.55611111111111111, 0.46342592592592596, 0.37074074074074082, 0.24716049382716054,
        0.24716049382716054, 0.24716049382716054])  # fmt: skip
    # f$lower
    _assert_close(_column(result, "lower"), [
        0.6323271950354783, 0.55007263097281578, 0.46183622501430099, 0.31019799570137074,
        0.31019799570137074, 0.22722970763592057, 0.15545644575411363, 0.067652978348394982,
        0.067652978348394982, 0.067652978348394982])  # fmt: skip
    # f$upper
    _assert_close(_column(result, "upper"), [
        0.95630585107349952, 0.91521927900463429, 0.86443695258877695, 0.74516247078612996,
        0.74516247078612996, 0.67085827221606709, 0.58922886839156319, 0.48415825380123634,
        0.48415825380123634, 0.48415825380123634])  # fmt: skip


def test_exact_half_is_detected_despite_rounding() -> None:
    # 11/12 * 10/11 * ... * 6/7 is 0.49999999999999989 in floating point, 1/2 exactly.
    result = kaplan_meier([3, 5, 7, 9, 11, 13] + [20] * 6, [1] * 6 + [0] * 6)
    assert result.table[5].surv != 0.5
    assert result.median == (13 + 20) / 2


def test_missing_pairs_are_dropped() -> None:
    full = kaplan_meier([3, 5, 7, 9], [1, 0, 1, 1])
    with_missing = kaplan_meier([3, None, 5, 7, float("nan"), 9], [1, 1, 0, 1, 1, True])
    assert with_missing == full


def test_empty() -> None:
    result = kaplan_meier([], [])
    assert (result.n, result.n_events, result.median, result.ci_low, result.ci_high) == (
        0, 0, None, None, None)  # fmt: skip
    assert result.table == ()


@pytest.mark.parametrize(
    ("times", "events"),
    [([1, 2], [1]), ([-1, 2], [1, 1]), ([math.inf], [1]), ([1, 2], [1, 2]), ([1], ["yes"])],
)
def test_invalid_input(times: list[float], events: list[object]) -> None:
    with pytest.raises(ValueError):
        kaplan_meier(times, events)


def test_invalid_options() -> None:
    with pytest.raises(ValueError):
        kaplan_meier([1], [1], 1.0)
    with pytest.raises(ValueError):
        kaplan_meier([1], [1], conf_type="logit")  # type: ignore[arg-type]


def test_cross_check_lifelines() -> None:
    lifelines = pytest.importorskip("lifelines")
    times = [2, 2, 2, 4, 4, 6, 7, 7, 9, 11, 12, 12, 15, 18, 20]
    events = [1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 0, 1, 1, 0, 0]
    ours = kaplan_meier(times, events)
    fitter = lifelines.KaplanMeierFitter().fit(times, events)
    by_time = fitter.survival_function_["KM_estimate"]
    ci = fitter.confidence_interval_survival_function_
    for row in ours.table:
        assert row.surv == pytest.approx(by_time.loc[row.time], rel=1e-12)
        # lifelines' default interval is the same log(-log) Greenwood interval
        assert row.lower == pytest.approx(ci.loc[row.time].iloc[0], rel=1e-9)
        assert row.upper == pytest.approx(ci.loc[row.time].iloc[1], rel=1e-9)
    assert ours.median == fitter.median_survival_time_


def test_as_dict_is_json_ready() -> None:
    d = json.loads(json.dumps(kaplan_meier([1, 2, 3], [1, 0, 1]).as_dict()))
    assert set(d) == {"n", "n_events", "median", "ci_low", "ci_high", "method", "table"}
    columns = ["time", "n_risk", "n_event", "n_censor", "surv", "lower", "upper"]
    assert list(d["table"][0]) == columns
    assert d["table"][0]["surv"] == pytest.approx(2 / 3)
    assert "log-log" in d["method"] and "Brookmeyer-Crowley" in d["method"]
