"""`hub serve`: Superset and the Dagster UI (webserver + daemon) on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dagster_project.build import prepare_dagster_home
from dagster_project.dashboards import server
from dagster_project.dashboards.settings import SupersetSettings
from dagster_project.dbt_runner import ensure_manifest
from dagster_project.settings import Settings


def dagster_port() -> int:
    return int(os.environ.get("HUB_DAGSTER_PORT", "3000"))


def serve(settings: Settings, superset: bool = True) -> int:
    settings.ensure_dirs()
    prepare_dagster_home(settings)
    ensure_manifest(settings)
    port = dagster_port()
    env = dict(os.environ, HUB_WORK_DB=str(settings.work_db))
    dagster = str(Path(sys.executable).with_name("dagster"))
    host = os.environ.get("HUB_BIND_HOST", "127.0.0.1")
    superset_proc = None
    if superset:
        ss = SupersetSettings.from_env(settings)
        server.provision(ss)
        superset_proc = server.start(ss)
        server.wait_healthy(ss, superset_proc)
        print(server.credentials_message(ss), flush=True)
    cmd = [dagster, "dev", "-h", host, "-p", str(port), "-m",
           "dagster_project.definitions"]
    print(f"Dagster UI: http://{host}:{port}  (instance {settings.dagster_home})", flush=True)
    try:
        return subprocess.call(cmd, env=env, cwd=settings.home)
    except KeyboardInterrupt:
        return 0
    finally:
        if superset_proc is not None:
            server.stop(superset_proc)
