"""`hub serve`: Superset and the Dagster UI (webserver + daemon) on 127.0.0.1, until Ctrl-C."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from dagster_project import supervisor
from dagster_project.build import prepare_dagster_home
from dagster_project.dashboards import server
from dagster_project.dashboards.settings import SupersetSettings
from dagster_project.dbt_runner import ensure_manifest
from dagster_project.readiness import NotReadyError, check_port_free, wait_for_http
from dagster_project.settings import Settings


def dagster_port() -> int:
    return int(os.environ.get("HUB_DAGSTER_PORT", "3000"))


# `dagster dev` warns at every start that `dg dev` supersedes it: `dg` is another package with
# its own project layout, not installed here, so an analyst can do nothing about the warning
# (Python's warning filter for that message alone, after any the environment already has).
DG_DEV_WARNING = "ignore:Function `dev_command` is superseded"


def _start_dagster(settings: Settings, host: str, port: int) -> subprocess.Popen:
    """`dagster dev` (webserver, daemon, code server) under the supervisor
    (dagster_project/supervisor.py): it and every process it starts stop with `hub serve`,
    whatever stops `hub serve` (SIGTERM, SIGKILL, its group killed); Ctrl-C's SIGINT is what
    `dagster dev` is stopped with, the rest is killed after HUB_STOP_GRACE_SECONDS."""
    warnings = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"), DG_DEV_WARNING]))
    env = dict(os.environ, HUB_WORK_DB=str(settings.work_db), PYTHONWARNINGS=warnings)
    dagster = str(Path(sys.executable).with_name("dagster"))
    cmd = [dagster, "dev", "-h", host, "-p", str(port), "-m", "dagster_project.definitions"]
    return supervisor.start(cmd, stop_signal="INT", env=env, cwd=settings.home)


def serve(settings: Settings) -> int:
    settings.ensure_dirs()
    prepare_dagster_home(settings)
    ensure_manifest(settings)
    host = os.environ.get("HUB_BIND_HOST", "127.0.0.1")
    dagster_url = f"http://{host}:{dagster_port()}"
    ss = SupersetSettings.from_env(settings)
    superset = dagster = None
    try:
        # `dagster dev` loads its code while Superset is provisioned and started: both come up
        # side by side (each takes seconds on its own)
        check_port_free(ss.host, ss.port, "HUB_SUPERSET_PORT")
        check_port_free(host, dagster_port(), "HUB_DAGSTER_PORT")
        dagster = _start_dagster(settings, host, dagster_port())
        superset = server.launch(ss)
        wait_for_http(f"{dagster_url}/server_info", dagster, "the Dagster UI", 240)
        print("\nHub Warehouse is up (Ctrl-C stops both):", flush=True)
        print(server.credentials_message(ss), flush=True)
        print(f"Dagster UI: {dagster_url}  (instance {settings.dagster_home})", flush=True)
        while superset.poll() is None and dagster.poll() is None:
            time.sleep(1)
        name, code = (("Superset", superset.returncode) if superset.poll() is not None
                      else ("the Dagster UI", dagster.returncode))
        print(f"hub serve: {name} exited ({code}); stopping", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    except (server.SupersetError, NotReadyError) as exc:
        print(f"hub serve: {exc}", file=sys.stderr)
        return 1
    finally:
        if superset is not None:
            server.stop(superset)
        if dagster is not None:
            supervisor.stop(dagster)
