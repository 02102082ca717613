"""What each page of a board pack shows, assembled from `PackData`: plain values and already
formatted strings for the templates, the commentary sentences, and the charts' SVG. Every figure
is formatted by `formats.figure`, so the pack's text and the tests agree. Plain Python."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from dagster_project.quality import previous_month
from dagster_project.report import charts
from dagster_project.report.commentary import (
    HEADLINE_KPIS,
    SERVICE_STANDARD_KPIS,
    KpiValue,
    Sentence,
    against_target,
    best_and_worst,
    biggest_movers,
    caveats,
    hub_commentary,
    outliers,
    volume,
)
from dagster_project.report.formats import MINUS, figure, month_name, ordinal
from dagster_project.report.pack_data import PackData

SERVICE_COLUMNS = 4  # service standards side by side in one table of the hub pack
SOURCE_LABELS = {"telephony": "Telephony", "crm": "CRM", "voicemail": "Voicemail",
                 "reception": "Reception", "web": "Web"}


def same_month_last_year(month: dt.date) -> dt.date:
    return month.replace(year=month.year - 1)


def change(this: KpiValue | None, before: KpiValue | None) -> str:
    """The change of a KPI between two months in its own unit ('+2.3 pts', '+1,204',
    with a true minus sign for a fall); a dash when either month was not measured."""
    if this is None or before is None or not this.measured or not before.measured:
        return "–"
    delta = Decimal(str(this.value)) - Decimal(str(before.value))
    unit = "pts" if this.unit == "pct" else this.unit
    sign = "+" if delta > 0 else (MINUS if delta < 0 else "±")
    return sign + figure(abs(delta), unit)


@dataclass(frozen=True)
class Cell:
    """One KPI value of one partner and month, formatted."""

    value: str
    rag: str  # green | amber | red | none | not-measured
    rank: str
    target: str
    position: str = ""  # the quartile among all partners (Q1 = best) and the outlier mark


def position(row: KpiValue) -> str:
    """'Q1', 'Q4, outlier', 'outlier' or '' (kpi_benchmarks partner_quartile, is_outlier)."""
    marks = [f"Q{row.quartile}"] if row.quartile is not None else []
    if row.is_outlier:
        marks.append("outlier")
    return ", ".join(marks)


def cell(row: KpiValue | None) -> Cell:
    if row is not None and row.suppressed:
        return Cell("suppressed", "suppressed", "not ranked", "")
    if row is None or not row.measured:
        return Cell("not measured", "not-measured", "not ranked", "")
    target = "" if row.target is None else figure(row.target, row.unit)
    return Cell(figure(row.value, row.unit), row.rag_status, "" if row.rank is None
                else ordinal(row.rank), target, position(row))


@dataclass
class KpiPage:
    kpi_code: str
    kpi_name: str
    target: str
    league: list[dict]
    hub: str
    chart: str | None
    sentences: list[Sentence] = field(default_factory=list)


@dataclass
class PartnerPage:
    partner_code: str
    partner_name: str
    sentences: list[Sentence]
    headline: list[dict]
    daily_chart: str | None
    weekday_chart: str | None
    service_lines: list[dict]
    trend_charts: list[tuple[str, str | None]] = field(default_factory=list)
    service_standards: list[dict] = field(default_factory=list)


def _row(rows: list[KpiValue], partner_code: str) -> KpiValue | None:
    return next((r for r in rows if r.partner_code == partner_code), None)


def _target_of(rows: list[KpiValue]) -> object | None:
    """The target most partners have this month (a partner may override it)."""
    targets = Counter(r.target for r in rows if r.target is not None)
    return targets.most_common(1)[0][0] if targets else None


def kpi_pages(data: PackData) -> list[KpiPage]:
    """A league table and a trend chart per headline KPI."""
    pages, months = [], data.months()
    before = previous_month(data.month)
    for code in HEADLINE_KPIS:
        rows = data.figures.of_month(code)
        if not rows:
            continue
        last = data.figures.of_month(code, before)
        ordered = sorted(rows, key=lambda r: (r.rank is None, r.rank or 0, r.partner_name))
        league = [{"partner": r.partner_name, "cell": cell(r),
                   "change": change(r, _row(last, r.partner_code))} for r in ordered]
        target = _target_of(rows)
        series = {data.name(p): [(m, next((r.value for r in data.figures.history(code, p)
                                           if r.month == m), None)) for m in months]
                  for p in data.partner_codes if data.figures.history(code, p)}
        hub = [(m, data.hub_values.get((code, m))) for m in months]
        unit, name = rows[0].unit, rows[0].kpi_name
        chart = charts.trend_chart(series, hub, target, unit,
                                   f"{name}: {len(months)} months to {month_name(data.month)}")
        sentences = [s for s in (best_and_worst(rows), biggest_movers(rows, last)) if s]
        pages.append(KpiPage(code, name, "" if target is None else figure(target, unit),
                             league, figure(data.hub_values.get((code, data.month)), unit),
                             chart, sentences))
    return pages


def measured_service_standards(data: PackData) -> list[str]:
    """The service-standard KPIs at least one partner is measured on (or suppressed for) in
    the month: the others are not part of the pack."""
    return [code for code in SERVICE_STANDARD_KPIS
            if any(r.measured or r.suppressed for r in data.figures.of_month(code))]


def service_standards_page(data: PackData) -> dict | None:
    """The hub pack's "Service standards" page: every partner against each service standard
    measured this month (value, RAG, rank, quartile and outlier mark), the hub's pooled
    figure and the targets (their best, worst and outliers are on the commentary page). None
    when no partner is measured."""
    codes = measured_service_standards(data)
    if not codes:
        return None
    partners = [p for p in data.partner_codes
                if any(_row(data.figures.of_month(code), p) is not None for code in codes)]
    tables = []
    for start in range(0, len(codes), SERVICE_COLUMNS):  # an A4 page's width of columns
        chunk = codes[start:start + SERVICE_COLUMNS]
        header = []
        for code in chunk:
            rows = data.figures.of_month(code)
            target = _target_of(rows)
            header.append({"kpi_code": code, "kpi_name": rows[0].kpi_name,
                           "target": "" if target is None else figure(target, rows[0].unit),
                           "hub": hub_figure(data, code, rows[0].unit)})
        body = [{"partner": data.name(p),
                 "cells": [cell(_row(data.figures.of_month(code), p)) for code in chunk]}
                for p in partners]
        tables.append({"header": header, "rows": body})
    return {"tables": tables}


def hub_figure(data: PackData, code: str, unit: str) -> str:
    """The pooled hub figure of a KPI this month; "no pooled figure" for a KPI measured for
    partners that has none (a median: medians do not pool), else "not measured"."""
    value = data.hub_values.get((code, data.month))
    if value is None and any(r.measured for r in data.figures.of_month(code)):
        return "no pooled figure"
    return figure(value, unit)


def summary_rows(data: PackData) -> list[dict]:
    """One row per partner: its headline KPIs this month."""
    return [{"partner": data.name(p),
             "cells": [cell(_row(data.figures.of_month(code), p)) for code in HEADLINE_KPIS]}
            for p in data.partner_codes]


def summary_header(data: PackData) -> list[dict]:
    out = []
    defined = {d.kpi_code: d for d in data.definitions}
    for code in HEADLINE_KPIS:
        unit, name = defined[code].unit, defined[code].kpi_name
        target = _target_of(data.figures.of_month(code))
        out.append({"kpi_code": code, "kpi_name": name,
                    "target": "" if target is None else figure(target, unit),
                    "hub": figure(data.hub_values.get((code, data.month)), unit)})
    return out


def partner_sentences(data: PackData, partner_code: str) -> list[Sentence]:
    """A partner's own commentary: its volumes against last month, each headline KPI against
    target (with streaks), and its data caveats."""
    month, before = data.month, previous_month(data.month)
    out: list[Sentence] = []
    name = data.name(partner_code)
    for code, noun in (("calls_offered", "calls"), ("contacts", "contacts")):
        this = _row(data.figures.of_month(code), partner_code)
        if this is not None and this.measured:
            last = _row(data.figures.of_month(code, before), partner_code)
            out.append(volume(name, month, int(this.value),
                              None if last is None or not last.measured else int(last.value),
                              noun))
    for code in HEADLINE_KPIS:
        history = data.figures.history(code, partner_code)
        if history and history[-1].month == month:
            out.append(against_target(history))
    for code in SERVICE_STANDARD_KPIS:
        history = data.figures.history(code, partner_code)
        if history and history[-1].month == month and (history[-1].measured
                                                        or history[-1].suppressed):
            out.append(against_target(history))
    for code in (*HEADLINE_KPIS, *SERVICE_STANDARD_KPIS):
        own_row = _row(data.figures.of_month(code), partner_code)
        sentence = None if own_row is None else outliers([own_row])
        if sentence is not None:
            out.append(sentence)
    own = [r for code in HEADLINE_KPIS for r in data.figures.of_month(code)
           if r.partner_code == partner_code]
    out.extend(caveats(month, [d for d in data.figures.deliveries
                               if d.partner_code == partner_code], own))
    return out


def partner_page(data: PackData, partner_code: str, with_trends: bool = False) -> PartnerPage:
    month, before = data.month, previous_month(data.month)
    year_ago = same_month_last_year(month)
    headline = []
    for code in HEADLINE_KPIS:
        history = data.figures.history(code, partner_code)
        this = _row(data.figures.of_month(code), partner_code)
        if this is None:
            continue
        by_month = {r.month: r for r in history}
        headline.append({"kpi_name": this.kpi_name, "cell": cell(this),
                         "hub": figure(data.hub_values.get((code, month)), this.unit),
                         "vs_last_month": change(this, by_month.get(before)),
                         "vs_last_year": change(this, by_month.get(year_ago))})
    name = data.name(partner_code)
    tsf_target = next((r.target for r in data.figures.of_month("tsf_pct")
                       if r.partner_code == partner_code), None)
    lines = [{"name": s.name, "offered": f"{s.offered:,}", "answered": f"{s.answered:,}",
              "tsf": figure(s.tsf_pct, "pct"), "asa": figure(s.asa_seconds, "seconds"),
              "abandon": figure(s.abandon_rate_pct, "pct")}
             for s in data.service_lines.get(partner_code, [])]
    page = PartnerPage(
        partner_code, name, partner_sentences(data, partner_code), headline,
        charts.daily_chart(data.daily_tsf.get(partner_code, []), tsf_target,
                           f"{name}: daily telephone service factor, {month_name(month)}"),
        charts.weekday_hour_chart(data.weekday_hour.get(partner_code, {}),
                                  f"{name}: calls offered by weekday and hour, "
                                  f"{month_name(month)}"),
        lines)
    for code in measured_service_standards(data):
        this = _row(data.figures.of_month(code), partner_code)
        if this is not None:
            page.service_standards.append({
                "kpi_name": this.kpi_name, "cell": cell(this),
                "hub": hub_figure(data, code, this.unit),
                "vs_last_month": change(this, _row(data.figures.of_month(code, before),
                                                   partner_code))})
    if with_trends:
        months = data.months()
        for code in HEADLINE_KPIS:
            history = data.figures.history(code, partner_code)
            if not any(r.measured for r in history):  # no line to draw against the hub
                continue
            values = {r.month: r.value for r in history}
            row = history[-1]
            page.trend_charts.append((row.kpi_name, charts.trend_chart(
                {name: [(m, values.get(m)) for m in months]},
                [(m, data.hub_values.get((code, m))) for m in months], row.target, row.unit,
                f"{row.kpi_name}: {name} against the hub, {len(months)} months")))
    return page


def completeness(data: PackData) -> list[dict]:
    """The cover's stamp: per partner, each source delivered (rows read, quarantined) or
    not, and the months still missing in the last year."""
    by_partner: dict[str, dict] = {}
    for d in data.figures.deliveries:
        entry = by_partner.setdefault(d.partner_code, {"partner": d.partner_name,
                                                       "sources": {}, "missing": []})
        entry["sources"][d.source] = (
            "not delivered" if d.rows_read is None
            else f"{d.rows_read:,} rows, {d.rows_quarantined:,} quarantined")
    for (partner, source), months in data.missing_months.items():
        if partner in by_partner:
            by_partner[partner]["missing"].append(
                f"{SOURCE_LABELS[source]}: " + ", ".join(f"{m:%b %Y}" for m in months))
    return [by_partner[p] for p in sorted(by_partner, key=data.name)]


def hub_sentences(data: PackData) -> list[Sentence]:
    """The hub's own volumes (pooled: the partners' sum), then the hub commentary."""
    out = []
    before = previous_month(data.month)
    for code, noun in (("calls_offered", "calls"), ("contacts", "contacts")):
        this, last = data.hub_values.get((code, data.month)), data.hub_values.get((code, before))
        if this is not None:
            out.append(volume("The hub", data.month, int(this),
                              None if last is None else int(last), noun))
    return out + hub_commentary(data.figures)
