"""`hub bench --scenarios --superset`: a throwaway Superset over the bench's serving file.

Times the provisioning (metadata database, assets, roles and row-level security for every
partner), gunicorn's start until `/health` answers, and the chart-data queries (as a dashboard
runs them: `GET /api/v1/chart/<id>/data/`, the chart's saved query) of the hub board's league
table and one partner-report chart, as admin, repeated for p50 and p95.
"""

from __future__ import annotations

import contextlib
import dataclasses
import statistics
import sys
import time
from pathlib import Path

from dagster_project.dashboards import secrets, server
from dagster_project.dashboards.settings import ADMIN_USER, SupersetSettings
from dagster_project.readiness import free_port
from dagster_project.settings import Settings

CHARTS = (("hub-board", "Partner league table"), ("partner-report", "Daily TSF % this month"))
QUERIES = 20  # timed queries per chart, after one untimed warm-up


class _BenchSuperset(SupersetSettings):
    @property
    def log_file(self) -> Path:
        return self.hub.data_dir / "logs" / "superset-bench.log"


@dataclasses.dataclass
class ChartTimes:
    dashboard: str
    chart: str
    first: float  # the warm-up query (cold caches)
    seconds: list[float]
    rows: int  # rows the chart's query returned

    @property
    def p50(self) -> float:
        return statistics.median(self.seconds)

    @property
    def p95(self) -> float:
        return statistics.quantiles(self.seconds, n=20, method="inclusive")[18]


@dataclasses.dataclass
class SupersetTimes:
    partners: int
    provision: float
    start: float
    charts: list[ChartTimes]

    def lines(self) -> list[str]:
        return [
            "| Superset | seconds |",
            "|---|---:|",
            f"| provisioning (new metadata database, assets, roles and row-level security for "
            f"{self.partners} partners) | {self.provision:.2f} |",
            f"| gunicorn start until /health answers | {self.start:.2f} |",
            *(f"| {c.dashboard}: {c.chart} (chart data, {c.rows:,} rows; {len(c.seconds)} "
              f"queries after one of {c.first:.2f} s) | p50 {c.p50:.3f}, p95 {c.p95:.3f} |"
              for c in self.charts),
        ]


def _session(url: str, password: str):
    import requests

    session = requests.Session()
    answer = session.post(f"{url}/api/v1/security/login", json={
        "username": ADMIN_USER, "password": password, "provider": "db", "refresh": False,
    }, timeout=60)
    answer.raise_for_status()
    session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
    return session


def time_superset(settings: Settings, home: Path, partners: int,
                  queries: int = QUERIES) -> SupersetTimes:
    """Provision and start a private Superset (`home`, a free loopback port), time it and
    its chart queries, stop it."""
    ss = _BenchSuperset(hub=settings, home=home, host="127.0.0.1", port=free_port(),
                        demo=False)
    t = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # provisioning's lines are progress
        server.provision(ss)
    provision_s = time.perf_counter() - t
    t = time.perf_counter()
    proc = server.start(ss)
    try:
        server.wait_healthy(ss, proc)
        start_s = time.perf_counter() - t
        session = _session(ss.url, secrets.admin_password(ss))
        charts = []
        for slug, name in CHARTS:
            answer = session.get(f"{ss.url}/api/v1/dashboard/{slug}/charts", timeout=60)
            answer.raise_for_status()
            ids = [c["id"] for c in answer.json()["result"] if c["slice_name"] == name]
            if not ids:
                raise server.SupersetError(f"dashboard {slug} has no chart {name!r}")
            times = []
            for _ in range(queries + 1):
                t = time.perf_counter()
                data = session.get(f"{ss.url}/api/v1/chart/{ids[0]}/data/", timeout=300)
                times.append(time.perf_counter() - t)
                data.raise_for_status()
            rows = sum(r.get("rowcount", 0) for r in data.json()["result"])
            charts.append(ChartTimes(slug, name, times[0], times[1:], rows))
    finally:
        server.stop(proc)
    return SupersetTimes(partners, provision_s, start_s, charts)
