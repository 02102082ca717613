"""Bootstrap (provision) and run Superset's web server with gunicorn, no Docker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dagster_project import supervisor
from dagster_project.dashboards import secrets
from dagster_project.dashboards.settings import SupersetSettings
from dagster_project.dbt_runner import ensure_manifest
from dagster_project.readiness import NotReadyError, check_port_free, wait_for_http


class SupersetError(RuntimeError):
    """Superset could not be provisioned or did not come up; the message says where to look."""


def provision_env(ss: SupersetSettings) -> dict[str, str]:
    secrets.secret_key(ss)
    env = ss.process_env()
    env["HUB_SUPERSET_ADMIN_PASSWORD"] = secrets.admin_password(ss)
    if ss.demo:
        env["HUB_DEMO_PASSWORD"] = secrets.demo_password(ss)
    return env


def provision(ss: SupersetSettings) -> None:
    """Create or update the metadata database, assets, roles, security and users."""
    if ss.demo and not ss.hub.serving_db.exists():
        # (production: the metadata, roles and admin are provisioned before the first build)
        raise SupersetError(f"no serving warehouse at {ss.hub.serving_db}: run `hub build` first")
    ensure_manifest(ss.hub)
    ss.home.mkdir(parents=True, exist_ok=True)
    ss.log_file.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "dagster_project.dashboards.provision"]
    if ss.demo:
        cmd.append("--demo")
    proc = subprocess.run(cmd, env=provision_env(ss), cwd=ss.hub.home, capture_output=True,
                          text=True, check=False)
    with ss.log_file.open("a", encoding="utf-8") as log:
        log.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.splitlines()[-25:])
        raise SupersetError(f"Superset provisioning failed (log {ss.log_file}):\n{tail}")
    for line in proc.stdout.splitlines():
        if line.startswith("superset provision:"):
            print(line, flush=True)


def start(ss: SupersetSettings) -> subprocess.Popen:
    """Start gunicorn (one worker, threads) on host:port; the caller owns the process."""
    try:
        check_port_free(ss.host, ss.port, "HUB_SUPERSET_PORT")
    except NotReadyError as exc:
        raise SupersetError(str(exc)) from exc
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    cmd = [gunicorn, "--workers", "1", "--threads", "4", "--worker-class", "gthread",
           "--timeout", "120", "--bind", f"{ss.host}:{ss.port}", "--no-control-socket",
           "--access-logfile", "-", "superset.app:create_app()"]
    log = ss.log_file.open("a", encoding="utf-8")
    # under the supervisor (dagster_project/supervisor.py): gunicorn and its workers stop with
    # the process that started them, however it ends
    return supervisor.start(cmd, env=ss.process_env(), cwd=ss.hub.home, stdout=log,
                            stderr=subprocess.STDOUT)


def wait_healthy(ss: SupersetSettings, proc: subprocess.Popen, timeout: float = 120) -> None:
    try:
        wait_for_http(f"{ss.url}/health", proc, "Superset", timeout, f" (log {ss.log_file})")
    except NotReadyError as exc:
        raise SupersetError(str(exc)) from exc


def launch(ss: SupersetSettings) -> subprocess.Popen:
    """Provision, start and wait until Superset answers; the caller stops the process."""
    provision(ss)
    proc = start(ss)
    try:
        wait_healthy(ss, proc)
    except BaseException:
        stop(proc)
        raise
    return proc


def stop(proc: subprocess.Popen) -> None:
    supervisor.stop(proc)


def credentials_message(ss: SupersetSettings) -> str:
    admin = ("HUB_SUPERSET_ADMIN_PASSWORD" if os.environ.get("HUB_SUPERSET_ADMIN_PASSWORD")
             else str(ss.admin_password_file))
    lines = [f"Superset:  {ss.url}  (user admin, password in {admin})"]
    if ss.demo:
        demo = ("HUB_DEMO_PASSWORD" if os.environ.get("HUB_DEMO_PASSWORD")
                else str(ss.demo_password_file))
        lines.append(f"           demo users board, explorer, partner_<code> (password in {demo})")
    return "\n".join(lines)
