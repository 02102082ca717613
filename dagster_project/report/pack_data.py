"""Everything a month's board pack shows besides the commentary figures, read from the published
serving warehouse only (opened read-only): the pooled hub figures, the completeness stamp, the
partners' daily TSF, calls by weekday and hour, and service lines. Pooling follows the marts'
rule (sum of numerators / sum of denominators, never an average of percentages). Plain Python:
no Dagster imports."""

from __future__ import annotations

import csv
import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project.quality import previous_month
from dagster_project.report.commentary import HEADLINE_KPIS, SERVICE_STANDARD_KPIS
from dagster_project.report.figures import MonthFigures, read_month

TREND_MONTHS = 24  # the trend charts' span, as the history allows
COMPLETENESS_MONTHS = 12  # how far back the cover looks for months still missing
VOLUME_KPIS = ("calls_offered", "contacts")
PACK_KPIS = (*HEADLINE_KPIS, *SERVICE_STANDARD_KPIS, *VOLUME_KPIS)


class NoDataForMonth(LookupError):
    """The serving warehouse has no figures for the month asked for."""


@dataclass(frozen=True)
class ServiceLine:
    name: str
    offered: int
    answered: int
    tsf_pct: float | None
    asa_seconds: float | None
    abandon_rate_pct: float | None


@dataclass(frozen=True)
class Definition:
    kpi_code: str
    kpi_name: str
    unit: str
    direction: str
    target: str
    description: str


@dataclass(frozen=True)
class PackData:
    hub_name: str
    month: dt.date
    published_at: dt.datetime  # when the serving file was published (UTC)
    figures: MonthFigures
    partner_codes: list[str]  # the partners in the pack, by name
    hub_values: dict[tuple[str, dt.date], object]  # (kpi_code, month) -> pooled hub value
    missing_months: dict[tuple[str, str], list[dt.date]]  # (partner, source) -> months
    daily_tsf: dict[str, list[tuple[dt.date, object]]]
    weekday_hour: dict[str, dict[tuple[int, int], int]]  # partner -> (iso dow, hour) -> calls
    service_lines: dict[str, list[ServiceLine]]
    definitions: list[Definition]

    def name(self, partner_code: str) -> str:
        return self.figures.partners.get(partner_code, partner_code)

    def months(self, span: int = TREND_MONTHS) -> list[dt.date]:
        """The `span` months up to the pack's month, oldest first."""
        return last_months(self.month, span)


def months_with_data(serving_db: Path) -> list[dt.date]:
    con = duckdb.connect(str(serving_db), read_only=True)
    try:
        return [m for (m,) in con.execute(
            "select distinct month from marts.kpi_scorecard order by 1").fetchall()]
    finally:
        con.close()


# Partner-sources expected to deliver (configured so, and delivered at least once) that have no
# delivery in one of the months given, from their first delivered month on.
_MISSING_DELIVERIES = """
    with expected as (
        select freshness.partner_code, freshness.source, min(deliveries.month) as first_month
        from marts.kpi_freshness as freshness
        inner join marts.kpi_deliveries as deliveries
            on freshness.partner_code = deliveries.partner_code
            and freshness.source = deliveries.source
        where freshness.is_expecting_deliveries
        group by all
    ),
    months as (select cast(unnest(?) as date) as month)
    select months.month, expected.partner_code, expected.source
    from expected
    cross join months
    left join marts.kpi_deliveries as deliveries
        on deliveries.partner_code = expected.partner_code
        and deliveries.source = expected.source
        and deliveries.month = months.month
    where months.month >= expected.first_month and deliveries.month is null
    order by 2, 3, 1"""


def missing_deliveries(con: duckdb.DuckDBPyConnection, months: list[dt.date]
                       ) -> list[tuple[dt.date, str, str]]:
    """(month, partner, source) of every expected delivery absent in `months`."""
    return con.execute(_MISSING_DELIVERIES, [months]).fetchall() if months else []


def latest_complete_month(serving_db: Path, today: dt.date) -> dt.date | None:
    """The latest calendar month that has ended by `today` in which every partner expecting
    deliveries delivered every source it delivers at all; else the latest ended month with
    figures; None when there is none."""
    con = duckdb.connect(str(serving_db), read_only=True)
    try:
        months = [m for (m,) in con.execute(
            "select distinct month from marts.kpi_scorecard where month < ? order by 1 desc",
            [today.replace(day=1)]).fetchall()]
        incomplete = {m for m, _, _ in missing_deliveries(con, months)}
    finally:
        con.close()
    complete = [m for m in months if m not in incomplete]
    return complete[0] if complete else (months[0] if months else None)


def _definitions(reference_dir: Path) -> list[Definition]:
    wanted = PACK_KPIS
    with (reference_dir / "kpi_definitions.csv").open(encoding="utf-8", newline="") as f:
        rows = {r["kpi_code"]: r for r in csv.DictReader(f)}
    return [Definition(code, rows[code]["kpi_name"], rows[code]["unit"],
                       rows[code]["direction"].replace("_", " "), rows[code]["target"],
                       rows[code]["description"]) for code in wanted if code in rows]


def last_months(month: dt.date, span: int) -> list[dt.date]:
    """The `span` months up to and including `month`, oldest first."""
    out = [month]
    while len(out) < span:
        out.insert(0, previous_month(out[0]))
    return out


def _pct(numerator, denominator) -> float | None:
    return None if not denominator else 100 * float(numerator) / float(denominator)


def published_at(serving_db: Path) -> dt.datetime:
    """When the serving file was published (UTC): its modification time (a publication swaps a
    new file in; a rollback swaps an older one back)."""
    return dt.datetime.fromtimestamp(os.stat(serving_db).st_mtime, dt.UTC)


def read_pack(serving_db: Path, reference_dir: Path, month: dt.date,
              hub_name: str) -> PackData:
    """The month's pack figures. Raises NoDataForMonth when the month has no figures."""
    figures = read_month(serving_db, month, PACK_KPIS)
    if not any(figures.of_month(code) for code in PACK_KPIS):
        raise NoDataForMonth(f"{month:%Y-%m}")
    first = last_months(month, TREND_MONTHS)[0]
    con = duckdb.connect(str(serving_db), read_only=True)
    try:
        hub_values = {(k, m): v for k, m, v in con.execute("""
            select distinct kpi_code, month, hub_value from marts.kpi_scorecard
            where segment_code = 'all' and kpi_code in (select unnest(?))
              and month between ? and ?""",
            [list(PACK_KPIS), first, month]).fetchall()}
        in_pack = sorted({r.partner_code for code in PACK_KPIS
                          for r in figures.of_month(code)}
                         | {d.partner_code for d in figures.deliveries},
                         key=lambda p: figures.partners.get(p, p))
        daily: dict[str, list[tuple[dt.date, object]]] = {}
        for partner, day, tsf in con.execute("""
                select partner_code, call_date,
                       100 * cast(sum(tsf_numerator) as double)
                           / nullif(sum(tsf_denominator), 0)
                from marts.kpi_telephony_daily where month = ?
                group by partner_code, call_date order by 1, 2""", [month]).fetchall():
            daily.setdefault(partner, []).append((day, tsf))
        weekday_hour: dict[str, dict[tuple[int, int], int]] = {}
        for partner, dow, hour, calls in con.execute("""
                select partner_code, iso_dow, call_hour, count(*)
                from marts.fct_calls where call_month = ? and is_offered
                group by all""", [month]).fetchall():
            weekday_hour.setdefault(partner, {})[(dow, hour)] = calls
        lines: dict[str, list[ServiceLine]] = {}
        for partner, name, offered, answered, tsf_n, tsf_d, asa_n, asa_d, ab_n, ab_d in (
                con.execute("""
                select partner_code, service_line_name, sum(offered), sum(answered),
                       sum(tsf_numerator), sum(tsf_denominator), sum(asa_numerator),
                       sum(asa_denominator), sum(abandon_rate_numerator),
                       sum(abandon_rate_denominator)
                from marts.kpi_telephony_daily where month = ?
                group by partner_code, service_line_name
                order by partner_code, sum(offered) desc, service_line_name""",
                            [month]).fetchall()):
            lines.setdefault(partner, []).append(ServiceLine(
                name, int(offered), int(answered), _pct(tsf_n, tsf_d),
                None if not asa_d else float(asa_n) / float(asa_d), _pct(ab_n, ab_d)))
        missing: dict[tuple[str, str], list[dt.date]] = {}
        cover_months = last_months(month, COMPLETENESS_MONTHS)
        for missed, partner, source in missing_deliveries(con, cover_months):
            missing.setdefault((partner, source), []).append(missed)
    finally:
        con.close()
    return PackData(hub_name, month, published_at(serving_db), figures, in_pack, hub_values,
                    missing, daily, weekday_hour, lines, _definitions(reference_dir))
