"""Every row of shared/data/r-reference/r_reference_stats.csv (R 4.2.2, survival 3.5-3)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from ctit.stats import clopper_pearson, kaplan_meier, wilcoxon_signed_rank

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "r-reference"
REFERENCE = REFERENCE_DIR / "r_reference_stats.csv"
pytestmark = pytest.mark.skipif(not REFERENCE.exists(), reason=f"{REFERENCE} not present")

REL = 1e-9


def _rows(prefix: str) -> list[dict[str, str]]:
    if not REFERENCE.exists():
        return []
    with REFERENCE.open(newline="", encoding="utf-8") as fh:
        rows = [row for row in csv.DictReader(fh) if row["case"].startswith(prefix)]
    assert rows, f"no {prefix!r} rows in {REFERENCE}"
    return rows


def _ids(rows: list[dict[str, str]]) -> list[str]:
    return [f"{row['case']}|{row['method'].split(':')[0]}" for row in rows]


def _num(text: str) -> float | None:
    return None if text == "" else float(text)


def _same(ours: float | None, r: float | None, *, abs_tol: float = 0.0) -> bool:
    if ours is None or r is None:
        return ours is None and r is None
    return math.isclose(ours, r, rel_tol=REL, abs_tol=abs_tol)


WSR = _rows("wsr_")
BINOM = _rows("binom_")
KM = _rows("km_")


def test_every_reference_row_is_covered() -> None:
    with REFERENCE.open(newline="", encoding="utf-8") as fh:
        total = sum(1 for _ in csv.DictReader(fh))
    assert len(WSR) + len(BINOM) + len(KM) == total


@pytest.mark.parametrize("row", WSR, ids=_ids(WSR))
def test_wilcoxon_matches_r(row: dict[str, str]) -> None:
    data = json.loads(row["inputs_json"])
    # x - y in IEEE doubles, exactly as R forms the paired differences.
    diffs = [x - y for x, y in zip(data["x"], data["y"])]
    options: dict[str, object] = {}
    if "exact=FALSE" in row["method"]:
        options["exact_max_n"] = 0
    if "correct=FALSE" in row["method"]:
        options["correction"] = False
    result = wilcoxon_signed_rank(diffs, **options)
    r_method = row["method"].split(": ", 1)[1]
    # Where R computes no p-value (every difference zero) it still names a method; ctit names
    # none, since no test was performed (issue: a landmark without a test reports no method).
    assert result.method == (r_method if _num(row["p_value"]) is not None else None)
    assert result.statistic == float(row["statistic"])
    assert _same(result.p_value, _num(row["p_value"]))
    assert result.n_pairs == len(diffs)
    assert result.n_nonzero == sum(d != 0 for d in data["d"])


@pytest.mark.parametrize("row", BINOM, ids=_ids(BINOM))
def test_clopper_pearson_matches_r(row: dict[str, str]) -> None:
    # binom.test's p-value (H0: p = 0.5) is not part of the API; estimate and limits are.
    data = json.loads(row["inputs_json"])
    result = clopper_pearson(data["x"], data["n"])
    assert result.pct == pytest.approx(100 * float(row["estimate"]), rel=REL)
    assert _same(result.ci95_low, 100 * float(row["conf_low"]))
    assert _same(result.ci95_high, 100 * float(row["conf_high"]))


@pytest.mark.parametrize("row", KM, ids=_ids(KM))
def test_kaplan_meier_matches_r(row: dict[str, str]) -> None:
    data = json.loads(row["inputs_json"])
    conf_type = row["method"].split("conf.type='")[1].split("'")[0]
    result = kaplan_meier(data["time"], data["status"], conf_type=conf_type)
    assert result.n == len(data["time"])
    assert result.n_events == int(row["statistic"])
    assert _same(result.median, _num(row["estimate"]))
    assert _same(result.ci_low, _num(row["conf_low"]))
    assert _same(result.ci_high, _num(row["conf_high"]))

    # The table in the note is printed to 12 significant digits.
    r_table = json.loads(row["note"].split("KM table: ", 1)[1])
    assert [r.time for r in result.table] == r_table["time"]
    for column in ("n_risk", "n_event", "n_censor"):
        assert [getattr(r, column) for r in result.table] == r_table[column]
    for column in ("surv", "lower", "upper"):
        for ours, theirs in zip([getattr(r, column) for r in result.table], r_table[column]):
            if ours is None or theirs is None:
                assert ours is None and theirs is None, (column, ours, theirs)
            else:
                close = math.isclose(ours, theirs, rel_tol=1e-10, abs_tol=1e-11)
                assert close, (column, ours, theirs)
