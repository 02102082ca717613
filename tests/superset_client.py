"""A small client for Superset's REST API, as a user logs in (tests and screenshots)."""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

# A GET sent on a kept-alive connection that gunicorn closes at that moment (its keep-alive is
# 2 s; a browser test leaves the session idle for seconds between calls) is reset by the
# server before it reads the request: sent again once on a new connection, as browsers do. A
# suite failed on one such reset (docs/benchmarks-journal.md, "7 December 2026, 18:57–19:12
# UTC"). Other methods and error statuses are not retried; a GET's read timeout (120 s) is,
# once.
RESENT_ON_RESET = Retry(total=1, connect=1, read=1, status=0, other=0,
                        allowed_methods=frozenset({"GET"}), raise_on_status=False)


class SupersetClient:
    """Logged-in API session: bearer token, session cookie and CSRF token."""

    def __init__(self, url: str, username: str, password: str):
        self.url = url.rstrip("/")
        self.username, self._password = username, password
        self.session = requests.Session()
        self.session.mount("http://", HTTPAdapter(max_retries=RESENT_ON_RESET))
        self._charts: dict[int, dict[str, Any]] = {}
        self._login()

    def _login(self) -> None:
        self.session.headers.pop("Authorization", None)
        answer = self.session.post(f"{self.url}/api/v1/security/login", json={
            "username": self.username, "password": self._password, "provider": "db",
            "refresh": False,
        }, timeout=30)
        answer.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        csrf = self.session.get(f"{self.url}/api/v1/security/csrf_token/", timeout=30)
        csrf.raise_for_status()
        self.session.headers["X-CSRFToken"] = csrf.json()["result"]
        self.session.headers["Referer"] = self.url

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One request; on 401 (the access token expires after 15 minutes, and a client lives
        for the whole session), log in again and retry once."""
        answer = self.session.request(method, f"{self.url}{path}", timeout=120, **kwargs)
        if answer.status_code == 401:
            self._login()
            answer = self.session.request(method, f"{self.url}{path}", timeout=120, **kwargs)
        return answer

    def get(self, path: str, **params: Any) -> requests.Response:
        return self._send("GET", path, params=params or None)

    def post(self, path: str, payload: dict[str, Any]) -> requests.Response:
        return self._send("POST", path, json=payload)

    def json(self, path: str, **params: Any) -> Any:
        answer = self.get(path, **params)
        answer.raise_for_status()
        return answer.json()

    def dashboards(self) -> list[dict[str, Any]]:
        return self.json("/api/v1/dashboard/", q="(page_size:100)")["result"]

    def dashboard_charts(self, id_or_slug: int | str) -> list[dict[str, Any]]:
        return self.json(f"/api/v1/dashboard/{id_or_slug}/charts")["result"]

    def datasets(self) -> list[dict[str, Any]]:
        return self.json("/api/v1/dataset/", q="(page_size:100)")["result"]

    def chart(self, chart_id: int) -> dict[str, Any]:
        """A chart's definition as this user reads it, asked for once per client (the
        provisioned charts do not change while the tests run); a copy each time."""
        if chart_id not in self._charts:
            self._charts[chart_id] = self.json(f"/api/v1/chart/{chart_id}")["result"]
        return dict(self._charts[chart_id])

    def chart_data(self, chart_id: int) -> requests.Response:
        """Run a chart's saved query context (what the dashboard shows)."""
        return self.get(f"/api/v1/chart/{chart_id}/data/")

    def query(self, dataset_id: int, columns: list[str], metrics: list[Any] | None = None,
              filters: list[dict[str, Any]] | None = None,
              row_limit: int = 100000) -> requests.Response:
        """An ad-hoc chart-data query on a dataset (row-level security applies)."""
        return self.post("/api/v1/chart/data", {
            "datasource": {"id": dataset_id, "type": "table"},
            "queries": [{"columns": columns, "metrics": metrics or [],
                         "filters": filters or [], "row_limit": row_limit}],
            "result_format": "json", "result_type": "full",
        })

    def sql(self, database_id: int, sql: str, schema: str | None = None) -> requests.Response:
        """Run SQL in SQL Lab (synchronously)."""
        return self.post("/api/v1/sqllab/execute/", {
            "database_id": database_id, "sql": sql, "schema": schema, "runAsync": False,
            "client_id": None, "tab": "tests", "select_as_cta": False,
            "ctas_method": "TABLE", "queryLimit": 1000, "expand_data": True,
        })
