"""Kaplan-Meier estimate with Greenwood variance and the median with its confidence interval."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Literal

from ctit.stats._common import as_dict, is_missing, percent_label

ConfType = Literal["log-log", "log", "plain"]

# R's quantile.survfit tolerance, sqrt(.Machine$double.eps): a curve within it of 0.5 is
# taken as exactly 0.5. Rounding in the running product can move an exact 0.5 by ~1e-16.
_TOLERANCE = math.sqrt(sys.float_info.epsilon)


@dataclass(frozen=True)
class KaplanMeierRow:
    """One distinct time (event or censoring) of the Kaplan-Meier table, as R's `survfit`."""

    time: float
    n_risk: int
    n_event: int
    n_censor: int
    surv: float
    lower: float | None
    upper: float | None

    def as_dict(self) -> dict[str, Any]:
        return as_dict(self)


@dataclass(frozen=True)
class KaplanMeier:
    """Kaplan-Meier median with its confidence interval and the full table.

    `median`, `ci_low` and `ci_high` are None when the curve (or the bound's curve) does not
    reach 0.5.
    """

    n: int
    n_events: int
    median: float | None
    ci_low: float | None
    ci_high: float | None
    method: str
    table: tuple[KaplanMeierRow, ...]

    def as_dict(self) -> dict[str, Any]:
        return as_dict(self)


def kaplan_meier(
    times: Iterable[Any],
    events: Iterable[Any],
    level: float = 0.95,
    *,
    conf_type: ConfType = "log-log",
) -> KaplanMeier:
    """Kaplan-Meier estimate, median time and its Brookmeyer-Crowley confidence interval.

    Equivalent to R's ``survfit(Surv(times, events) ~ 1, conf.type = "log-log",
    conf.int = level)`` followed by ``quantile(fit, 0.5)`` (survival 3.x), and to SAS
    PROC LIFETEST's default (CONFTYPE=LOGLOG) quartile estimates. The rules:

    - A pair with a missing time or event is dropped (R's `na.omit`). Times must be finite
      and >= 0; events are 1/True (event) or 0/False (censored).
    - One table row per distinct time: at risk = subjects with time >= t (censored at t are at
      risk at t), S(t) = prod (1 - d/n), Greenwood SE of log S = sqrt(sum d / (n (n - d))).
    - Pointwise limits, z = the normal (1 + level)/2 quantile: "log-log" (default)
      S^exp(-+z se / log S), None where S is 0 or 1; "log" S exp(-+z se), upper capped at 1;
      "plain" S (1 -+ z se), clipped to [0, 1].
    - Median: the first time at which S <= 0.5. When S equals 0.5 (within R's tolerance
      sqrt(machine epsilon)) from time t1 until the curve next drops at t2, the median is
      (t1 + t2) / 2; if it never drops again, (t1 + last time) / 2. None if S stays above 0.5.
    - Confidence interval for the median (Brookmeyer-Crowley): the same rule applied to the
      lower curve gives `ci_low`, to the upper curve `ci_high`; None when that curve stays above
      0.5 (or, for the lower limit, has no defined value at or below 0.5).
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if conf_type not in ("log-log", "log", "plain"):
        raise ValueError(f"conf_type must be 'log-log', 'log' or 'plain', got {conf_type!r}")
    pairs = _clean(times, events)
    z = NormalDist().inv_cdf((1 + level) / 2)
    table = _km_table(pairs, z, conf_type)

    x = [0.0] + [row.time for row in table]
    med = _findq(x, [0.0] + [1 - row.surv for row in table])
    low = _findq(x, [0.0] + [None if row.lower is None else 1 - row.lower for row in table])
    high = _findq(x, [0.0] + [None if row.upper is None else 1 - row.upper for row in table])
    method = (
        f"Kaplan-Meier, Greenwood variance; median with {percent_label(level)}% CI by "
        f"Brookmeyer-Crowley, {conf_type} transform"
    )
    return KaplanMeier(
        n=len(pairs),
        n_events=sum(event for _, event in pairs),
        median=med,
        ci_low=low,
        ci_high=high,
        method=method,
        table=tuple(table),
    )


def _clean(times: Iterable[Any], events: Iterable[Any]) -> list[tuple[float, int]]:
    times = list(times)
    events = list(events)
    if len(times) != len(events):
        raise ValueError(f"times and events differ in length: {len(times)} vs {len(events)}")
    pairs: list[tuple[float, int]] = []
    for t, e in zip(times, events):
        if is_missing(t) or is_missing(e):
            continue
        t = float(t)
        if not math.isfinite(t) or t < 0:
            raise ValueError(f"times must be finite and >= 0, got {t!r}")
        if e not in (0, 1):  # True/False, 0/1, 0.0/1.0
            raise ValueError(f"events must be 0/1 or False/True, got {e!r}")
        pairs.append((t, int(e)))
    return pairs


def _km_table(
    pairs: list[tuple[float, int]], z: float, conf_type: ConfType
) -> list[KaplanMeierRow]:
    pairs = sorted(pairs)
    rows: list[KaplanMeierRow] = []
    n_risk = len(pairs)
    surv = 1.0
    greenwood = 0.0
    i = 0
    while i < len(pairs):
        t = pairs[i][0]
        j = i
        while j < len(pairs) and pairs[j][0] == t:
            j += 1
        d = sum(e for _, e in pairs[i:j])
        c = (j - i) - d
        if d:
            surv *= (n_risk - d) / n_risk
            greenwood = greenwood + d / (n_risk * (n_risk - d)) if d < n_risk else math.inf
        lower, upper = _limits(surv, math.sqrt(greenwood), z, conf_type)
        rows.append(KaplanMeierRow(t, n_risk, d, c, surv, lower, upper))
        n_risk -= j - i
        i = j
    return rows


def _limits(
    surv: float, se: float, z: float, conf_type: ConfType
) -> tuple[float | None, float | None]:
    """Pointwise limits as R's survival:::survfit_confint (se = SE of log S)."""
    if conf_type == "log-log":
        if surv == 0 or surv == 1:
            return None, None
        log_s = math.log(surv)
        shift = z * se / log_s
        centre = math.log(-log_s)
        return math.exp(-math.exp(centre - shift)), math.exp(-math.exp(centre + shift))
    if conf_type == "log":
        if surv == 0:
            return None, None
        return math.exp(math.log(surv) - z * se), min(math.exp(math.log(surv) + z * se), 1.0)
    half_width = se * surv * z
    if math.isnan(half_width):  # S = 0 with infinite se
        return None, None
    return max(surv - half_width, 0.0), min(surv + half_width, 1.0)


def _findq(x: Sequence[float], y: Sequence[float | None], p: float = 0.5) -> float | None:
    """Time at which the rising curve y = 1 - S reaches p; port of R's survival:::findq.

    The midpoint rule for a curve equal to p over an interval, and the handling of undefined
    (None) points, follow R exactly so that median and limits match `quantile.survfit`.
    """
    defined = [v for v in y if v is not None]
    if not defined or max(defined) < p:
        return None
    xmax = x[-1]
    # R drops repeated y values (NA counts as a value), keeping the first time of each.
    seen: set[float | None] = set()
    xs: list[float] = []
    ys: list[float | None] = []
    for xv, yv in zip(x, y):
        if yv in seen:
            continue
        seen.add(yv)
        xs.append(xv)
        ys.append(yv)
    i1 = _first_reaching(ys, p, +_TOLERANCE)
    i2 = _first_reaching(ys, p, -_TOLERANCE)
    quant = None if i1 is None or i2 is None else (xs[i1] + xs[i2]) / 2
    last = ys[-1]
    if last is not None and abs(p - last) < _TOLERANCE and i1 is not None:
        quant = (xs[i1] + xmax) / 2
    return quant


def _first_reaching(ys: Sequence[float | None], p: float, shift: float) -> int | None:
    """Index of the smallest y + shift that is >= p (R's approx(method="constant", f=1))."""
    best: int | None = None
    for i, v in enumerate(ys):
        if v is None:
            continue
        shifted = v + shift
        if shifted >= p and (best is None or shifted < ys[best] + shift):
            best = i
    return best


