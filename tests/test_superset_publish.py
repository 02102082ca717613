"""A rebuild publishes a new serving file while Superset serves dashboards: no query fails.

`hub build` runs through the real CLI on a copy of the session's data folder, publishing into
the serving file the session's Superset reads (HUB_SERVING_DB), while a thread keeps running
every dashboard chart's query. One landing file is delivered again with the same rows in other
bytes (Windows line endings), so the build is an incremental one that redoes that delivery and
publishes the same figures (other tests read the same file); the session's own working file is
never written while other tests copy it. The serving file is replaced atomically (os.replace of
a finished copy), so each query reads either the old file or the new one.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

import pytest

from tests.conftest import copy_data_dir, hub, hub_env

pytestmark = pytest.mark.slow


@dataclass
class QueryRun:
    chart: str
    inode_before: int
    seconds: float
    problem: str | None


def file_id(path) -> tuple[int, int]:
    stat = os.stat(path)
    return stat.st_ino, stat.st_mtime_ns


def problem_of(answer) -> str | None:
    if answer.status_code != 200:
        return f"HTTP {answer.status_code}: {answer.text[:300]}"
    for result in answer.json().get("result") or [{"error": "no result"}]:
        if result.get("error") or result.get("status") not in (None, "success"):
            return f"{result.get('status')}: {result.get('error')}"
        if not result.get("data"):
            return "no rows"
    return None


def test_rebuild_publishes_while_dashboards_are_queried(superset_server, tmp_path):
    serving = superset_server.ss.hub.serving_db
    admin = superset_server.client("admin")
    charts = [(f"{d['slug']} / {c['slice_name']}", c["id"])
              for d in admin.dashboards() for c in admin.dashboard_charts(d["id"])]
    assert charts
    old_id = file_id(serving)
    runs: list[QueryRun] = []
    stop = threading.Event()
    crashed: list[BaseException] = []
    # After the build: the inode of the new file, and set once enough queries ran on it.
    published: dict[str, int] = {}
    enough_on_new_file = threading.Event()

    def keep_querying() -> None:
        try:
            client = superset_server.client("admin", fresh=True)  # this thread's own
            while not stop.is_set():
                for name, chart_id in charts:
                    inode = os.stat(serving).st_ino
                    started = time.monotonic()
                    try:
                        problem = problem_of(client.chart_data(chart_id))
                    except Exception as exc:  # a dropped connection is a failed query too
                        problem = repr(exc)
                    runs.append(QueryRun(name, inode, time.monotonic() - started, problem))
                    if "inode" in published and sum(
                            r.inode_before == published["inode"] for r in runs) >= 2 * len(charts):
                        enough_on_new_file.set()
        except BaseException as exc:
            crashed.append(exc)
        finally:
            enough_on_new_file.set()  # never leave the main thread waiting on a dead thread

    thread = threading.Thread(target=keep_querying, daemon=True)
    thread.start()
    try:
        data = copy_data_dir(superset_server.ss.hub.data_dir, tmp_path / "data")
        env = hub_env(data, HUB_SERVING_DB=str(serving))
        redelivered = data / "landing" / "eastbrook" / "telephony" / "EB_Telephony_202404.csv"
        redelivered.write_bytes(redelivered.read_bytes().replace(b"\n", b"\r\n"))
        out = hub(env, "build").stdout
        assert "dbt: incremental build: deliveries 1 replaced" in out, out
        new_id = file_id(serving)
        published["inode"] = new_id[0]
        # Keep querying the new file for two rounds of every chart after the swap.
        enough_on_new_file.wait(timeout=300)
    finally:
        stop.set()
        thread.join(timeout=300)
    assert not crashed, crashed
    assert new_id != old_id
    assert new_id[0] != old_id[0], "the serving file was not replaced (same inode)"
    failed = [r for r in runs if r.problem]
    assert failed == [], failed[:10]
    before = [r for r in runs if r.inode_before == old_id[0]]
    after = [r for r in runs if r.inode_before == new_id[0]]
    print(f"{len(runs)} chart queries: {len(before)} on the old file, {len(after)} on the new "
          f"one, slowest {max(r.seconds for r in runs):.2f}s")
    assert len(before) >= len(charts), "queries did not run during the build"
    assert len(after) >= 2 * len(charts), "queries did not run after the new file was published"
    assert {r.chart for r in after} == {name for name, _ in charts}, "a chart was not queried " \
        "on the new file"
