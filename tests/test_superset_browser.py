"""Every dashboard renders in a real browser (Debian's Chromium driven by Playwright): each chart
draws something, none shows an error or "No results", and as many charts render as the
dashboard has. As admin (every dashboard) and as a partner user (row-level security applies).

The browser code is the one `hub screenshots` uses (dagster_project/dashboards/browser.py);
requests to any host other than the Superset server are blocked.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dagster_project.dashboards.browser import Browser, BrowserError
from dagster_project.settings import REPO_ROOT

PARTNER_USER = "partner_eastbrook"


def _asset_slugs() -> set[str]:
    folder = REPO_ROOT / "superset" / "assets" / "dashboards"
    return {yaml.safe_load(path.read_text(encoding="utf-8"))["slug"]
            for path in sorted(folder.glob("*.yaml"))}


@pytest.fixture(scope="module")
def browser(superset_server):
    with Browser(superset_server.url) as running:
        yield running


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _scripts_served(superset_server) -> int:
    """Superset's scripts the server has sent so far (its access log)."""
    return sum(1 for line in superset_server.ss.log_file.read_text(errors="replace").splitlines()
               if '"GET /static/assets/' in line and ".js " in line)


def _check_dashboards(superset_server, browser: Browser, username: str,
                      screenshots: Path | None = None, reopen_first: bool = False) -> list[str]:
    """Open every dashboard the API lists for `username`; return one message per problem.
    With `screenshots`, also write each dashboard's PNG there (what `hub screenshots` does).
    With `reopen_first`, open the first dashboard once more at the end: the browser's HTTP
    cache is on after login (no Playwright route: it would turn the cache off, and every
    dashboard would fetch and Superset compress its scripts again), so the server must send
    no script for it (its access log says)."""
    client = superset_server.client(username)
    dashboards = client.dashboards()
    assert dashboards, f"the API lists no dashboards for {username}"
    password = (superset_server.admin_password if username == "admin"
                else superset_server.demo_password)
    problems = []
    with browser.session(username, password) as session:
        for dashboard in sorted(dashboards, key=lambda d: d["slug"]):
            expected = len(client.dashboard_charts(dashboard["id"]))
            view = session.open_dashboard(dashboard["slug"])
            problems += [f"as {username}, {message}" for message in view.problems(expected)]
            if screenshots is not None:
                path = session.screenshot(screenshots / f"{dashboard['slug']}.png")
                width, height = _png_size(path)
                if width != 1600 or height < 600:
                    problems.append(f"screenshot of {dashboard['slug']!r} is {width}x{height}")
        if reopen_first:
            first, before = min(d["slug"] for d in dashboards), _scripts_served(superset_server)
            session.open_dashboard(first, all_tabs=False)
            if (served := _scripts_served(superset_server) - before) != 0:
                problems.append(f"{first!r} opened again: the server sent {served} scripts "
                                "(the browser's HTTP cache is off)")
    return problems


def test_admin_sees_every_provisioned_dashboard(superset_server):
    listed = {d["slug"] for d in superset_server.client("admin").dashboards()}
    assert _asset_slugs() <= listed, f"dashboards in superset/assets missing from Superset: " \
                                     f"{sorted(_asset_slugs() - listed)}"


def test_every_dashboard_renders_for_admin(superset_server, browser, tmp_path):
    problems = _check_dashboards(superset_server, browser, "admin", screenshots=tmp_path,
                                 reopen_first=True)
    assert not problems, "\n".join(problems)


def test_partner_dashboards_render_for_partner(superset_server, browser):
    listed = {d["slug"] for d in superset_server.client(PARTNER_USER).dashboards()}
    wanted = {"partner-report", "data-quality", "channels-cost", "customer-experience",
              "service-standards"}
    assert wanted <= listed, f"{PARTNER_USER} does not see {sorted(wanted - listed)}: {listed}"
    problems = _check_dashboards(superset_server, browser, PARTNER_USER)
    assert not problems, "\n".join(problems)


def test_wrong_password_is_refused_at_login(browser):
    with pytest.raises(BrowserError, match=r"could not log in .* as 'admin'"):
        browser.session("admin", "not-the-password")


def test_no_host_name_but_the_servers_resolves():
    assert Browser("http://127.0.0.1:8088").chromium_args()[-1] == (
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1")
    assert Browser("").chromium_args()[-1] == "--host-resolver-rules=MAP * ~NOTFOUND"
