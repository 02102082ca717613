"""marts.kpi_benchmarks and small-number suppression (issue 14; docs/kpi-definitions.md,
"Benchmarking") against an independent recomputation: the statistics are recomputed in Python
(numpy's default `linear` percentiles, `statistics.median`) from the served scorecard values
and the partners' families, never from the mart's SQL; suppression is re-derived from the
scorecard's denominators and the `min_denominator` column of the KPI definitions seed. The
hand-made cases of the SQL (ties, fewer than four partners, a family of one, MAD = 0) are dbt
unit tests (dbt/models/marts/kpi/_kpi__benchmark_unit_tests.yml); the first test here runs the
Python recomputation over the same values, so that both agree on them.
"""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from fractions import Fraction

import duckdb
import numpy as np
import pytest

from dagster_project.settings import REPO_ROOT

KPI_SEED = REPO_ROOT / "seeds" / "reference" / "kpi_definitions.csv"
OUTLIER_MADS, MAD_SCALE, MEAN_AD_SCALE, MIN_PARTNERS = 3, 1.4826, 1.2533, 4
REL = 1e-9


def stats(values: list[float]) -> dict:
    """Median and quartiles (linear interpolation), MAD, the outlier spread."""
    if not values:
        return {"peers_count": 0, "median": None, "lower_quartile": None,
                "upper_quartile": None, "mad": None, "spread": None}
    lower, median, upper = (float(np.percentile(values, q, method="linear"))
                            for q in (25, 50, 75))
    deviations = [abs(v - median) for v in values]
    mad = statistics.median(deviations)
    spread = MAD_SCALE * mad if mad > 0 else MEAN_AD_SCALE * statistics.fmean(deviations)
    return {"peers_count": len(values), "median": median, "lower_quartile": lower,
            "upper_quartile": upper, "mad": mad, "spread": spread}


def quartile(value: float | None, direction: str, s: dict) -> int | None:
    if value is None or s["peers_count"] < MIN_PARTNERS:
        return None
    cuts = (s["upper_quartile"], s["median"], s["lower_quartile"])
    if direction == "higher_is_better":
        return next((i for i, cut in enumerate(cuts, 1) if round(value, 9) >= round(cut, 9)), 4)
    cuts = cuts[::-1]
    return next((i for i, cut in enumerate(cuts, 1) if round(value, 9) <= round(cut, 9)), 4)


def is_outlier(value: float | None, s: dict) -> bool | None:
    if value is None:
        return None
    if s["spread"] == 0:
        return False
    return abs(value - s["median"]) > OUTLIER_MADS * s["spread"]


def recompute(rows: list[dict]) -> dict[tuple, dict]:
    """rows: partner, month, kpi, direction, family, value (None: not measured or
    suppressed) -> (partner, month, kpi) -> expected benchmark figures."""
    hub, family = defaultdict(list), defaultdict(list)
    for r in rows:
        if r["value"] is not None:
            hub[(r["month"], r["kpi"])].append(r["value"])
            family[(r["month"], r["kpi"], r["family"])].append(r["value"])
    out = {}
    for r in rows:
        s = stats(hub[(r["month"], r["kpi"])])
        f = stats(family[(r["month"], r["kpi"], r["family"])])
        out[(r["partner"], r["month"], r["kpi"])] = {
            **{k: s[k] for k in ("peers_count", "median", "lower_quartile", "upper_quartile")},
            "family_peers_count": f["peers_count"], "family_median": f["median"],
            "family_lower_quartile": f["lower_quartile"],
            "family_upper_quartile": f["upper_quartile"],
            "partner_quartile": quartile(r["value"], r["direction"], s),
            "median_absolute_deviation": s["mad"], "is_outlier": is_outlier(r["value"], s)}
    return out


def test_recomputation_on_hand_made_values():
    """The values of the dbt unit tests: a tie, a suppressed and a not-measured partner, a
    family of one, fewer than four partners, MAD = 0 with and without spread."""
    rows = [dict(partner=p, month="m", kpi="tsf", direction="higher_is_better", family=f,
                 value=v) for p, f, v in (("p1", "d", 60.0), ("p2", "d", 70.0), ("p3", "d", 70.0),
                                          ("p4", "c", 80.0), ("p5", "u", 100.0),
                                          ("p6", "d", None), ("p7", "d", None))]
    rows += [dict(partner=p, month="m", kpi="asa", direction="lower_is_better", family="d",
                  value=v) for p, v in (("p1", 10.0), ("p2", 20.0), ("p3", 30.0))]
    rows += [dict(partner=p, month="m", kpi="abandon", direction="lower_is_better", family="d",
                  value=v) for p, v in (("p1", 5.0), ("p2", 5.0), ("p3", 5.0), ("p4", 6.0),
                                        ("p5", 20.0))]
    ours = recompute(rows)
    pick = ("peers_count", "median", "lower_quartile", "upper_quartile", "family_median",
            "family_lower_quartile", "family_upper_quartile", "partner_quartile", "is_outlier")
    got = {k[0] + ":" + k[2]: tuple(v[c] for c in pick) for k, v in ours.items()}
    assert got["p1:tsf"] == (5, 70, 70, 80, 70, 65, 70, 4, False)
    assert got["p2:tsf"] == got["p3:tsf"] == (5, 70, 70, 80, 70, 65, 70, 2, False)
    assert got["p4:tsf"] == (5, 70, 70, 80, 80, 80, 80, 1, False)  # a family of one
    assert got["p5:tsf"] == (5, 70, 70, 80, 100, 100, 100, 1, False)
    assert got["p6:tsf"][-2:] == (None, None)  # suppressed: no quartile, no outlier flag
    assert [got[f"p{i}:asa"][-2:] for i in (1, 2, 3)] == [(None, False)] * 3  # n = 3
    assert ours[("p1", "m", "abandon")]["median_absolute_deviation"] == 0
    assert [got[f"p{i}:abandon"][-2:] for i in range(1, 6)] == [
        (1, False), (1, False), (1, False), (3, False), (4, True)]  # MAD 0: mean deviation


@pytest.fixture(scope="module")
def marts(built_warehouse):
    con = duckdb.connect(str(built_warehouse.serving_db), read_only=True)
    yield con
    con.close()


def close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return float(a) == pytest.approx(float(b), rel=REL, abs=1e-9)


def test_benchmarks_match_recomputation(marts):
    scorecard = marts.execute("""
        select s.partner_code, s.month, s.kpi_code, s.direction, p.partner_family, s.value
        from marts.kpi_scorecard as s join marts.dim_partner as p using (partner_code)
        where s.segment_code = 'all' and s.direction != 'info'""").fetchall()
    rows = [dict(partner=p, month=m, kpi=k, direction=d, family=f,
                 value=None if v is None else float(v)) for p, m, k, d, f, v in scorecard]
    ours = recompute(rows)
    columns = ["partner_code", "month", "kpi_code", *next(iter(ours.values()))]
    mart = {r[:3]: dict(zip(columns[3:], r[3:], strict=True)) for r in marts.execute(
        f"select {', '.join(columns)} from marts.kpi_benchmarks").fetchall()}
    assert set(mart) == set(ours)
    assert {k for _, _, k in mart} >= {"tsf_pct", "csc_call_share_pct", "fpoc_pct"}
    mismatches = [f"{key} {col}: {mart[key][col]} vs {value}"
                  for key, expected in sorted(ours.items()) for col, value in expected.items()
                  if not close(mart[key][col], value)
                  and not (isinstance(value, bool) and mart[key][col] == value)]
    assert mismatches == [], mismatches[:20]
    flags = {r["is_outlier"] for r in ours.values()}
    quartiles = {r["partner_quartile"] for r in ours.values()}
    assert True in flags and quartiles >= {1, 2, 3, 4}  # the sample exercises every branch


def test_suppression_follows_the_definitions_seed(marts):
    """Every scorecard row with a denominator below its KPI's min_denominator is `suppressed`
    with a null value, no RAG and no rank, and no other row is; the sample has some."""
    with KPI_SEED.open(encoding="utf-8", newline="") as fh:
        minimum = {r["kpi_code"]: Fraction(r["min_denominator"]) for r in csv.DictReader(fh)
                   if r["min_denominator"].strip()}
    rows = marts.execute("""
        select kpi_code, numerator, denominator, value, measurement_status, rag_status,
               rank_among_partners
        from marts.kpi_scorecard""").fetchall()
    suppressed = 0
    for kpi, numerator, denominator, value, status, rag, rank in rows:
        should = (status != "not_measured" and denominator is not None and kpi in minimum
                  and denominator != 0 and Fraction(str(denominator)) < minimum[kpi])
        assert (status == "suppressed") == should, (kpi, denominator, status)
        if should:
            suppressed += 1
            assert (value, rag, rank) == (None, "none", None), kpi
            assert numerator is not None
    assert suppressed > 0
