"""Written commentary of the board pack (issue 12), generated from the marts, never invented.

Each rule takes figures as the marts hold them (rows of `marts.kpi_scorecard`, one partner's
months of a KPI, `marts.kpi_deliveries`) and returns `Sentence`s: the text, and the figures it
states, so that a test can re-derive every number from the marts. The rules are deterministic:
the same rows give the same sentences in the same order (ties are named together,
alphabetically by partner name). Plain Python: no Dagster imports.

Rules:
- `volume`: calls (or contacts) this month and the change on the previous month;
- `against_target`: a KPI's value, its RAG in words, and how many months running it has met or
  missed its target; "not measured" when its inputs were never delivered; no RAG without a
  target;
- `best_and_worst`: the best and the worst partner of a KPI in the hub (from the scorecard's
  ranks; ties share a rank and are named together);
- `biggest_movers`: the largest improvement and the largest decline of a KPI on last month;
- `caveats`: a partner that did not deliver a source for the month, a quarantine rate over the
  threshold, a KPI not measured, a KPI suppressed (its denominator under the KPI's
  min_denominator) or a value over a small denominator;
- `outliers`: the partners whose value of a KPI is far from the month's median of all partners
  (`marts.kpi_benchmarks` is_outlier: |value - median| > 3 x 1.4826 x MAD), with that median.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from dagster_project.quality import previous_month
from dagster_project.report.formats import (
    MINUS,
    figure,
    month_name,
    names,
    ordinal,
    signed_pct,
)

# A value whose denominator is under this many calls or contacts is flagged as resting on few;
# what each KPI's denominator counts (service-level days count days: never flagged).
SMALL_DENOMINATOR = 30
DENOMINATOR_NOUNS = {"tsf_pct": "calls", "abandon_rate_pct": "calls",
                     "asa_seconds": "answered calls", "fpoc_pct": "contacts"}

RAG = ("green", "amber", "red")  # a value against a target; `none` has no RAG
# The headline KPIs of the pack, in the order the board reads them.
HEADLINE_KPIS = ("tsf_pct", "asa_seconds", "abandon_rate_pct", "sl_days_pct",
                 "csc_call_share_pct", "fpoc_pct")
# The service standards of the voicemail, reception and web sources (the pack's "Service
# standards" page; a KPI no partner is measured on in the month is left out of it).
SERVICE_STANDARD_KPIS = ("voicemail_in_policy_pct", "voicemail_median_response_hours",
                         "reception_wait_avg_minutes", "reception_seen_within_target_pct",
                         "reception_walkout_pct", "web_visits", "web_poor_rating_pct",
                         "self_service_share_pct")


@dataclass(frozen=True)
class Sentence:
    """One sentence of commentary and the figures (as the marts hold them) it states."""

    text: str
    figures: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class KpiValue:
    """One row of `marts.kpi_scorecard` (segment `all`), with the partner's display name."""

    partner_code: str
    partner_name: str
    month: dt.date
    kpi_code: str
    kpi_name: str
    unit: str
    direction: str  # higher_is_better | lower_is_better | info
    value: Decimal | float | None
    target: Decimal | float | None = None
    rag_status: str = "none"  # green | amber | red | none
    rank: int | None = None  # rank_among_partners: 1 = best; ties share a rank
    denominator: Decimal | float | None = None
    # measurement_status: measured | not_measured | suppressed (a value over a denominator
    # below the KPI's min_denominator, served null: docs/kpi-definitions.md, "Benchmarking")
    status: str = "measured"
    # from marts.kpi_benchmarks (None for a KPI without direction, or without a value):
    # partner_quartile 1 (best) to 4, is_outlier, and the month's median of all partners
    quartile: int | None = None
    is_outlier: bool | None = None
    median: Decimal | float | None = None

    @property
    def measured(self) -> bool:
        return self.value is not None

    @property
    def suppressed(self) -> bool:
        return self.value is None and self.status == "suppressed"


def volume(partner_name: str, month: dt.date, this: int,
           previous: int | None, noun: str = "calls") -> Sentence:
    """'Eastbrook took 9,567 calls in October 2024, 1,204 more than September (+14.4 %).'"""
    head = f"{partner_name} took {this:,} {noun} in {month_name(month)}"
    figures: dict[str, object] = {"this": this, "previous": previous}
    before = f"{previous_month(month):%B}"
    if previous is None:
        return Sentence(f"{head}; there is no previous month to compare with.", figures)
    change = this - previous
    figures["change"] = change
    if change == 0:
        return Sentence(f"{head}, the same as {before}.", figures)
    more = "more" if change > 0 else "fewer"
    if previous == 0:
        return Sentence(f"{head}, {abs(change):,} {more} than {before} (none then).", figures)
    pct = Decimal(change) * 100 / Decimal(previous)
    figures["change_pct"] = pct
    return Sentence(f"{head}, {abs(change):,} {more} than {before} ({signed_pct(pct)}).",
                    figures)


def _meets(row: KpiValue) -> bool:
    return row.rag_status == "green"


def streak(history: list[KpiValue]) -> int:
    """How many months running, up to the last of `history` (one partner's rows of one KPI,
    in month order, consecutive), the KPI has been on the same side of its target as in the
    last month. 0 when the last month has no RAG."""
    if not history or history[-1].rag_status not in RAG:
        return 0
    side = _meets(history[-1])
    count = 0
    expected = history[-1].month
    for row in reversed(history):
        if row.month != expected or row.rag_status not in RAG or _meets(row) != side:
            break
        count += 1
        expected = previous_month(expected)
    return count


def against_target(history: list[KpiValue]) -> Sentence:
    """The last month of `history` against its target: value, RAG in words and the streak.
    'Telephone service factor was 65.4 %, red, below the 80.0 % target for the 7th month
    running.'"""
    row = history[-1]
    figures: dict[str, object] = {"value": row.value, "target": row.target}
    if row.suppressed:
        return Sentence(f"{row.kpi_name} is not shown for {month_name(row.month)}: it rests "
                        f"on too few cases to compare (suppressed).", figures)
    if not row.measured:
        return Sentence(f"{row.kpi_name} was not measured in {month_name(row.month)}: its "
                        f"inputs were not delivered.", figures)
    head = f"{row.kpi_name} was {figure(row.value, row.unit)}"
    if row.rag_status not in RAG or row.target is None:
        return Sentence(f"{head} (no target).", figures)
    n = streak(history)
    figures["months_running"] = n
    target = figure(row.target, row.unit)
    if _meets(row):
        where = "meeting" if row.value == row.target else (
            "above" if row.direction == "higher_is_better" else "below")
        text = f"{head}, green, {where} the {target} target"
    else:
        where = "below" if row.direction == "higher_is_better" else "above"
        text = f"{head}, {row.rag_status}, {where} the {target} target"
    if n > 1:
        text += f" for the {ordinal(n)} month running"
    return Sentence(text + ".", figures)


def best_and_worst(rows: list[KpiValue]) -> Sentence | None:
    """The best and worst partners of one KPI in one month, from the scorecard's ranks (ties
    named together). None when fewer than two partners were ranked."""
    ranked = sorted((r for r in rows if r.rank is not None and r.measured),
                    key=lambda r: (r.rank, r.partner_name))
    if len({r.partner_code for r in ranked}) < 2:
        return None
    best_rank, worst_rank = ranked[0].rank, ranked[-1].rank
    best = [r for r in ranked if r.rank == best_rank]
    worst = [r for r in ranked if r.rank == worst_rank]
    kpi, unit = ranked[0].kpi_name, ranked[0].unit

    def who(group: list[KpiValue]) -> str:
        return f"{names([r.partner_name for r in group])} ({figure(group[0].value, unit)})"

    figures = {"best": {r.partner_code: r.value for r in best},
               "worst": {r.partner_code: r.value for r in worst}}
    if best_rank == worst_rank:
        return Sentence(f"{kpi}: every partner ranked level at "
                        f"{figure(best[0].value, unit)}.", figures)
    return Sentence(f"{kpi}: best in the hub {who(best)}; last {who(worst)}.", figures)


def biggest_movers(this: list[KpiValue], previous: list[KpiValue]) -> Sentence | None:
    """The largest improvement and the largest decline of one KPI on the previous month, among
    partners measured in both (direction-aware; none for info KPIs)."""
    before = {r.partner_code: r for r in previous if r.measured}
    changes = []
    for row in this:
        if row.measured and row.partner_code in before and row.direction != "info":
            delta = Decimal(str(row.value)) - Decimal(str(before[row.partner_code].value))
            better = delta if row.direction == "higher_is_better" else -delta
            changes.append((better, row.partner_name, row, delta))
    if not changes:
        return None
    kpi = changes[0][2]
    unit = "pts" if kpi.unit == "pct" else kpi.unit
    improved = sorted((c for c in changes if c[0] > 0), key=lambda c: (-c[0], c[1]))
    declined = sorted((c for c in changes if c[0] < 0), key=lambda c: (c[0], c[1]))
    parts, figures = [], {}
    if improved:
        _, name, row, delta = improved[0]
        parts.append(f"the largest improvement was {name}'s ({_signed(delta, unit)})")
        figures["improved"] = {row.partner_code: delta}
    if declined:
        _, name, row, delta = declined[0]
        parts.append(f"the largest decline {name}'s ({_signed(delta, unit)})")
        figures["declined"] = {row.partner_code: delta}
    if not parts:
        return Sentence(f"{kpi.kpi_name}: no partner changed on last month.", figures)
    return Sentence(f"{kpi.kpi_name} on last month: " + "; ".join(parts) + ".", figures)


def outliers(rows: list[KpiValue]) -> Sentence | None:
    """The partners flagged as outliers of one KPI in one month, with their values and the
    hub median they are far from; None when there is none."""
    flagged = sorted((r for r in rows if r.is_outlier and r.measured),
                     key=lambda r: r.partner_name)
    if not flagged:
        return None
    kpi, unit, median = flagged[0].kpi_name, flagged[0].unit, flagged[0].median
    who = names([f"{r.partner_name} ({figure(r.value, r.unit)})" for r in flagged])
    verb = "is an outlier" if len(flagged) == 1 else "are outliers"
    return Sentence(f"{kpi}: {who} {verb}, far from the median of all partners "
                    f"({figure(median, unit)}): more than three scaled median absolute "
                    f"deviations away.",
                    {"outliers": {r.partner_code: r.value for r in flagged}, "median": median})


def _signed(delta: Decimal, unit: str) -> str:
    return ("+" if delta >= 0 else MINUS) + figure(abs(delta), unit)


@dataclass(frozen=True)
class Delivery:
    """One partner's delivery of one source for the month (`marts.kpi_deliveries`), or its
    absence (`rows_read` None)."""

    partner_code: str
    partner_name: str
    source: str  # telephony | crm | voicemail | reception | web
    rows_read: int | None
    rows_quarantined: int = 0


def caveats(month: dt.date, deliveries: list[Delivery], kpis: list[KpiValue],
            max_quarantine_pct: Decimal | float = 2) -> list[Sentence]:
    """Data caveats for the month: sources not delivered, quarantine rates over the threshold,
    KPIs not measured, values resting on few calls or contacts."""
    out: list[Sentence] = []
    label = {"telephony": "telephony", "crm": "CRM", "voicemail": "voicemail",
             "reception": "reception", "web": "web"}
    for d in sorted(deliveries, key=lambda d: (d.partner_name, d.source)):
        if d.rows_read is None:
            out.append(Sentence(f"{d.partner_name} did not deliver its {label[d.source]} data "
                                f"for {month_name(month)}: its figures are missing, not zero.",
                                {"partner": d.partner_code, "source": d.source}))
        elif d.rows_read and Decimal(d.rows_quarantined) * 100 / d.rows_read > Decimal(
                str(max_quarantine_pct)):
            pct = Decimal(d.rows_quarantined) * 100 / d.rows_read
            out.append(Sentence(
                f"{d.partner_name}: {d.rows_quarantined:,} of {d.rows_read:,} "
                f"{label[d.source]} rows ({figure(pct, 'pct')}) were quarantined, over the "
                f"{figure(max_quarantine_pct, 'pct')} threshold.",
                {"quarantined": d.rows_quarantined, "rows_read": d.rows_read, "pct": pct}))
    for row in sorted(kpis, key=lambda r: (r.partner_name, r.kpi_name)):
        if row.suppressed:
            few = ("" if row.denominator is None or row.kpi_code not in DENOMINATOR_NOUNS
                   else f" (only {int(row.denominator):,} {DENOMINATOR_NOUNS[row.kpi_code]})")
            out.append(Sentence(f"{row.partner_name}: {row.kpi_name} suppressed{few}: too few "
                                f"cases to compare; it is not ranked.",
                                {"partner": row.partner_code, "kpi": row.kpi_code,
                                 "denominator": row.denominator}))
        elif not row.measured:
            out.append(Sentence(f"{row.partner_name}: {row.kpi_name} not measured (its inputs "
                                f"were not delivered); it is not ranked.",
                                {"partner": row.partner_code, "kpi": row.kpi_code}))
        elif (row.kpi_code in DENOMINATOR_NOUNS and row.denominator is not None
              and 0 < row.denominator < SMALL_DENOMINATOR):
            out.append(Sentence(f"{row.partner_name}: {row.kpi_name} rests on only "
                                f"{int(row.denominator):,} {DENOMINATOR_NOUNS[row.kpi_code]}; "
                                f"read it with care.",
                                {"partner": row.partner_code, "denominator": row.denominator}))
    return out


def hub_commentary(figures) -> list[Sentence]:
    """The hub pack's commentary for `figures` (report.figures.MonthFigures), in order: each
    partner's calls and contacts against last month, each headline KPI's best and worst,
    biggest movers and outliers, the service standards' best, worst and outliers, then the data
    caveats."""
    month, before = figures.month, previous_month(figures.month)
    out: list[Sentence] = []
    for kpi_code, noun in (("calls_offered", "calls"), ("contacts", "contacts")):
        last = {r.partner_code: r for r in figures.of_month(kpi_code, before)}
        for row in sorted(figures.of_month(kpi_code), key=lambda r: r.partner_name):
            previous = last.get(row.partner_code)
            out.append(volume(row.partner_name, month, int(row.value), None if previous is None
                              else int(previous.value), noun))
    for kpi_code in HEADLINE_KPIS:
        this = figures.of_month(kpi_code)
        for sentence in (best_and_worst(this),
                         biggest_movers(this, figures.of_month(kpi_code, before)),
                         outliers(this)):
            if sentence is not None:
                out.append(sentence)
    for kpi_code in SERVICE_STANDARD_KPIS:
        this = figures.of_month(kpi_code)
        for sentence in (best_and_worst(this), outliers(this)):
            if sentence is not None:
                out.append(sentence)
    headline = [r for code in HEADLINE_KPIS for r in figures.of_month(code)]
    out.extend(caveats(month, figures.deliveries, headline))
    return out
