"""The board pack's commentary rules (issue 12; dagster_project/report/commentary.py) on
hand-made marts rows: each sentence says what the rows hold, and every number in it is
re-derived from the figures the rule was given (ties, a first month with no previous month, a
KPI not measured, a partner that did not deliver)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from dagster_project.report.commentary import (
    Delivery,
    KpiValue,
    against_target,
    best_and_worst,
    biggest_movers,
    caveats,
    outliers,
    streak,
    volume,
)
from dagster_project.report.formats import figure, names, ordinal, signed_pct

OCT, SEP = dt.date(2024, 10, 1), dt.date(2024, 9, 1)


def tsf(partner: str, month: dt.date, value, rag: str = "none", rank: int | None = None,
        denominator=None, name: str | None = None) -> KpiValue:
    return KpiValue(partner, name or partner.capitalize(), month, "tsf_pct",
                    "Telephone service factor", "pct", "higher_is_better",
                    None if value is None else Decimal(str(value)), Decimal("80"), rag, rank,
                    None if denominator is None else Decimal(denominator))


def months_back(n: int, end: dt.date = OCT) -> list[dt.date]:
    out, month = [], end
    for _ in range(n):
        out.append(month)
        month = (month - dt.timedelta(days=1)).replace(day=1)
    return out[::-1]


def numbers(text: str) -> list[str]:
    return re.findall(r"\d[\d,]*(?:\.\d+)?", text)


def test_formats():
    assert figure(Decimal("65.44"), "pct") == "65.4 %"
    assert figure(Decimal("65.45"), "pct") == "65.5 %"  # half up, as a reader rounds
    assert figure(9567, "count") == "9,567"
    assert figure(Decimal("12.25"), "seconds") == "12.3 s"
    assert figure(Decimal("3.456"), "gbp") == "£3.46"
    assert figure(None, "pct") == "not measured"
    assert signed_pct(Decimal("14.44")) == "+14.4 %" and signed_pct(Decimal("-3")) == "\u22123.0 %"
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th"]
    assert names(["A"]) == "A" and names(["A", "B", "C"]) == "A, B and C"


def test_volume_and_its_change():
    s = volume("Eastbrook", OCT, 9567, 8363)
    assert s.text == ("Eastbrook took 9,567 calls in October 2024, 1,204 more than September "
                      "(+14.4 %).")
    assert s.figures["change"] == 9567 - 8363
    assert f"{s.figures['change_pct']:.1f}" == "14.4"
    assert volume("Eastbrook", OCT, 900, 1000).text.endswith(
        "100 fewer than September (\u221210.0 %).")
    assert volume("Eastbrook", OCT, 5, 5).text.endswith("the same as September.")
    assert volume("Eastbrook", OCT, 5, 0).text.endswith("5 more than September (none then).")


def test_first_month_has_no_previous_month():
    s = volume("Riverton", OCT, 120, None, noun="contacts")
    assert s.text == ("Riverton took 120 contacts in October 2024; there is no previous month "
                      "to compare with.")
    assert "change" not in s.figures


def test_against_target_with_the_streak():
    history = [tsf("eastbrook", m, 70 - i % 3, "red") for i, m in enumerate(months_back(7))]
    s = against_target(history)
    assert s.text == ("Telephone service factor was 70.0 %, red, below the 80.0 % target for "
                      "the 7th month running.")
    assert numbers(s.text) == [figure(history[-1].value, "pct")[:-2],
                               figure(history[-1].target, "pct")[:-2], "7"]
    # a green month ends the streak; amber counts as missing the target
    history[3] = tsf("eastbrook", history[3].month, 85, "green")
    history[5] = tsf("eastbrook", history[5].month, 78, "amber")
    assert streak(history) == 3
    met = [tsf("eastbrook", m, 85, "green") for m in months_back(2)]
    assert against_target(met).text == ("Telephone service factor was 85.0 %, green, above "
                                        "the 80.0 % target for the 2nd month running.")
    one = [tsf("eastbrook", OCT, 80, "green")]
    assert against_target(one).text == ("Telephone service factor was 80.0 %, green, meeting "
                                        "the 80.0 % target.")


def test_a_gap_in_the_months_ends_the_streak():
    history = [tsf("eastbrook", m, 60, "red") for m in months_back(5)]
    del history[2]  # a month not delivered: the streak cannot run across it
    assert streak(history) == 2


def test_a_kpi_not_measured_is_said_so_and_has_no_rag():
    s = against_target([tsf("westvale", OCT, None)])
    assert s.text == ("Telephone service factor was not measured in October 2024: its inputs "
                      "were not delivered.")
    assert streak([tsf("westvale", OCT, None)]) == 0
    no_target = KpiValue("westvale", "Westvale", OCT, "aht_seconds", "Average handle time",
                         "seconds", "info", Decimal("301.26"))
    assert against_target([no_target]).text == "Average handle time was 301.3 s (no target)."


def test_a_suppressed_kpi_is_said_so_not_ranked_and_not_called_not_measured():
    """Small-number suppression (docs/kpi-definitions.md, "Benchmarking"): the scorecard serves
    a null value with status `suppressed`; the pack says so, never "not measured"."""
    from dataclasses import replace

    from dagster_project.report.pages import cell

    row = replace(tsf("westvale", OCT, None, denominator=12), status="suppressed")
    assert row.suppressed and not row.measured
    assert against_target([row]).text == ("Telephone service factor is not shown for October "
                                          "2024: it rests on too few cases to compare "
                                          "(suppressed).")
    assert [s.text for s in caveats(OCT, [], [row])] == [
        "Westvale: Telephone service factor suppressed (only 12 calls): too few cases to "
        "compare; it is not ranked."]
    assert (cell(row).value, cell(row).rag, cell(row).rank) == ("suppressed", "suppressed",
                                                                "not ranked")
    assert streak([row]) == 0
    ranked = [tsf("riverton", OCT, 91.2, "green", 1), tsf("eastbrook", OCT, 65.4, "red", 2),
              row]
    assert "Westvale" not in best_and_worst(ranked).text


def test_best_and_worst_name_ties_together():
    rows = [tsf("riverton", OCT, 91.2, "green", 1), tsf("westvale", OCT, 91.2, "green", 1),
            tsf("eastbrook", OCT, 65.4, "red", 3), tsf("northmoor", OCT, None)]
    s = best_and_worst(rows)
    assert s.text == ("Telephone service factor: best in the hub Riverton and Westvale "
                      "(91.2 %); last Eastbrook (65.4 %).")
    assert s.figures == {"best": {"riverton": Decimal("91.2"), "westvale": Decimal("91.2")},
                         "worst": {"eastbrook": Decimal("65.4")}}
    level = [tsf("riverton", OCT, 90, "green", 1), tsf("westvale", OCT, 90, "green", 1)]
    assert best_and_worst(level).text == ("Telephone service factor: every partner ranked "
                                          "level at 90.0 %.")
    assert best_and_worst([tsf("riverton", OCT, 90, "green", 1)]) is None


def test_biggest_movers_follow_the_kpi_direction():
    before = [tsf("eastbrook", SEP, 70), tsf("riverton", SEP, 90), tsf("westvale", SEP, 80),
              tsf("northmoor", SEP, None)]
    now = [tsf("eastbrook", OCT, 75.5), tsf("riverton", OCT, 84), tsf("westvale", OCT, 81),
           tsf("northmoor", OCT, 99)]
    s = biggest_movers(now, before)
    assert s.text == ("Telephone service factor on last month: the largest improvement was "
                      "Eastbrook's (+5.5 pts); the largest decline Riverton's (\u22126.0 pts).")
    assert s.figures == {"improved": {"eastbrook": Decimal("5.5")},
                         "declined": {"riverton": Decimal("-6")}}
    asa = [KpiValue("eastbrook", "Eastbrook", m, "asa_seconds", "Average speed of answer",
                    "seconds", "lower_is_better", Decimal(v)) for m, v in ((SEP, 20), (OCT, 12))]
    assert biggest_movers(asa[1:], asa[:1]).text == (
        "Average speed of answer on last month: the largest improvement was Eastbrook's "
        "(\u22128.0 s).")


def test_caveats_for_a_partner_that_did_not_deliver_and_a_high_quarantine_rate():
    deliveries = [Delivery("westvale", "Westvale", "crm", None),
                  Delivery("eastbrook", "Eastbrook", "telephony", 2000, 60),
                  Delivery("riverton", "Riverton", "telephony", 2000, 10)]
    kpis = [tsf("northmoor", OCT, None), tsf("southfield", OCT, 50, "red", 2, denominator=12),
            tsf("riverton", OCT, 90, "green", 1, denominator=2000)]
    texts = [s.text for s in caveats(OCT, deliveries, kpis)]
    assert texts == [
        "Eastbrook: 60 of 2,000 telephony rows (3.0 %) were quarantined, over the 2.0 % "
        "threshold.",
        "Westvale did not deliver its CRM data for October 2024: its figures are missing, not "
        "zero.",
        "Northmoor: Telephone service factor not measured (its inputs were not delivered); it "
        "is not ranked.",
        "Southfield: Telephone service factor rests on only 12 calls; read it with care."]
    days = KpiValue("riverton", "Riverton", OCT, "sl_days_pct", "Service-level days", "pct",
                    "higher_is_better", Decimal(90), Decimal(90), "green", 1, Decimal(21))
    assert caveats(OCT, [], [days]) == []  # 21 days are a month, not a small sample


# ---------------------------------------------------------------- completeness (pack_data.py)


def _deliveries_db(path, delivered):
    """A hand-made serving file: two partners expecting telephony, deliveries as given."""
    import duckdb

    con = duckdb.connect(str(path))
    con.execute("create schema marts")
    con.execute("create table marts.kpi_freshness as select * from (values "
                "('a', 'telephony', true), ('b', 'telephony', true), "
                "('c', 'telephony', false)) t(partner_code, source, is_expecting_deliveries)")
    con.execute("create table marts.kpi_deliveries (partner_code varchar, source varchar, "
                "month date)")
    for partner, month in delivered:
        con.execute("insert into marts.kpi_deliveries values (?, 'telephony', ?)",
                    [partner, month])
    con.execute("create table marts.kpi_scorecard as select distinct month "
                "from marts.kpi_deliveries")
    con.close()


def test_the_latest_complete_month_and_the_months_still_missing(tmp_path):
    import duckdb

    from dagster_project.report.pack_data import (
        last_months,
        latest_complete_month,
        missing_deliveries,
    )

    jan, feb, mar, apr = (dt.date(2024, m, 1) for m in (1, 2, 3, 4))
    # b starts in February (January is not missing for it), misses March; April is the
    # current month on 2024-04-10 (not ended); c is not expected and never counts.
    path = tmp_path / "serving.duckdb"
    _deliveries_db(path, [("a", jan), ("a", feb), ("a", mar), ("a", apr), ("b", feb),
                          ("b", apr), ("c", jan)])
    assert latest_complete_month(path, dt.date(2024, 4, 10)) == feb
    assert latest_complete_month(path, dt.date(2024, 5, 2)) == apr
    con = duckdb.connect(str(path), read_only=True)
    assert missing_deliveries(con, last_months(apr, 4)) == [(mar, "b", "telephony")]
    assert missing_deliveries(con, []) == []
    con.close()
    empty = tmp_path / "empty.duckdb"
    _deliveries_db(empty, [])
    assert latest_complete_month(empty, dt.date(2024, 4, 10)) is None


def _benchmarked(partner: str, value, quartile=None, outlier=None, median=None,
                 kpi: str = "tsf_pct", unit: str = "pct", status: str = "measured") -> KpiValue:
    return KpiValue(partner, partner.capitalize(), OCT, kpi, "Telephone service factor"
                    if kpi == "tsf_pct" else "Voicemail median response time", unit,
                    "higher_is_better", None if value is None else Decimal(str(value)),
                    Decimal("80"), "none", None, None, status, quartile, outlier,
                    None if median is None else Decimal(str(median)))


def test_outliers_name_each_flagged_partner_with_the_median():
    rows = [_benchmarked("eastbrook", "45.04", 4, True, "78.35"),
            _benchmarked("riverton", "79", 2, False, "78.35"),
            _benchmarked("highcross", "99.96", 1, True, "78.35"),
            _benchmarked("northmoor", None, None, None, "78.35", status="suppressed")]
    s = outliers(rows)
    assert s.text == ("Telephone service factor: Eastbrook (45.0 %) and Highcross (100.0 %) are "
                      "outliers, far from the median of all partners (78.4 %): more than three "
                      "scaled median absolute deviations away.")
    assert s.figures == {"outliers": {"eastbrook": Decimal("45.04"),
                                      "highcross": Decimal("99.96")},
                         "median": Decimal("78.35")}
    # every number in the sentence is a flagged value or the median, as formatted
    assert numbers(s.text) == [figure(Decimal("45.04"), "pct")[:-2],
                               figure(Decimal("99.96"), "pct")[:-2],
                               figure(Decimal("78.35"), "pct")[:-2]]
    one = outliers([_benchmarked("eastbrook", "30.26", 4, True, "2.5",
                                 kpi="voicemail_median_response_hours", unit="hours")])
    assert one.text.startswith("Voicemail median response time: Eastbrook (30.3 h) is an "
                               "outlier, far from the median of all partners (2.5 h)")
    # none flagged, or flagged without a value (suppressed): no sentence
    assert outliers(rows[1:2]) is None
    assert outliers([_benchmarked("eastbrook", None, None, True, "1")]) is None


def test_quartile_and_outlier_marks_beside_the_rank():
    from dagster_project.report.pages import cell

    assert cell(_benchmarked("eastbrook", "45", 4, True, "78")).position == "Q4, outlier"
    assert cell(_benchmarked("eastbrook", "79", 1, False, "78")).position == "Q1"
    assert cell(_benchmarked("eastbrook", "79", None, True, "78")).position == "outlier"
    assert cell(_benchmarked("eastbrook", "79")).position == ""
    suppressed = cell(_benchmarked("eastbrook", None, status="suppressed"))
    assert (suppressed.value, suppressed.position) == ("suppressed", "")
    assert figure(Decimal("12.25"), "minutes") == "12.3 min"
    assert figure(Decimal("2.04"), "hours") == "2.0 h"
