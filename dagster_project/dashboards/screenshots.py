"""`hub screenshots`: one PNG per dashboard, taken in a real browser from a private Superset.

A throwaway Superset is provisioned from the repository's assets over the current serving
warehouse, in a temporary home on a free loopback port, so the user's own Superset
(`data/superset`, port 8088) is never touched. The browser logs in as admin, opens every
dashboard, waits for its charts and writes `docs/img/<slug>.png` (1600 px wide, whole page).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from dagster_project.dashboards import secrets, server
from dagster_project.dashboards.settings import ADMIN_USER, SupersetSettings
from dagster_project.readiness import free_port
from dagster_project.settings import Settings

# Charts drawn and no data pending for this long before the picture: their animations are over.
SCREENSHOT_SETTLE_SECONDS = 3.0


class _PrivateSuperset(SupersetSettings):
    """Settings of the throwaway server: its own log file beside the user's Superset log."""

    @property
    def log_file(self) -> Path:
        return self.hub.data_dir / "logs" / "superset-screenshots.log"


def take_screenshots(settings: Settings, out_dir: Path, width: int = 1600) -> int:
    """Write one PNG per dashboard into `out_dir`; 0 if every chart rendered, else 1."""
    from dagster_project.dashboards.browser import Browser

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hub-screenshots-") as home:
        ss = _PrivateSuperset(hub=settings, home=Path(home), host="127.0.0.1",
                              port=free_port(), demo=False)
        print(f"hub screenshots: provisioning a private Superset on {ss.url} "
              f"(log {ss.log_file})", flush=True)
        proc = server.launch(ss)
        try:
            failures: list[str] = []
            with Browser(ss.url, width=width) as browser, \
                    browser.session(ADMIN_USER, secrets.admin_password(ss)) as session:
                dashboards = sorted(session.dashboards(), key=lambda d: d["slug"] or "")
                if not dashboards:
                    print("hub screenshots: Superset lists no dashboards", flush=True)
                    return 1
                for dashboard in dashboards:
                    slug = dashboard["slug"] or str(dashboard["id"])
                    view = session.open_dashboard(slug, settle=SCREENSHOT_SETTLE_SECONDS)
                    path = session.screenshot(out_dir / f"{slug}.png")
                    problems = view.problems()
                    failures += problems
                    print(f"  {path}  {len(view.rendered)} charts, {view.seconds:.0f}s"
                          + (f", {len(problems)} problems" if problems else ""), flush=True)
        finally:
            server.stop(proc)
    for problem in failures:
        print(f"hub screenshots: {problem}", flush=True)
    print(f"hub screenshots: {len(dashboards)} dashboards in {time.monotonic() - started:.0f}s",
          flush=True)
    return 1 if failures else 0
