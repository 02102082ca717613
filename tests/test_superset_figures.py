"""The hub board and partner report show the marts' figures.

Each chart's saved query (what `GET /api/v1/chart/{id}/data/` and the dashboard run) is run on
the session's Superset over the sample warehouse, and its figures are compared with the marts
read directly with DuckDB. Where the dashboard narrows a chart with its native filters (month,
partner, KPI), the chart's saved query is run with the filters the dashboard adds. Target lines
(formula annotations) in the chart files must equal the targets of the KPI seed.
"""

from __future__ import annotations

import csv
import functools
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "superset" / "assets"
KPI_SEED = REPO / "seeds" / "reference" / "kpi_definitions.csv"
DASHBOARD_CHARTS = {"hub-board": "board_", "partner-report": "partner_",
                    "service-standards": "ss_"}
# Charts that draw a KPI's target as a formula annotation, and the KPI (= their metric).
TARGET_LINES = {"board_tsf_trend": "tsf_pct", "board_asa_trend": "asa_seconds",
                "board_abandon_trend": "abandon_rate_pct", "board_sl_days": "sl_days_pct",
                "partner_daily_tsf": "tsf_pct", "board_csc_share_trend": "csc_call_share_pct",
                "ss_csc_share": "csc_call_share_pct", "ss_voicemail_in_policy":
                "voicemail_in_policy_pct", "ss_reception_seen": "reception_seen_within_target_pct",
                "ss_reception_walkout": "reception_walkout_pct"}
# The telephony KPIs of kpi_definitions: the partner report's telephony headline table (the
# contact KPIs have their own table, tests/test_superset_crm.py).
TELEPHONY_KPIS = ("tsf_pct", "asa_seconds", "abandon_rate_pct", "sl_days_pct", "aht_seconds",
                  "calls_offered", "offered_mom_change_pct", "out_of_hours_pct",
                  "answered_unknown_wait", "csc_call_share_pct")
LATEST_24 = ("date_diff('month', month, (select max(month) from marts.kpi_telephony_monthly))"
             " < 24")


def assert_same_rows(shown: list[dict], expected: list[tuple]) -> None:
    """Chart rows (dicts in column order) equal mart rows, numbers to float precision."""
    assert [tuple(row.values()) for row in shown] == [
        tuple(approx(v) if isinstance(v, float | int) else v for v in row) for row in expected]


@functools.cache
def chart_file(path: Path) -> dict[str, Any]:
    """A chart's YAML, parsed once per test process (libyaml; callers only read it)."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)


def chart_files(dashboards: dict[str, str] = DASHBOARD_CHARTS) -> dict[str, dict[str, Any]]:
    """The chart YAML files of `dashboards` (slug -> chart file name prefix), by file name."""
    return {path.stem: chart_file(path)
            for prefix in dashboards.values()
            for path in sorted((ASSETS / "charts").glob(f"{prefix}*.yaml"))}


def dashboard_charts(client, slug: str, files: dict[str, dict[str, Any]]
                     ) -> dict[str, dict[str, Any]]:
    """The charts of a dashboard as `client` may fetch them, by the name of their file in
    `files` (by slice name when none has the chart's uuid)."""
    by_uuid = {config["uuid"]: name for name, config in files.items()}
    found = {}
    for listed in client.dashboard_charts(slug):
        chart = client.chart(listed["id"])
        found[by_uuid.get(chart["uuid"], chart["slice_name"])] = chart
    return found


def day(epoch_ms: float) -> date:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).date()


def approx(value: Any) -> Any:
    """Equal to within 1e-9; exact decimals from the marts (money) compare as floats, since
    Superset returns JSON numbers."""
    if isinstance(value, Decimal):
        value = float(value)
    return pytest.approx(value, rel=1e-9, abs=1e-9)


@pytest.fixture(scope="module")
def charts(client) -> dict[str, dict[str, Any]]:
    """The imported charts of both dashboards by chart file name, with their dashboard slug."""
    return {name: dict(chart, slug=slug) for slug in DASHBOARD_CHARTS
            for name, chart in dashboard_charts(client, slug, chart_files()).items()}


@pytest.fixture(scope="module")
def dashboards(client) -> dict[str, dict[str, Any]]:
    found = {}
    for slug in DASHBOARD_CHARTS:
        dashboard = client.json(f"/api/v1/dashboard/{slug}")["result"]
        dashboard["metadata"] = json.loads(dashboard["json_metadata"])
        found[slug] = dashboard
    return found


def saved_results(client, chart: dict[str, Any]) -> list[dict[str, Any]]:
    """The results of the chart's saved query, as GET /api/v1/chart/{id}/data/ runs it."""
    answer = client.chart_data(chart["id"])
    assert answer.status_code == 200, answer.text
    return answer.json()["result"]


def filtered_results(client, chart: dict[str, Any], **equals: str) -> list[dict[str, Any]]:
    """The chart's saved query narrowed as the dashboard's native filters narrow it."""
    context = json.loads(chart["query_context"])
    for query in context["queries"]:
        query["filters"] = query["filters"] + [
            {"col": column, "op": "IN", "val": [value]} for column, value in equals.items()]
    answer = client.post("/api/v1/chart/data", context)
    assert answer.status_code == 200, answer.text
    return answer.json()["result"]


def rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return results[0]["data"]


def latest_period(marts, partner: str | None = None) -> str:
    where, params = ("where partner_code = ?", [partner]) if partner else ("", [])
    return marts(f"select strftime(max(month), '%Y-%m') from marts.kpi_telephony_monthly {where}",
                 *params)[0][0]


def native_filter(dashboard: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [f for f in dashboard["metadata"]["native_filter_configuration"]
               if f["name"] == name]
    return found


def test_dashboards_hold_exactly_their_chart_files(dashboards, charts):
    files = chart_files()
    assert dashboards["hub-board"]["dashboard_title"] == "Hub board — partner benchmarking"
    assert dashboards["partner-report"]["dashboard_title"] == "Partner performance report"
    for slug, prefix in DASHBOARD_CHARTS.items():
        on_dashboard = sorted(name for name, chart in charts.items() if chart["slug"] == slug)
        assert on_dashboard == sorted(name for name in files if name.startswith(prefix))


def test_every_chart_returns_rows(client, charts):
    for name, chart in charts.items():
        for result in saved_results(client, chart):
            assert result["rowcount"] > 0, name
            assert not result.get("error"), name


@pytest.mark.parametrize("name,column", [
    ("board_tsf_trend", "tsf_pct"), ("board_asa_trend", "asa_seconds"),
    ("board_abandon_trend", "abandon_rate_pct"), ("board_volume_trend", "offered"),
    ("board_csc_share_trend", "csc_call_share_pct")])
def test_trends_are_each_partners_monthly_kpi_over_the_latest_24_months(
        client, charts, marts, name, column):
    shown = {}
    for row in rows(saved_results(client, charts[name])):
        month = day(row.pop("month"))
        shown.update({(partner, month): value for partner, value in row.items()
                      if value is not None})
    expected = {(partner, month): value for partner, month, value in marts(
        f"select partner_code, month, {column} from marts.kpi_telephony_monthly "
        f"where {LATEST_24} and {column} is not null")}
    assert expected
    assert shown.keys() == expected.keys()
    assert shown == {key: approx(value) for key, value in expected.items()}
    assert len({month for _, month in shown}) <= 24


def test_league_table_ranks_the_partners_on_the_default_kpi_of_the_latest_month(
        client, charts, dashboards, marts):
    board = dashboards["hub-board"]
    kpi = native_filter(board, "KPI")["defaultDataMask"]["filterState"]["value"][0]
    assert kpi == "Telephone service factor"
    period = latest_period(marts)
    shown = rows(filtered_results(client, charts["board_league_table"],
                                  period=period, kpi_name=kpi))
    expected = marts(
        "select s.rank_among_partners, 'Q' || b.partner_quartile, "
        "case when b.is_outlier then 'outlier' end, s.partner_code, s.value, "
        "replace(s.measurement_status, '_', ' ') as measurement, s.target, s.rag_status, "
        "s.hub_value from marts.kpi_scorecard as s left join marts.kpi_benchmarks as b "
        "using (partner_code, month, kpi_code) "
        "where strftime(s.month, '%Y-%m') = ? and s.kpi_name = ? "
        "and s.segment_code = 'all' order by s.rank_among_partners, s.partner_code", period, kpi)
    assert len(expected) > 1
    assert_same_rows(shown, expected)
    # the sample has at least 4 partners with a TSF: each is in a quartile
    assert {row["quartile"] for row in shown} >= {"Q1", "Q4"}
    # Unfiltered, the table is the scorecard's partner-level rows (segment rows per channel or
    # category never double a partner up), one row per partner, month and KPI.
    everything = saved_results(client, charts["board_league_table"])[0]
    assert everything["rowcount"] == marts(
        "select count(*) from marts.kpi_scorecard where segment_code = 'all'")[0][0]


def test_service_level_days_by_partner_for_a_month(client, charts, marts):
    period = latest_period(marts)
    shown = {row["partner_code"]: row["sl_days_pct"] for row in
             rows(filtered_results(client, charts["board_sl_days"], period=period))}
    expected = dict(marts("select partner_code, sl_days_pct from marts.kpi_telephony_monthly "
                          "where strftime(month, '%Y-%m') = ?", period))
    assert shown == {partner: approx(value) for partner, value in expected.items()}


def test_partner_report_defaults_to_the_first_partner_and_its_latest_month(dashboards):
    report = dashboards["partner-report"]
    partner, month = native_filter(report, "Partner"), native_filter(report, "Month")
    assert partner["targets"][0]["column"]["name"] == "partner_code"
    assert partner["controlValues"]["defaultToFirstItem"]
    assert partner["controlValues"]["sortAscending"]
    assert month["targets"][0]["column"]["name"] == "period"
    assert month["controlValues"]["defaultToFirstItem"]
    assert not month["controlValues"]["sortAscending"]
    assert month["cascadeParentIds"] == [partner["id"]]
    for required in (partner, month):
        assert required["controlValues"]["enableEmptyFilter"]
        assert not required["controlValues"]["multiSelect"]


def test_headline_kpis_of_a_partner_month(client, charts, marts):
    partner = marts("select min(partner_code) from marts.kpi_telephony_monthly")[0][0]
    period = latest_period(marts, partner)
    shown = rows(filtered_results(client, charts["partner_headline_kpis"],
                                  partner_code=partner, period=period))
    expected = marts(
        "select kpi_name, value, replace(measurement_status, '_', ' '), target, rag_status, "
        "hub_value, rank_among_partners "
        "from marts.kpi_scorecard where partner_code = ? and strftime(month, '%Y-%m') = ? "
        "and segment_code = 'all' and kpi_code in (select unnest(?)) order by kpi_name",
        partner, period, list(TELEPHONY_KPIS))
    assert {row["kpi_name"] for row in shown} >= {"Telephone service factor", "Calls offered"}
    assert_same_rows(shown, expected)


def test_big_numbers_of_a_partner_month_and_of_the_whole_hub(client, charts, marts):
    for partner, in marts("select distinct partner_code from marts.kpi_telephony_monthly"):
        period = latest_period(marts, partner)
        [[offered, tsf, out_of_hours]] = marts(
            "select offered, tsf_pct, out_of_hours_pct from marts.kpi_telephony_monthly "
            "where partner_code = ? and strftime(month, '%Y-%m') = ?", partner, period)
        for name, column, value in [("partner_offered", "offered", offered),
                                    ("partner_tsf", "tsf_pct", tsf),
                                    ("partner_out_of_hours", "out_of_hours_pct", out_of_hours)]:
            [row] = rows(filtered_results(client, charts[name], partner_code=partner,
                                          period=period))
            assert row[column] == approx(value), (name, partner, period)
    # The saved queries, unfiltered, are the pooled figures of the whole warehouse.
    [[offered, tsf, out_of_hours]] = marts(
        "select sum(offered), 100 * sum(tsf_numerator) / sum(tsf_denominator), "
        "100 * sum(out_of_hours_numerator) / sum(out_of_hours_denominator) "
        "from marts.kpi_telephony_monthly")
    assert rows(saved_results(client, charts["partner_offered"])) == [{"offered": offered}]
    assert rows(saved_results(client, charts["partner_tsf"]))[0]["tsf_pct"] == approx(tsf)
    assert rows(saved_results(client, charts["partner_out_of_hours"]))[0][
        "out_of_hours_pct"] == approx(out_of_hours)


def test_daily_tsf_of_a_partner_month(client, charts, marts):
    partner = marts("select min(partner_code) from marts.kpi_telephony_daily")[0][0]
    period = latest_period(marts, partner)
    shown = {day(row["call_date"]): row["tsf_pct"] for row in rows(filtered_results(
        client, charts["partner_daily_tsf"], partner_code=partner, period=period))}
    expected = dict(marts(
        "select call_date, 100 * sum(tsf_numerator) / nullif(sum(tsf_denominator), 0) "
        "from marts.kpi_telephony_daily where partner_code = ? "
        "and strftime(month, '%Y-%m') = ? group by call_date", partner, period))
    assert len(expected) >= 28
    assert shown == {d: None if v is None else approx(v) for d, v in expected.items()}


def test_volume_by_month_of_year_and_year(client, charts, marts):
    shown = {}
    for row in rows(saved_results(client, charts["partner_volume_yoy"])):
        month_of_year = row.pop("month_of_year")
        shown.update({(month_of_year, year): value for year, value in row.items()
                      if value is not None})
    expected = {(m, y): v for m, y, v in marts(
        "select strftime(month, '%m %b'), cast(year(month) as varchar), sum(offered) "
        "from marts.kpi_telephony_monthly group by all")}
    assert expected
    assert shown == expected


def test_calls_by_weekday_and_hour(client, charts, marts):
    shown = {(row["weekday"], row["call_hour"]): row["calls"]
             for row in rows(saved_results(client, charts["partner_calls_heatmap"]))}
    expected = {(weekday, hour): calls for weekday, hour, calls in marts(
        "select strftime(call_date, '%u %a'), call_hour, count(*) from marts.fct_calls "
        "group by all")}
    assert expected
    assert shown == expected
    assert {weekday for weekday, _ in shown} <= {
        "1 Mon", "2 Tue", "3 Wed", "4 Thu", "5 Fri", "6 Sat", "7 Sun"}


def test_service_lines_with_their_total(client, charts, marts):
    results = saved_results(client, charts["partner_service_lines"])
    shown = {row["service_line_name"]: (row["offered"], row["tsf_pct"])
             for row in rows(results)}
    expected = {name: (offered, approx(tsf)) for name, offered, tsf in marts(
        "select service_line_name, sum(offered), "
        "100 * sum(tsf_numerator) / nullif(sum(tsf_denominator), 0) "
        "from marts.kpi_telephony_daily group by all")}
    assert shown == expected
    # The summary row equals the monthly mart's totals (daily and monthly marts agree).
    [[offered, tsf]] = marts("select sum(offered), 100 * sum(tsf_numerator) / "
                             "sum(tsf_denominator) from marts.kpi_telephony_monthly")
    [total] = results[1]["data"]
    assert total == {"offered": offered, "tsf_pct": approx(tsf)}


def test_target_lines_equal_the_seed_targets(charts):
    with KPI_SEED.open(encoding="utf-8", newline="") as seed:
        targets = {row["kpi_code"]: row["target"] for row in csv.DictReader(seed)}
    files = chart_files()
    with_lines = {}
    for name, config in files.items():
        layers = [layer for layer in config["params"].get("annotation_layers", [])
                  if layer["annotationType"] == "FORMULA"]
        if layers:
            with_lines[name] = layers
    assert set(with_lines) == set(TARGET_LINES)
    for name, kpi in TARGET_LINES.items():
        assert files[name]["params"]["metrics"] == [kpi]
        [layer] = with_lines[name]
        assert float(layer["value"]) == float(targets[kpi]), name
        assert f"{float(targets[kpi]):g}" in layer["name"], name
        # The imported chart draws the same line.
        imported = json.loads(charts[name]["params"])["annotation_layers"]
        assert [float(line["value"]) for line in imported] == [float(targets[kpi])], name


def test_native_filters_only_reach_charts_whose_dataset_has_the_column(
        client, charts, dashboards):
    columns = {}
    for chart in charts.values():
        if chart["datasource_id"] not in columns:
            dataset = client.json(f"/api/v1/dataset/{chart['datasource_id']}")["result"]
            columns[chart["datasource_id"]] = {c["column_name"] for c in dataset["columns"]}
    trends = {"board_tsf_trend", "board_asa_trend", "board_abandon_trend",
              "board_volume_trend", "board_csc_share_trend"}
    peers = {"board_peer_family", "board_peer_hub"}
    unfiltered = {"hub-board": {"Month": trends | peers,
                                "Partner": trends | {"board_league_table", "board_sl_days"}},
                  "partner-report": {"Month": {"partner_volume_yoy", "partner_weekly_offered",
                                               "partner_weekly_kpis"}, "Partner": set()},
                  "service-standards": {"Partner": set(), "Month": {
                      name for name in chart_files() if name.startswith("ss_")
                      and name != "ss_scorecard"}}}
    for slug, dashboard in dashboards.items():
        on_dashboard = {name: chart for name, chart in charts.items() if chart["slug"] == slug}
        ids = {chart["id"]: name for name, chart in on_dashboard.items()}
        for native in dashboard["metadata"]["native_filter_configuration"]:
            column = native["targets"][0]["column"]["name"]
            excluded = {ids[chart_id] for chart_id in native["scope"]["excluded"]}
            in_scope = set(on_dashboard) - excluded
            assert in_scope, native["name"]
            for name in in_scope:
                assert column in columns[on_dashboard[name]["datasource_id"]], (
                    native["name"], name)
            if native["name"] in unfiltered[slug]:
                assert excluded == unfiltered[slug][native["name"]]
            # What it leaves out lacks the column or is excluded on purpose.
            for name in excluded - unfiltered[slug].get(native["name"], set()):
                assert column not in columns[on_dashboard[name]["datasource_id"]], name


@pytest.mark.parametrize("name,scope", [("board_peer_family", "family_"), ("board_peer_hub", "")])
def test_peer_comparison_is_the_partners_value_against_its_peers_quartiles(
        client, charts, dashboards, marts, name, scope):
    board = dashboards["hub-board"]
    kpi = native_filter(board, "KPI")["defaultDataMask"]["filterState"]["value"][0]
    partner_filter = native_filter(board, "Partner")
    assert partner_filter["controlValues"]["defaultToFirstItem"]
    assert partner_filter["targets"][0]["column"]["name"] == "partner_code"
    prefix = "family" if scope else "hub"
    latest_24 = ("date_diff('month', month, (select max(month) from marts.kpi_benchmarks)) "
                 "< 24")
    partners = marts(f"select distinct partner_code from marts.kpi_benchmarks where {latest_24}")
    assert len(partners) >= 4
    for (partner,) in partners:
        shown = {day(row.pop("month")): row for row in rows(filtered_results(
            client, charts[name], partner_code=partner, kpi_name=kpi))}
        expected = {month: {"partner_value": value, f"{prefix}_median": median,
                            f"{prefix}_lower_quartile": lower,
                            f"{prefix}_upper_quartile": upper}
                    for month, value, median, lower, upper in marts(
            f"select month, value, {scope}median, {scope}lower_quartile, "
            f"{scope}upper_quartile from marts.kpi_benchmarks "
            f"where partner_code = ? and kpi_name = ? and {latest_24}", partner, kpi)}
        assert expected, partner
        assert shown == {month: {k: None if v is None else approx(v) for k, v in row.items()}
                         for month, row in expected.items()}, partner
        # the band holds the median
        for row in shown.values():
            if row[f"{prefix}_median"] is not None:
                assert (row[f"{prefix}_lower_quartile"] <= row[f"{prefix}_median"]
                        <= row[f"{prefix}_upper_quartile"])
    # unfiltered (several partners in a month), no statistic is made up: the partner's value
    # is null, never an average
    assert all(row["partner_value"] is None
               for row in rows(saved_results(client, charts[name])))


def test_weekly_table_of_a_partner_marks_partial_weeks(client, charts, marts):
    partner = marts("select min(partner_code) from marts.kpi_telephony_weekly")[0][0]
    shown = rows(filtered_results(client, charts["partner_weekly_kpis"], partner_code=partner))
    expected = marts(
        "select cast(iso_year as varchar) || '-W' || lpad(cast(iso_week as varchar), 2, '0'), "
        "case when is_complete then 'complete week' else 'partial week' end, "
        "week_start_date, calls_total, offered, tsf_pct, asa_seconds, abandon_rate_pct, "
        "weekend_calls, out_of_hours_calls from marts.kpi_telephony_weekly "
        "where partner_code = ? and date_diff('week', week_start_date, "
        "(select max(week_start_date) from marts.kpi_telephony_weekly)) < 26 "
        "order by week_start_date desc", partner)
    assert len(expected) >= 10
    for row in shown:
        row["week_start_date"] = day(row["week_start_date"])
    assert_same_rows(shown, expected)
    assert "partial week" in {row["week_status"] for row in shown}
    by_week = {}
    for row in rows(filtered_results(client, charts["partner_weekly_offered"],
                                     partner_code=partner)):
        by_week[day(row["week_start_date"])] = {
            k: row[k] for k in ("complete week", "partial week") if row.get(k) is not None}
    assert by_week == {r[2]: {r[1]: r[4]} for r in expected}


SERVICE_STANDARDS = ("csc_call_share_pct", "voicemail_in_policy_pct",
                     "voicemail_median_response_hours", "reception_wait_avg_minutes",
                     "reception_seen_within_target_pct", "reception_walkout_pct", "web_visits",
                     "web_poor_rating_pct", "self_service_share_pct")


def test_service_standards_table_says_not_measured_and_suppressed_in_words(client, charts,
                                                                          marts):
    period = marts("select strftime(max(month), '%Y-%m') from marts.kpi_scorecard")[0][0]
    shown = rows(filtered_results(client, charts["ss_scorecard"], period=period))
    expected = marts(
        "select s.partner_code, s.kpi_name, s.value, replace(s.measurement_status, '_', ' '), "
        "s.target, s.rag_status, s.rank_among_partners, 'Q' || b.partner_quartile, "
        "case when b.is_outlier then 'outlier' end, s.hub_value "
        "from marts.kpi_scorecard as s left join marts.kpi_benchmarks as b "
        "using (partner_code, month, kpi_code) where strftime(s.month, '%Y-%m') = ? "
        "and s.segment_code = 'all' and s.kpi_code in (select unnest(?)) "
        "order by s.partner_code, s.kpi_name", period, list(SERVICE_STANDARDS))
    assert {row[1] for row in expected} >= {"Voicemail responded within one working day",
                                            "Reception walk-outs", "Website visits"}
    assert_same_rows(shown, expected)
    for row in shown:  # a value, or the reason there is none: never 0 for a missing figure
        assert (row["value"] is None) == (row["measurement"] != "measured"), row


@pytest.mark.parametrize("name,kpi", [
    ("ss_csc_share", "csc_call_share_pct"), ("ss_voicemail_in_policy", "voicemail_in_policy_pct"),
    ("ss_voicemail_median", "voicemail_median_response_hours"),
    ("ss_reception_wait", "reception_wait_avg_minutes"),
    ("ss_reception_seen", "reception_seen_within_target_pct"),
    ("ss_reception_walkout", "reception_walkout_pct"), ("ss_web_visits", "web_visits"),
    ("ss_web_poor_rating", "web_poor_rating_pct"), ("ss_self_service", "self_service_share_pct")])
def test_service_standard_trends_are_the_scorecard_values_gaps_where_not_shown(
        client, charts, marts, name, kpi):
    """Each partner-month point is the scorecard's value (pooled from its numerator and
    denominator); a suppressed or not measured month has no point."""
    shown = {}
    for row in rows(saved_results(client, charts[name])):
        month = day(row.pop("month"))
        shown.update({(partner, month): value for partner, value in row.items()
                      if value is not None})
    expected = {(partner, month): value for partner, month, value in marts(
        "select partner_code, month, value from marts.kpi_scorecard "
        "where kpi_code = ? and segment_code = 'all' and value is not null and "
        "date_diff('month', month, (select max(month) from marts.kpi_scorecard)) < 24", kpi)}
    assert expected, kpi
    assert shown == {key: approx(float(value)) for key, value in expected.items()}
