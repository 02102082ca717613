"""The all-channel contact (CRM) dashboards show the marts' figures, to the right people.

`channels-cost` and `customer-experience` (superset/assets/charts/cc_*.yaml and cx_*.yaml), the
CRM KPIs on the hub board's league table and the partner report's contact headline KPIs. Each
chart's saved query is run on the session's Superset over the sample warehouse (4 months), with
the filters the dashboard adds where it narrows the chart, and compared with the marts read
directly with DuckDB: pooled over partners (and channels) where the chart pools, equal to
`kpi_scorecard`'s partner values and pooled hub values where it shows them. Then row-level
security: a partner user sees both dashboards, and only its own rows in every chart on them
with the dashboard's filters applied (each chart's saved query, unfiltered, is checked for every
partner in tests/test_superset_security.py).
"""

from __future__ import annotations

import csv
import json
from typing import Any

import pytest

from tests.superset_client import SupersetClient
from tests.test_superset_figures import (
    KPI_SEED,
    approx,
    chart_files,
    day,
    filtered_results,
    rows,
    saved_results,
)
from tests.test_superset_figures import (
    dashboard_charts as figures_dashboard_charts,
)
from tests.test_superset_security import PARTNER_CODES, codes_in, rows_of

CRM_DASHBOARDS = {"channels-cost": "cc_", "customer-experience": "cx_"}
LATEST_24 = ("date_diff('month', month, (select max(month) from marts.kpi_contact_monthly))"
             " < 24")


def crm_chart_files() -> dict[str, dict[str, Any]]:
    return chart_files(CRM_DASHBOARDS)


def dashboard_charts(client: SupersetClient, slug: str) -> dict[str, dict[str, Any]]:
    """The charts of a dashboard as `client` may fetch them, by chart file name."""
    return figures_dashboard_charts(client, slug, crm_chart_files() | chart_files())


@pytest.fixture(scope="module")
def charts(client) -> dict[str, dict[str, Any]]:
    found = {}
    for slug in CRM_DASHBOARDS:
        found.update(dashboard_charts(client, slug))
    return found


@pytest.fixture(scope="module")
def period(marts) -> str:
    """The month the dashboards default to: the latest month with contacts."""
    return marts("select strftime(max(month), '%Y-%m') from marts.kpi_contact_monthly")[0][0]


def scorecard(marts, kpi: str, period: str, segment: str = "all") -> dict[str, tuple]:
    """{partner: (value, hub_value)} of a KPI, month and segment."""
    return {partner: (value, hub) for partner, value, hub in marts(
        "select partner_code, value, hub_value from marts.kpi_scorecard where kpi_code = ? "
        "and segment_code = ? and strftime(month, '%Y-%m') = ?", kpi, segment, period)}


def hub_value(marts, kpi: str, period: str, segment: str = "all") -> float:
    values = {hub for _, hub in scorecard(marts, kpi, period, segment).values()}
    assert len(values) == 1, (kpi, segment, values)
    return values.pop()


def opt(value: Any) -> Any:
    return None if value is None else approx(value)


# --- what is on the dashboards ------------------------------------------------------------


def test_dashboards_hold_exactly_their_chart_files(client, charts):
    files = crm_chart_files()
    titles = {slug: client.json(f"/api/v1/dashboard/{slug}")["result"]["dashboard_title"]
              for slug in CRM_DASHBOARDS}
    assert titles == {"channels-cost": "Channels and cost to serve",
                      "customer-experience": "Customer experience"}
    for slug, prefix in CRM_DASHBOARDS.items():
        on_dashboard = sorted(dashboard_charts(client, slug))
        assert on_dashboard == sorted(name for name in files if name.startswith(prefix))


def test_month_filter_defaults_to_the_latest_month_and_partner_is_optional(client):
    for slug in CRM_DASHBOARDS:
        metadata = json.loads(client.json(f"/api/v1/dashboard/{slug}")["result"]["json_metadata"])
        filters = {f["name"]: f for f in metadata["native_filter_configuration"]}
        month, partner = filters["Month"], filters["Partner"]
        assert month["targets"][0]["column"]["name"] == "period"
        assert month["requiredFirst"] and month["controlValues"]["defaultToFirstItem"]
        assert not month["controlValues"]["sortAscending"]
        assert month["controlValues"]["enableEmptyFilter"]
        assert partner["targets"][0]["column"]["name"] == "partner_code"
        assert not partner["controlValues"]["enableEmptyFilter"]  # empty = the whole hub
        assert month["cascadeParentIds"] == [partner["id"]]


@pytest.mark.parametrize("username", ["admin", "board"])
def test_every_chart_returns_data(superset_server, marts, period, username):
    client = superset_server.client(username)
    for slug in CRM_DASHBOARDS:
        for name, chart in dashboard_charts(client, slug).items():
            for results in (saved_results(client, chart),
                            filtered_results(client, chart, period=period)):
                for result in results:
                    assert not result.get("error"), (username, name)
                    assert result["rowcount"] > 0, (username, name)


def test_target_line_is_the_fpoc_target_of_the_seed(charts):
    with KPI_SEED.open(encoding="utf-8", newline="") as seed:
        target = float(next(r for r in csv.DictReader(seed) if r["kpi_code"] == "fpoc_pct")[
            "target"])
    assert target == 80
    imported = json.loads(charts["cx_fpoc_trend"]["params"])["annotation_layers"]
    assert [float(layer["value"]) for layer in imported] == [target]


# --- channels and cost to serve -----------------------------------------------------------


def test_channel_mix_is_each_channels_pooled_share_over_the_latest_24_months(
        client, charts, marts):
    shown = {}
    for row in rows(saved_results(client, charts["cc_channel_mix"])):
        month = day(row.pop("month"))
        shown.update({(month, channel): share for channel, share in row.items()
                      if share is not None})
    expected = {(month, channel): approx(share) for month, channel, share in marts(
        "select month, channel_code, sum(contacts) / sum(sum(contacts)) over (partition by month)"
        f" from marts.kpi_contact_monthly where {LATEST_24} group by month, channel_code")}
    assert len({channel for _, channel in expected}) >= 4
    assert shown == expected
    # For one partner the pooled share is the scorecard's channel mix.
    partner = PARTNER_CODES[0]
    narrowed = {}
    for row in rows(filtered_results(client, charts["cc_channel_mix"], partner_code=partner)):
        month = day(row.pop("month"))
        narrowed.update({(month, channel): 100 * share for channel, share in row.items()
                         if share is not None})
    mix = {(month, channel): approx(value) for month, channel, value in marts(
        "select month, segment_code, value from marts.kpi_scorecard where partner_code = ? "
        "and kpi_code = 'channel_mix_pct'", partner)}
    assert narrowed == mix


def test_cost_per_contact_by_channel_of_the_month(client, charts, marts, period):
    shown = {row["channel_code"]: row["cost_per_contact_gbp"] for row in rows(
        filtered_results(client, charts["cc_cost_per_contact_by_channel"], period=period))}
    expected = {channel: approx(cost) for channel, cost in marts(
        "select channel_code, sum(cost_gbp) / sum(contacts) from marts.kpi_contact_monthly "
        "where strftime(month, '%Y-%m') = ? group by all", period)}
    assert len(expected) >= 4
    assert shown == expected
    # ... which is the scorecard's pooled hub value of each channel.
    assert shown == {channel: approx(hub_value(marts, "cost_per_contact_gbp", period, channel))
                     for channel in expected}


def test_cost_to_serve_by_channel_with_the_total(client, charts, marts, period):
    results = filtered_results(client, charts["cc_cost_by_channel"], period=period)
    shown = {row["channel_code"]: (row["contacts"], row["cost_to_serve_gbp"],
                                   row["cost_per_contact_gbp"]) for row in rows(results)}
    expected = {channel: (contacts, approx(cost), approx(cost / contacts))
                for channel, contacts, cost in marts(
                    "select channel_code, sum(contacts), sum(cost_gbp) "
                    "from marts.kpi_contact_monthly where strftime(month, '%Y-%m') = ? "
                    "group by all", period)}
    assert shown == expected
    [total] = results[1]["data"]
    assert total["cost_to_serve_gbp"] == approx(hub_value(marts, "cost_to_serve_gbp", period))
    assert total["cost_per_contact_gbp"] == approx(
        hub_value(marts, "cost_per_contact_gbp", period))
    assert total["contacts"] == hub_value(marts, "contacts", period)


def test_cost_league_table_is_the_scorecard_with_the_hub_figure(client, charts, marts, period):
    results = filtered_results(client, charts["cc_league_table"], period=period)
    shown = [(row["partner_code"], row["cost_per_contact_gbp"], row["web_share_pct"],
              row["contacts"], row["cost_to_serve_gbp"]) for row in rows(results)]
    cost = scorecard(marts, "cost_per_contact_gbp", period)
    web = scorecard(marts, "channel_mix_pct", period, "web")
    contacts = scorecard(marts, "contacts", period)
    serve = scorecard(marts, "cost_to_serve_gbp", period)
    assert len(cost) > 1
    expected = sorted(((p, approx(cost[p][0]), approx(web.get(p, (0.0,))[0]),
                        contacts[p][0], approx(serve[p][0])) for p in cost),
                      key=lambda r: r[1].expected)
    assert shown == expected
    [total] = results[1]["data"]
    assert total["cost_per_contact_gbp"] == approx(hub_value(marts, "cost_per_contact_gbp",
                                                             period))
    assert total["web_share_pct"] == approx(hub_value(marts, "channel_mix_pct", period, "web"))


def test_channel_shift_is_the_scorecards_per_partner_and_channel(client, charts, marts, period):
    """Null in a sample without the same month last year: the cells are then empty."""
    shown = {(row["partner_code"], row["segment_code"]): row["channel_shift_pts"] for row in
             rows(filtered_results(client, charts["cc_channel_shift"], period=period))}
    expected = {(p, channel): opt(value) for p, channel, value in marts(
        "select partner_code, segment_code, value from marts.kpi_scorecard "
        "where kpi_code = 'channel_shift_pts' and strftime(month, '%Y-%m') = ?", period)}
    assert expected
    assert shown == expected


@pytest.mark.parametrize("name,metric,kpi,segment", [
    ("cc_contacts", "contacts", "contacts", "all"),
    ("cc_cost_per_contact", "cost_per_contact_gbp", "cost_per_contact_gbp", "all"),
    ("cc_web_share", "web_share_pct", "channel_mix_pct", "web"),
    ("cx_avoidable", "avoidable_contact_pct", "avoidable_contact_pct", "all"),
    ("cx_csat", "csat_pct", "csat_pct", "all"),
    ("cx_csat_response_rate", "csat_response_rate_pct", "csat_response_rate_pct", "all"),
    ("cx_complaints_per_1000", "complaints_per_1000", "complaints_per_1000", "all"),
    ("cx_complaints_in_policy", "sc_complaints_in_policy_pct", "complaints_in_policy_pct",
     "all"),
    ("cx_repeat_complainants", "sc_repeat_complainants", "repeat_complainants", "all"),
])
def test_big_numbers_are_the_hub_figure_or_the_partners(client, charts, marts, period,
                                                          name, metric, kpi, segment):
    [row] = rows(filtered_results(client, charts[name], period=period))
    assert row[metric] == opt(hub_value(marts, kpi, period, segment)), name
    for partner, (value, _) in scorecard(marts, kpi, period, segment).items():
        [row] = rows(filtered_results(client, charts[name], period=period,
                                      partner_code=partner))
        assert row[metric] == opt(value), (name, partner)


# --- customer experience ------------------------------------------------------------------


def test_fpoc_trend_with_repeat_contact_pooled_per_month(client, charts, marts):
    shown = {day(row["month"]): (row["fpoc_pct"], row["repeat_contact_7d_pct"])
             for row in rows(saved_results(client, charts["cx_fpoc_trend"]))}
    expected = {month: (opt(fpoc), opt(repeat)) for month, fpoc, repeat in marts(
        "select month, 100 * sum(fpoc_resolved) / nullif(sum(fpoc_flagged), 0), "
        "100 * sum(repeated_7d) / nullif(sum(repeat_assessable), 0) "
        f"from marts.kpi_contact_monthly where {LATEST_24} group by all")}
    assert len(expected) >= 3
    assert shown == expected
    # The pooled figure of a month is the scorecard's hub value; one partner's is its value.
    for month, (fpoc, _) in shown.items():
        assert fpoc == opt(hub_value(marts, "fpoc_pct", month.strftime("%Y-%m")))
    partner = PARTNER_CODES[-1]
    narrowed = {day(row["month"]): row["fpoc_pct"] for row in rows(
        filtered_results(client, charts["cx_fpoc_trend"], partner_code=partner))}
    assert narrowed == {month: opt(value) for month, value in marts(
        "select month, value from marts.kpi_scorecard where partner_code = ? "
        "and kpi_code = 'fpoc_pct' and segment_code = 'all'", partner)}


def test_avoidable_contact_by_category(client, charts, marts, period):
    shown = {row["segment_code"]: row["segment_pct"] for row in rows(
        filtered_results(client, charts["cx_avoidable_by_category"], period=period))}
    categories = {"progress_chasing", "service_failure", "poor_communication",
                  "poor_signposting"}
    assert set(shown) == categories
    assert shown == {c: approx(hub_value(marts, "avoidable_contact_pct", period, c))
                     for c in categories}
    assert sum(shown.values()) == approx(hub_value(marts, "avoidable_contact_pct", period))


def test_cx_league_table_is_the_scorecard_with_the_hub_figure(client, charts, marts, period):
    columns = {"sc_fpoc_pct": "fpoc_pct", "sc_repeat_contact_7d_pct": "repeat_contact_7d_pct",
               "sc_avoidable_contact_pct": "avoidable_contact_pct", "sc_csat_pct": "csat_pct",
               "sc_complaints_per_1000": "complaints_per_1000",
               "sc_complaints_in_policy_pct": "complaints_in_policy_pct",
               "sc_repeat_complainants": "repeat_complainants"}
    results = filtered_results(client, charts["cx_league_table"], period=period)
    shown = {row["partner_code"]: row for row in rows(results)}
    assert len(shown) > 1
    for metric, kpi in columns.items():
        values = scorecard(marts, kpi, period)
        assert {p: row[metric] for p, row in shown.items()} == {
            p: opt(value) for p, (value, _) in values.items()}, kpi
        [total] = results[1]["data"]
        assert total[metric] == opt(hub_value(marts, kpi, period)), kpi
    fpoc = [row["sc_fpoc_pct"] for row in rows(results)]
    assert fpoc == sorted(fpoc, key=lambda v: (v is None, -(v or 0)))


# --- CRM KPIs on the hub board and the partner report -------------------------------------


@pytest.fixture(scope="module")
def board_charts(client) -> dict[str, dict[str, Any]]:
    return dashboard_charts(client, "hub-board") | dashboard_charts(client, "partner-report")


@pytest.mark.parametrize("kpi", ["First point of contact resolution", "Cost per contact",
                                 "Complaints answered in policy", "Telephone service factor"])
def test_hub_board_league_table_ranks_partner_level_rows(client, board_charts, marts, period,
                                                         kpi):
    shown = rows(filtered_results(client, board_charts["board_league_table"], period=period,
                                  kpi_name=kpi))
    expected = marts(
        "select s.rank_among_partners, 'Q' || b.partner_quartile, "
        "case when b.is_outlier then 'outlier' end, s.partner_code, s.value, "
        "replace(s.measurement_status, '_', ' '), s.target, s.rag_status, s.hub_value "
        "from marts.kpi_scorecard as s left join marts.kpi_benchmarks as b "
        "using (partner_code, month, kpi_code) "
        "where strftime(s.month, '%Y-%m') = ? and s.kpi_name = ? "
        "and s.segment_code = 'all' order by s.rank_among_partners, s.partner_code",
        period, kpi)
    assert len(expected) > 1
    assert [tuple(r.values()) for r in shown] == [
        tuple(opt(v) if isinstance(v, float | int) else v for v in row) for row in expected]
    # Segment rows (per channel) never double a partner up.
    assert len({r["partner_code"] for r in shown}) == len(shown)


def test_hub_board_kpi_selector_offers_partner_level_kpis_only(client):
    metadata = json.loads(client.json("/api/v1/dashboard/hub-board")["result"]["json_metadata"])
    [kpi] = [f for f in metadata["native_filter_configuration"] if f["name"] == "KPI"]
    assert [(f["subject"], f["operator"], f["comparator"]) for f in kpi["adhoc_filters"]] == [
        ("segment_code", "==", "all")]


def test_partner_report_contact_headline_kpis(client, board_charts, marts, period):
    partner = PARTNER_CODES[0]
    shown = rows(filtered_results(client, board_charts["partner_crm_headline_kpis"],
                                  partner_code=partner, period=period))
    expected = marts(
        "select kpi_name, value, replace(measurement_status, '_', ' '), target, rag_status, "
        "hub_value, rank_among_partners "
        "from marts.kpi_scorecard where partner_code = ? and strftime(month, '%Y-%m') = ? "
        "and segment_code = 'all' and kpi_code in ('fpoc_pct', 'avoidable_contact_pct', "
        "'csat_pct', 'complaints_in_policy_pct', 'cost_per_contact_gbp') order by kpi_name",
        partner, period)
    assert len(expected) == 5
    assert [tuple(r.values()) for r in shown] == [
        tuple(opt(v) if isinstance(v, float | int) else v for v in row) for row in expected]
    fpoc = next(r for r in shown if r["kpi_name"] == "First point of contact resolution")
    assert fpoc["target"] == 80 and fpoc["rag_status"] in ("green", "amber", "red")
    # The telephony table keeps to telephony KPIs.
    telephony = rows(filtered_results(client, board_charts["partner_headline_kpis"],
                                      partner_code=partner, period=period))
    assert "Telephone service factor" in {r["kpi_name"] for r in telephony}
    assert not {r["kpi_name"] for r in telephony} & {r["kpi_name"] for r in shown}


# --- who sees what ------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["board", *(f"partner_{c}" for c in PARTNER_CODES)])
def test_board_and_partners_open_both_dashboards(superset_server, username):
    client = superset_server.client(username)
    listed = {d["slug"] for d in client.dashboards()}
    assert set(CRM_DASHBOARDS) <= listed
    for slug in CRM_DASHBOARDS:
        assert client.get(f"/api/v1/dashboard/{slug}").status_code == 200


@pytest.mark.parametrize("code", PARTNER_CODES)
def test_partner_sees_only_its_rows_in_every_chart(superset_server, marts, period, code):
    client = superset_server.client(f"partner_{code}")
    own = 0
    for slug in CRM_DASHBOARDS:
        charts = dashboard_charts(client, slug)
        assert len(charts) == len([n for n in crm_chart_files()
                                   if n.startswith(CRM_DASHBOARDS[slug])])
        for name, chart in charts.items():
            found = [r for res in filtered_results(client, chart, period=period)
                     for r in res["data"]]
            codes = codes_in(found)
            assert codes <= {code}, (slug, name, codes)
            own += bool(codes)
    has_contacts = code in scorecard(marts, "contacts", period)
    assert own > 0 or not has_contacts  # a partner without a CRM sees empty charts
    # The league tables hold the partner's own row and a total equal to it.
    admin = superset_server.client("admin")
    chart = dashboard_charts(admin, "channels-cost")["cc_league_table"]
    mine = filtered_results(client, chart, period=period)
    if has_contacts:
        [row] = mine[0]["data"]
        assert row["partner_code"] == code
        [total] = mine[1]["data"]
        assert total["cost_per_contact_gbp"] == approx(row["cost_per_contact_gbp"])
    else:
        assert mine[0]["data"] == []


@pytest.mark.parametrize("code", PARTNER_CODES)
def test_partner_dataset_queries_return_only_their_rows(superset_server, marts, code):
    client = superset_server.client(f"partner_{code}")
    admin = superset_server.client("admin")
    count = {"expressionType": "SQL", "sqlExpression": "count(*)", "label": "n_rows"}
    datasets = {d["table_name"]: d["id"] for d in admin.datasets()}
    for table in ("kpi_contact_monthly", "kpi_scorecard"):
        found = {r["partner_code"] for r in rows_of(
            client.query(datasets[table], ["partner_code"], [count]))}
        present = {p for p, in marts(f"select distinct partner_code from marts.{table}")}
        assert found == ({code} & present), table


def test_no_customer_or_contact_level_dataset(client):
    tables = {d["table_name"] for d in client.datasets()}
    assert "kpi_contact_monthly" in tables
    assert not tables & {"dim_customer", "fct_contacts", "fct_complaints", "fct_satisfaction"}
