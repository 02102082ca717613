"""Drive Debian's Chromium with Playwright against a Superset server: log in, open a dashboard,
wait until every chart has rendered, report each chart's state, take a screenshot.

Shared by `hub screenshots`, the board packs' PDF printing (report/render.py, with `new_page`
on local files) and tests/test_superset_browser.py. Playwright is imported only when a browser
starts; its own browser downloads are never used: the browser is
the system's `/usr/bin/chromium` (`make browser` installs it), or `HUB_CHROMIUM`. Every request
to a host other than the Superset server is blocked (Superset asks for web fonts and a
telemetry pixel), so a machine without internet access renders the same pages: Chromium
resolves no other host name (`--host-resolver-rules`), which leaves its HTTP cache on (a
Playwright route would turn it off for the whole context: every dashboard would fetch and
Superset compress its 2.4 MB of scripts again).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run")
WIDTH = 1600
# What Superset's login page shows after a refused login.
INVALID_LOGIN = "Invalid username or password"
MAX_HEIGHT = 12000
# Where Superset's frontend logs usage events (never forwarded: see Browser.session).
EVENT_LOG_PATH = "/superset/log/"
# Where a dashboard's charts fetch their data: a chart's state is final once its request ended.
CHART_DATA_PATHS = ("/api/v1/chart/data", "/superset/explore_json")

# One entry per visible chart holder (markdown blocks share the holder's data-test, but only
# charts carry the dashboard-chart-id-<id> class): its chart and what it shows. Errors are
# checked first (an error alert has icons), then loading (no chart body yet, or a spinner),
# then Superset's empty state, then something drawn: canvas (ECharts), svg, table, or text
# (Big Number).
_CHART_STATES_JS = """
() => Array.from(document.querySelectorAll(
    '[data-test="dashboard-component-chart-holder"][class*="dashboard-chart-id-"]'))
  .filter(h => h.getClientRects().length > 0)
  .map(h => {
    const g = h.querySelector('[data-test="chart-grid-component"]');
    const title = h.querySelector('[data-test="editable-title"]');
    const idClass = Array.from(h.classList).find(c => c.startsWith('dashboard-chart-id-'));
    const info = {
      id: g ? g.getAttribute('data-test-chart-id') : idClass.slice('dashboard-chart-id-'.length),
      name: (g && g.getAttribute('data-test-chart-name')) || (title ? title.innerText : ''),
      viz: g ? g.getAttribute('data-test-viz-type') : null,
    };
    const text = h.innerText || '';
    const alert = h.querySelector('.ant-alert-error, .ant-alert-warning, [role="alert"]');
    if (alert || /Unexpected error/i.test(text)) {
      return {...info, state: 'error', message: (alert ? alert.innerText : text).trim()};
    }
    const body = h.querySelector('[data-test="slice-container"]');
    if (!body || h.querySelector('[data-test="loading-indicator"], .loading')) {
      return {...info, state: 'loading', message: ''};
    }
    const bodyText = (body.innerText || '').trim();
    if (body.querySelector('.ant-empty') || /No results were returned/i.test(bodyText)) {
      return {...info, state: 'empty', message: bodyText};
    }
    const drawn = body.querySelector('canvas, svg, table') !== null || bodyText.length > 0;
    return {...info, state: drawn ? 'rendered' : 'loading', message: ''};
  })
"""

# Tabs of the dashboard layout (antd): the key is the layout component id, e.g. TAB-abc.
_TABS_JS = """
() => Array.from(document.querySelectorAll(
    '[data-test="dashboard-component-tabs"] [role="tab"]'))
  .filter(t => t.getClientRects().length > 0)
  .map(t => {
    const node = t.closest('[data-node-key]');
    return {key: node ? node.getAttribute('data-node-key') : t.id, label: t.innerText.trim(),
            active: t.getAttribute('aria-selected') === 'true'};
  })
"""

# Bottom edge (page pixels) of the dashboard's visible layout components, 0 if there are none.
_CONTENT_BOTTOM_JS = """
() => Math.ceil(Math.max(0, ...Array.from(document.querySelectorAll('.dashboard-component'))
  .filter(e => e.getClientRects().length > 0)
  .map(e => e.getBoundingClientRect().bottom + window.scrollY)))
"""


class BrowserError(RuntimeError):
    """The browser could not start, log in or open a page; the message says what to do."""


@dataclass(frozen=True)
class ChartState:
    """What one chart of a dashboard shows: rendered, error, empty, or still loading."""

    chart_id: int | None
    name: str
    viz_type: str | None
    state: str
    message: str = ""

    def describe(self) -> str:
        label = f"chart {self.name!r} (id {self.chart_id}, {self.viz_type})"
        if self.state == "error":
            return f"{label} shows an error: {' '.join(self.message.split())[:400]}"
        if self.state == "empty":
            return f"{label} shows no data: {' '.join(self.message.split())[:200]}"
        if self.state == "loading":
            return f"{label} did not finish rendering"
        return f"{label} rendered"


@dataclass(frozen=True)
class DashboardView:
    """The charts of one dashboard as the browser showed them (across all of its tabs)."""

    slug: str
    charts: tuple[ChartState, ...]
    seconds: float

    @property
    def rendered(self) -> list[ChartState]:
        return [c for c in self.charts if c.state == "rendered"]

    def problems(self, expected_charts: int | None = None) -> list[str]:
        """One message per chart that errored, is empty or never rendered, plus a count check."""
        where = f"dashboard {self.slug!r}"
        messages = [f"{where}: {c.describe()}" for c in self.charts if c.state != "rendered"]
        if expected_charts is not None and len(self.rendered) != expected_charts:
            messages.append(f"{where}: {len(self.rendered)} charts rendered, the dashboard has "
                            f"{expected_charts} (rendered: "
                            f"{', '.join(repr(c.name) for c in self.rendered) or 'none'})")
        return messages


def chromium_path() -> str:
    return os.environ.get("HUB_CHROMIUM", CHROMIUM)


class Browser:
    """One headless Chromium for many sessions; use as a context manager."""

    def __init__(self, base_url: str, executable: str | None = None, width: int = WIDTH):
        self.base_url = base_url.rstrip("/")
        self.executable = executable or chromium_path()
        self.width = width
        self._playwright: Any = None
        self._browser: Any = None

    def chromium_args(self) -> list[str]:
        """CHROMIUM_ARGS, and no host name resolved but the Superset server's (none for local
        files): a request to any other host fails at once, whatever the machine can reach."""
        host = urlsplit(self.base_url).hostname if self.base_url else None
        rules = "MAP * ~NOTFOUND" + (f" , EXCLUDE {host}" if host else "")
        return [*CHROMIUM_ARGS, f"--host-resolver-rules={rules}"]

    def __enter__(self) -> Browser:
        if not Path(self.executable).exists():
            raise BrowserError(f"no Chromium at {self.executable}: run `make browser` (installs "
                               "Debian's chromium package) or set HUB_CHROMIUM")
        try:
            from playwright.sync_api import sync_playwright
        except ImportError as exc:
            raise BrowserError("the playwright package is missing: run `make install`") from exc
        self._playwright = sync_playwright().start()
        try:
            self._browser = self._playwright.chromium.launch(
                executable_path=self.executable, args=self.chromium_args())
        except Exception as exc:
            self._playwright.stop()
            raise BrowserError(f"Chromium at {self.executable} did not start: {exc}") from exc
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._browser is not None:
            self._browser.close()
        if self._playwright is not None:
            self._playwright.stop()

    def new_page(self) -> Any:
        """A page of its own (a fresh context), for local files: no server, no login."""
        if self._browser is None:
            raise BrowserError("Browser is not started: use it as a context manager")
        return self._browser.new_page()

    def session(self, username: str, password: str) -> Session:
        """A fresh browser context (own cookies) logged in as `username` through /login/."""
        if self._browser is None:
            raise BrowserError("Browser is not started: use it as a context manager")
        context = self._browser.new_context(viewport={"width": self.width, "height": 1000})
        origin = urlsplit(self.base_url)

        def only_superset(route: Any) -> None:
            url = urlsplit(route.request.url)
            if url.path.startswith(EVENT_LOG_PATH):
                # Superset's frontend posts its usage events here while a page loads. Answered
                # in the browser: the server's answer carries a session cookie that, racing the
                # login form's, could replace the logged-in session with an anonymous one (seen
                # on a busy machine: logged in, then sent back to /login/).
                route.fulfill(status=200, content_type="application/json", body="{}")
            elif url.scheme in ("data", "blob") or (url.scheme, url.netloc) == (
                    origin.scheme, origin.netloc):
                route.continue_()
            else:
                route.abort()

        # Routed through the login only: a route turns the context's HTTP cache off, and the
        # dashboards opened afterwards then fetch Superset's scripts again at every page (host
        # names other than the server's do not resolve anyway, chromium_args). Once logged in,
        # the usage events go to the server: their answers carry the logged-in session.
        context.route("**/*", only_superset)
        session = Session(self, context, username)
        try:
            session.login(password)
            context.unroute("**/*", only_superset)
        except BaseException:
            session.close()
            raise
        return session


class Session:
    """A logged-in browser tab."""

    def __init__(self, browser: Browser, context: Any, username: str):
        self.browser, self.context, self.username = browser, context, username
        self.page = context.new_page()
        self.url = browser.base_url
        # chart-data requests sent and not yet answered (or failed): _settle waits for none
        self._chart_requests: set[Any] = set()
        self.page.on("request", self._request_sent)
        self.page.on("requestfinished", self._request_ended)
        self.page.on("requestfailed", self._request_ended)

    def _request_sent(self, request: Any) -> None:
        if urlsplit(request.url).path.startswith(CHART_DATA_PATHS):
            self._chart_requests.add(request)

    def _request_ended(self, request: Any) -> None:
        self._chart_requests.discard(request)

    def close(self) -> None:
        self.context.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def login(self, password: str) -> None:
        page = self.page
        # Two tries: on a busy machine the click can land before the login page's script has
        # taken over the form, which then reloads /login/ without logging in.
        for _attempt in range(2):
            # "load" (every script fetched), not "networkidle": a busy machine keeps the
            # network from ever looking idle for 500 ms; the form's field is the condition
            page.goto(f"{self.url}/login/", wait_until="load", timeout=120_000)
            page.wait_for_selector("#username", timeout=120_000)
            page.fill("#username", self.username)
            page.fill("#password", password)
            # The form posts and is redirected: to the welcome page, or back to /login/ with
            # "Invalid username or password". Wait for that page, not for a fixed time.
            with page.expect_navigation(wait_until="domcontentloaded", timeout=60_000):
                page.click("button[type=submit], input[type=submit]")
            if "/login" not in urlsplit(page.url).path:
                return
            page.wait_for_selector("#username", timeout=60_000)  # the form, drawn again
            if page.get_by_text(INVALID_LOGIN).count():
                break  # refused: trying again would not help
        raise BrowserError(f"could not log in to {self.url} as {self.username!r} "
                           "(wrong password?)")

    def dashboards(self) -> list[dict[str, Any]]:
        """Dashboards this user may see, from the REST API with the browser's session."""
        answer = self.context.request.get(f"{self.url}/api/v1/dashboard/?q=(page_size:100)")
        if not answer.ok:
            raise BrowserError(f"GET /api/v1/dashboard/ as {self.username}: {answer.status}")
        return answer.json()["result"]

    def _states(self) -> list[dict[str, Any]]:
        return self.page.evaluate(_CHART_STATES_JS)

    def _fit_viewport(self) -> None:
        """Make the viewport as tall as the page: charts outside it are not rendered
        (Superset's dashboard virtualization) and the screenshot is of the whole page."""
        height = self.page.evaluate("document.documentElement.scrollHeight")
        height = max(800, min(int(height), MAX_HEIGHT))
        if self.page.viewport_size["height"] != height:
            self.page.set_viewport_size({"width": self.browser.width, "height": height})

    def _settle(self, timeout: float, settle: float) -> list[dict[str, Any]]:
        """Poll until every visible chart holder is no longer loading and no chart's data
        request is still on its way, `settle` seconds in a row (charts animate in); at the
        deadline return what is there."""
        deadline = time.monotonic() + timeout
        steady_since: float | None = None
        states: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            self._fit_viewport()
            states = self._states()
            done = (bool(states) and not self._chart_requests
                    and all(s["state"] != "loading" for s in states))
            if done:
                steady_since = steady_since or time.monotonic()
                if time.monotonic() - steady_since >= settle:
                    break
            else:
                steady_since = None
            self.page.wait_for_timeout(500)
        return states

    def open_dashboard(self, slug: str | int, timeout: float = 120,
                       settle: float = 1.0, all_tabs: bool = True) -> DashboardView:
        """Open /superset/dashboard/<slug>/?standalone=1 and wait for its charts. With
        `all_tabs`, every tab is visited in turn and the charts of all of them reported; the
        first tab is selected again at the end (what a screenshot shows). `settle`: how long
        the charts must stay drawn, with no data request pending, before they are read (a
        screenshot wants their animations over: `hub screenshots` waits 3 s)."""
        started = time.monotonic()
        page = self.page
        page.set_viewport_size({"width": self.browser.width, "height": 1000})
        self._chart_requests.clear()  # a request of the page left behind never answers here
        answer = page.goto(f"{self.url}/superset/dashboard/{slug}/?standalone=1",
                           wait_until="domcontentloaded")
        if answer is None or not answer.ok or "/login" in page.url:
            status = answer.status if answer is not None else "no answer"
            raise BrowserError(f"dashboard {slug!r} as {self.username}: {status} ({page.url})")
        try:
            page.wait_for_selector(
                '[data-test="dashboard-component-chart-holder"][class*="dashboard-chart-id-"]',
                timeout=timeout * 1000)
        except Exception:
            return DashboardView(str(slug), (), time.monotonic() - started)
        found: dict[str, dict[str, Any]] = {}

        def collect() -> None:
            remaining = max(5.0, timeout - (time.monotonic() - started))
            for index, state in enumerate(self._settle(remaining, settle)):
                found[state["id"] or f"{state['name']}#{index}"] = state

        collect()
        if all_tabs:
            # The tabs shown first are already collected; visit the others (nested tabs appear
            # as their parent is opened), then select the first ones again.
            initial = [t["key"] for t in self.page.evaluate(_TABS_JS) if t["active"]]
            visited = set(initial)
            while True:
                tabs = [t for t in self.page.evaluate(_TABS_JS) if t["key"] not in visited]
                if not tabs:
                    break
                visited.add(tabs[0]["key"])
                self._click_tab(tabs[0]["key"])
                collect()
            if len(visited) > len(initial):
                for key in initial:
                    self._click_tab(key)
                self._settle(max(5.0, timeout - (time.monotonic() - started)), settle)
        charts = tuple(ChartState(
            chart_id=int(s["id"]) if s["id"] else None, name=s["name"], viz_type=s["viz"],
            state=s["state"], message=s["message"]) for s in found.values())
        return DashboardView(str(slug), charts, time.monotonic() - started)

    def _click_tab(self, key: str) -> None:
        """Select a tab and wait until it is the selected one (its charts are then collected
        by `_settle`)."""
        tab = f'[data-test="dashboard-component-tabs"] [data-node-key="{key}"] [role="tab"]'
        self.page.locator(tab).first.click()
        self.page.locator(f'{tab}[aria-selected="true"]').first.wait_for(timeout=60_000)

    def screenshot(self, path: Path, margin: int = 24, timeout: float = 120) -> Path:
        """PNG of the whole dashboard at the browser's width, cut below its last component.

        The viewport was stretched to the page (`_fit_viewport`), so the shot is of the
        viewport: a `full_page` shot would resize it once more, and Superset redraws every
        chart on a resize; on a busy machine that redraw outlasted Playwright's 30 s default
        (docs/architecture.md, the browser tests). Only a page taller than MAX_HEIGHT still
        takes a full-page shot. Animations are stopped; the wait is bounded by `timeout` s."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fit_viewport()
        bottom = self.page.evaluate(_CONTENT_BOTTOM_JS)
        viewport = self.page.viewport_size["height"]
        height = bottom + margin if bottom else viewport
        self.page.screenshot(
            path=str(path), full_page=height > viewport, animations="disabled",
            clip={"x": 0, "y": 0, "width": self.browser.width, "height": height},
            timeout=timeout * 1000)
        return path
