"""The board pack's figures, read from the published serving warehouse only (issue 12): the
scorecard's partner-level rows, the deliveries and the partners' names, as the commentary
rules take them. Plain Python: no Dagster imports."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project.report.commentary import HEADLINE_KPIS, Delivery, KpiValue


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
               kpi_codes: tuple[str, ...] = (*HEADLINE_KPIS, "calls_offered", "contacts")
               ) -> MonthFigures:
    """The figures of `month` and of every month before it (a streak may run back to the
    first month with figures; changes need last month and a year ago) from the
    published serving file, opened read-only."""
    con = duckdb.connect(str(serving_db), read_only=True)
    try:
        partners = dict(con.execute(
            "select partner_code, partner_name from marts.dim_partner order by 1").fetchall())
        rows = con.execute("""
            select partner_code, month, kpi_code, kpi_name, unit, direction, value, target,
                   rag_status, rank_among_partners, denominator, measurement_status
            from marts.kpi_scorecard
            where segment_code = 'all' and kpi_code in (select unnest(?))
              and month <= ?
            order by kpi_code, partner_code, month""", [list(kpi_codes), month]).fetchall()
        kpis: dict[str, list[KpiValue]] = {}
        for code, m, kpi, name, unit, direction, value, target, rag, rank, den, status in rows:
            kpis.setdefault(kpi, []).append(KpiValue(
                code, partners.get(code, code), m, kpi, name, unit, direction, value, target,
                rag, rank, den, status))
        delivered = {(p, s): (read, quarantined) for p, s, read, quarantined in con.execute("""
            select partner_code, source, rows_read, rows_quarantined
            from marts.kpi_deliveries where month = ?""", [month]).fetchall()}
        # expected: configured to deliver and delivering since this month or before; and any
        # partner-source that delivered this month (a closed data set included)
        expected = con.execute("""
            select freshness.partner_code, freshness.source
            from marts.kpi_freshness as freshness
            where freshness.is_expecting_deliveries
              and exists (select 1 from marts.kpi_deliveries as deliveries
                          where deliveries.partner_code = freshness.partner_code
                            and deliveries.source = freshness.source
                            and deliveries.month <= ?)
            union
            select partner_code, source from marts.kpi_deliveries where month = ?
            order by 1, 2""", [month, month]).fetchall()
    finally:
        con.close()
    deliveries = [Delivery(p, partners.get(p, p), s, *delivered.get((p, s), (None, 0)))
                  for p, s in expected]
    return MonthFigures(month, partners, kpis, deliveries)
