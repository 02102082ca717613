"""The board packs on Superset's own server (`/hub-reports/`, dagster_project/dashboards/
reports_route.py), seen in a real browser session: the board reads every pack, a partner user
only its own partner's, nobody unsigned reads anything, and no name outside the packs' patterns
is served. The dashboards link to the route."""

from __future__ import annotations

import datetime as dt

import pytest
import requests

from dagster_project.dashboards.browser import Browser
from dagster_project.dashboards.security import partner_user
from dagster_project.report.pack import write_packs

MONTH = dt.date(2024, 4, 1)  # the session sample's last month (tests/conftest.py SAMPLE_ARGS)


@pytest.fixture(scope="module")
def packs(superset_server):
    hub = superset_server.ss.hub
    result = write_packs(hub.serving_db, hub.reference_dir, superset_server.reports_dir, MONTH,
                         "Test Hub", pdf=False)
    return result


def test_unsigned_requests_are_sent_to_the_login_page(superset_server, packs):
    for path in ("/hub-reports/", f"/hub-reports/{MONTH:%Y-%m}/hub-board-{MONTH:%Y-%m}.html"):
        answer = requests.get(superset_server.url + path, allow_redirects=False, timeout=60)
        assert answer.status_code in (301, 302), path
        assert "/login" in answer.headers["Location"]


def test_the_board_reads_every_pack_and_a_partner_only_its_own(superset_server, packs):
    partner = packs.partners[0]
    others = [p for p in packs.partners if p != partner]
    month = f"{MONTH:%Y-%m}"
    with Browser(superset_server.url) as browser:
        with browser.session("board", superset_server.demo_password) as board:
            board.page.goto(f"{superset_server.url}/hub-reports/")
            listing = board.page.content()
            assert f"hub-board-{month}.html" in listing
            assert all(f"partner-{p}-{month}.html" in listing for p in packs.partners)
            answer = board.context.request.get(
                f"{superset_server.url}/hub-reports/{month}/hub-board-{month}.html")
            assert answer.ok and "Hub board performance report" in answer.text()
        with browser.session(partner_user(partner), superset_server.demo_password) as own:
            own.page.goto(f"{superset_server.url}/hub-reports/")
            listing = own.page.content()
            assert f"partner-{partner}-{month}.html" in listing
            assert "hub-board-" not in listing
            assert not any(f"partner-{p}-" in listing for p in others)
            get = own.context.request.get
            assert get(f"{superset_server.url}/hub-reports/{month}/"
                       f"partner-{partner}-{month}.html").ok
            for name in (f"hub-board-{month}.html", f"partner-{others[0]}-{month}.html",
                         "..%2F..%2Fserving%2Fwarehouse.duckdb", "secret_key"):
                assert get(f"{superset_server.url}/hub-reports/{month}/{name}").status == 404


def test_the_dashboards_link_to_the_packs(admin):
    for slug in ("hub-board", "partner-report"):
        dashboard = admin.json(f"/api/v1/dashboard/{slug}")["result"]
        assert "(/hub-reports/)" in dashboard["position_json"], slug
