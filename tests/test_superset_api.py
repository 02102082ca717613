"""Superset serves the provisioned dashboards: every chart returns data, each role sees its own.

Runs against the session's real Superset (`superset_server`), provisioned from the repository's
assets over the sample warehouse. Dashboards are discovered through the API, so a dashboard added
to `superset/assets/dashboards/` is covered without editing this file.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pytest

from tests.conftest import PARTNERS_DIR

BOARD, PARTNER_REPORT, DATA_QUALITY = "hub-board", "partner-report", "data-quality"
CHANNELS, CX = "channels-cost", "customer-experience"
PROVISIONED = {BOARD, PARTNER_REPORT, DATA_QUALITY, CHANNELS, CX}
PARTNER_CODES = sorted(path.stem for path in PARTNERS_DIR.glob("*.yml"))

# Who is granted which of the provisioned dashboards (the security design, written out).
VISIBLE = {
    "board": PROVISIONED,
    "explorer": PROVISIONED,
    **{f"partner_{code}": {PARTNER_REPORT, DATA_QUALITY, CHANNELS, CX} for code in PARTNER_CODES},
}


def chart_result_problem(answer) -> str | None:
    """Why a chart-data answer is not a successful, non-empty result (None when it is)."""
    if answer.status_code != 200:
        return f"HTTP {answer.status_code}: {answer.text[:300]}"
    results = answer.json().get("result") or []
    if not results:
        return "no result"
    for result in results:
        if result.get("error") or result.get("status") not in (None, "success"):
            return f"status {result.get('status')}: {result.get('error')}"
    if not any(result.get("data") for result in results):
        return "no rows"
    return None


def test_the_provisioned_dashboards_exist(admin):
    dashboards = {d["slug"]: d for d in admin.dashboards()}
    assert set(dashboards) >= PROVISIONED, sorted(dashboards)
    assert dashboards[DATA_QUALITY]["dashboard_title"] == "Data quality and loads"
    assert all(dashboards[slug]["published"] for slug in PROVISIONED)


def test_every_chart_of_every_dashboard_returns_data(admin):
    dashboards = admin.dashboards()
    assert dashboards
    problems: list[str] = []
    checked = 0
    for dashboard in dashboards:
        charts = admin.dashboard_charts(dashboard["id"])
        if not charts:
            problems.append(f"{dashboard['slug']}: no charts")
        for chart in charts:
            checked += 1
            problem = chart_result_problem(admin.chart_data(chart["id"]))
            if problem:
                problems.append(f"{dashboard['slug']} / {chart['slice_name']} "
                                f"(chart {chart['id']}): {problem}")
    assert problems == []
    assert checked >= 3


def test_data_quality_dashboard_has_its_charts(admin):
    names = {c["slice_name"] for c in admin.dashboard_charts(DATA_QUALITY)}
    assert {"Deliveries per partner and month", "Freshness - who has not delivered",
            "Quarantined and rejected rows by reason"} <= names


def test_data_quality_partner_filter(admin):
    dashboard = admin.json(f"/api/v1/dashboard/{DATA_QUALITY}")["result"]
    filters = json.loads(dashboard["json_metadata"])["native_filter_configuration"]
    partner = [f for f in filters if f["name"] == "Partner"]
    assert len(partner) == 1
    assert partner[0]["targets"][0]["column"]["name"] == "partner_code"


def test_freshness_shows_who_is_behind_and_who_is_not_expected(admin, superset_server):
    """The chart shows marts.kpi_freshness: PhoneNow, a closed 2021 data set configured with
    expects_deliveries false, is "not expected" (never late); the generated partners, which
    all delivered up to the sample's last month, are up to date."""
    chart = next(c for c in admin.dashboard_charts(DATA_QUALITY)
                 if c["slice_name"].startswith("Freshness"))
    rows: list[dict[str, Any]] = admin.chart_data(chart["id"]).json()["result"][0]["data"]
    status = {row["partner_code"]: row["freshness_status"] for row in rows}
    assert set(status) == set(PARTNER_CODES)
    assert status["phonenow"] == "not expected"
    assert {code for code, s in status.items() if s != "up to date"} == {"phonenow"}
    con = duckdb.connect(str(superset_server.ss.hub.serving_db), read_only=True)
    try:
        marts = dict(con.execute("select partner_code, months_behind "
                                 "from marts.kpi_freshness").fetchall())
    finally:
        con.close()
    assert {row["partner_code"]: row["months_behind"] for row in rows} == marts


@pytest.mark.parametrize("username", sorted(VISIBLE))
def test_dashboards_visible_per_role(superset_server, username):
    client = superset_server.client(username)
    listed = {d["slug"] for d in client.dashboards()}
    assert listed & PROVISIONED == VISIBLE[username]
    for slug in sorted(PROVISIONED):
        status = client.get(f"/api/v1/dashboard/{slug}").status_code
        if slug in VISIBLE[username]:
            assert status == 200, slug
        else:
            assert status in (403, 404), (slug, status)


def _action_log(superset_server, username: str) -> list[tuple[str, str | None]]:
    """(action, json) of the user's rows in Superset's action log, in the order written."""
    import sqlite3

    con = sqlite3.connect(f"file:{superset_server.ss.metadata_db}?mode=ro", uri=True)
    try:
        return con.execute("select action, json from logs where user_id = "
                           "(select id from ab_user where username = ?) order by id",
                           (username,)).fetchall()
    finally:
        con.close()


def test_the_action_log_records_every_event_of_a_chart_query(superset_server):
    """Superset's action log keeps its rows, though a request's events are written together
    when it ends (dagster_project/dashboards/action_log.py): by the time the answer arrives,
    one row for the query's endpoint (naming the chart), its SQL, its data frame and the rest,
    each event once."""
    client = superset_server.client("board")
    chart = client.dashboard_charts(BOARD)[0]["id"]
    before = len(_action_log(superset_server, "board"))
    assert chart_result_problem(client.chart_data(chart)) is None
    new = _action_log(superset_server, "board")[before:]
    actions = [action for action, _ in new]
    assert {"ChartDataRestApi.data", "_get_data_response", "ChartDataRestApi.json_dumps",
            "execute_sql", "load_into_dataframe"} <= set(actions), actions
    assert actions.count("ChartDataRestApi.data") == 1, actions
    assert len(actions) == len(set(actions)) + actions.count("execute_sql") - 1, actions
    data = next(text for action, text in new if action == "ChartDataRestApi.data")
    assert json.loads(data)["pk"] == chart
