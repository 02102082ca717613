"""The board pack's figures, read from the published serving warehouse only (issue 12): the
scorecard's partner-level rows, the deliveries and the partners' names, as the commentary
rules take them. Plain Python: no Dagster imports."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project.report.commentary import (
    HEADLINE_KPIS,
    SERVICE_STANDARD_KPIS,
    Delivery,
    KpiValue,
)


@dataclass(frozen=True)
class MonthFigures:
    month: dt.date
    partners: dict[str, str]  # partner_code -> partner_name
    kpis: dict[str, list[KpiValue]]  # kpi_code -> rows up to `month`, by partner then month
    deliveries: list[Delivery]  # every partner-source expected or delivered in the month

    def of_month(self, kpi_code: str, month: dt.date | None = None) -> list[KpiValue]:
        month = month or self.month
        return [r for r in self.kpis.get(kpi_code, []) if r.month == month]

    def history(self, kpi_code: str, partner_code: str) -> list[KpiValue]:
        return [r for r in self.kpis.get(kpi_code, []) if r.partner_code == partner_code]


def read_month(serving_db: Path, month: dt.date,
               kpi_codes: tuple[str, ...] = (*HEADLINE_KPIS, *SERVICE_STANDARD_KPIS,
                                             "calls_offered", "contacts")
               ) -> MonthFigures:
    """The figures of `month` and of every month before it (a streak may run back to the
    first month with figures; changes need last month and a year ago) from the
    published serving file, opened read-only."""
    con = duckdb.connect(str(serving_db), read_only=True)
    try:
        partners = dict(con.execute(
            "select partner_code, partner_name from marts.dim_partner order by 1").fetchall())
        # the benchmark statistics (quartile, outlier, median) beside each scorecard row
        rows = con.execute("""
            select scorecard.partner_code, scorecard.month, scorecard.kpi_code,
                   scorecard.kpi_name, scorecard.unit, scorecard.direction, scorecard.value,
                   scorecard.target, scorecard.rag_status, scorecard.rank_among_partners,
                   scorecard.denominator, scorecard.measurement_status,
                   benchmarks.partner_quartile, benchmarks.is_outlier, benchmarks.median
            from marts.kpi_scorecard as scorecard
            left join marts.kpi_benchmarks as benchmarks
                on scorecard.partner_code = benchmarks.partner_code
                and scorecard.month = benchmarks.month
                and scorecard.kpi_code = benchmarks.kpi_code
            where scorecard.segment_code = 'all' and scorecard.kpi_code in (select unnest(?))
              and scorecard.month <= ?
            order by 3, 1, 2""", [list(kpi_codes), month]).fetchall()
        kpis: dict[str, list[KpiValue]] = {}
        for (code, m, kpi, name, unit, direction, value, target, rag, rank, den, status,
             quartile, outlier, median) in rows:
            kpis.setdefault(kpi, []).append(KpiValue(
                code, partners.get(code, code), m, kpi, name, unit, direction, value, target,
                rag, rank, den, status, quartile, outlier, median))
        delivered = {(p, s): (read, quarantined) for p, s, read, quarantined in con.execute("""
            select partner_code, source, rows_read, rows_quarantined
            from marts.kpi_deliveries where month = ?""", [month]).fetchall()}
        # expected: configured to deliver and delivering since this month or before, or never
        # delivered at all (a source configured and not delivered yet: its KPIs are not
        # measured, and the pack says why); and any partner-source that delivered this month
        # (a closed data set included)
        expected = con.execute("""
            select freshness.partner_code, freshness.source
            from marts.kpi_freshness as freshness
            where freshness.is_expecting_deliveries
              and (exists (select 1 from marts.kpi_deliveries as deliveries
                           where deliveries.partner_code = freshness.partner_code
                             and deliveries.source = freshness.source
                             and deliveries.month <= ?)
                   or freshness.latest_month is null)
            union
            select partner_code, source from marts.kpi_deliveries where month = ?
            order by 1, 2""", [month, month]).fetchall()
    finally:
        con.close()
    deliveries = [Delivery(p, partners.get(p, p), s, *delivered.get((p, s), (None, 0)))
                  for p, s in expected]
    return MonthFigures(month, partners, kpis, deliveries)
