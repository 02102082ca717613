"""`hub doctor`: what in this environment would stop a build or the servers, and how to fix it.

Each check gives `ok`, `warn` (works, but look at it) or `error` (blocks a build or `hub serve`:
the command exits 1). Nothing is changed: the DuckDB files are opened read-only, ports are only
bound and released, databases get a TCP connect or a `select 1`.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import socket
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlparse

from dagster_project import writer_lock
from dagster_project.dashboards.browser import chromium_path
from dagster_project.readiness import NotReadyError, check_port_free
from dagster_project.settings import Settings

GB = 1024**3
# What a build needs besides the files it rewrites (DuckDB's temporary spill, dbt, Dagster).
BUILD_MEMORY_MIN = 1 * GB
BUILD_MEMORY_ADVISED = 2 * GB
DISK_MARGIN = GB // 2
PACKAGES = ("dagster", "dagster-dbt", "dagster-webserver", "dbt-core", "dbt-duckdb", "duckdb",
            "apache-superset")
MIN_PYTHON = (3, 11)
PLACEHOLDER = "change-me"  # the value of every secret in .env.example


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # "ok", "warn", "error"
    detail: str
    fix: str = ""


def _locked_versions(home: Path) -> dict[str, str]:
    lock = home / "uv.lock"
    if not lock.exists():
        return {}
    data = tomllib.loads(lock.read_text(encoding="utf-8"))
    return {p["name"]: p.get("version", "") for p in data.get("package", [])}


def check_python_and_packages(settings: Settings) -> list[Check]:
    out = []
    version = platform.python_version()
    out.append(Check("python", "ok" if sys.version_info[:2] >= MIN_PYTHON else "error",
                     f"{version} ({sys.executable})",
                     "" if sys.version_info[:2] >= MIN_PYTHON else "install Python 3.11 and "
                     "run `make install`"))
    locked = _locked_versions(settings.home)
    found, wrong, missing = [], [], []
    for name in PACKAGES:
        try:
            have = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
            continue
        found.append(f"{name} {have}")
        if locked.get(name) and locked[name] != have:
            wrong.append(f"{name} {have} (uv.lock: {locked[name]})")
    if missing:
        out.append(Check("packages", "error", f"not installed: {', '.join(missing)}",
                         "run `make install`"))
    elif wrong:
        out.append(Check("packages", "warn", f"not the locked versions: {', '.join(wrong)}",
                         "run `make install` (uv sync --frozen)"))
    else:
        out.append(Check("packages", "ok", ", ".join(found)))
    return out


def _size(*paths: Path) -> int:
    return sum(p.stat().st_size for p in paths if p.exists())


def check_disk(settings: Settings) -> Check:
    """A build rewrites the working file's changes, the marts file and two served files (the
    previous ones are kept as versions): room for their present size again, and a margin."""
    need = DISK_MARGIN + _size(settings.work_db, settings.marts_db) + 2 * _size(
        settings.serving_db, settings.operations_db)
    folder = settings.data_dir if settings.data_dir.exists() else settings.home
    free = shutil.disk_usage(folder).free
    detail = f"{free / GB:.1f} GB free in {folder}; a build needs about {need / GB:.1f} GB"
    if free < need:
        return Check("disk", "error", detail, "free some space (old landing files, "
                     "HUB_KEEP_PUBLISHED lower, data/logs) or move HUB_DATA_DIR")
    if free < 2 * need:
        return Check("disk", "warn", detail, "free some space soon")
    return Check("disk", "ok", detail)


def _available_memory() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_memory() -> Check:
    available = _available_memory()
    if available is None:
        return Check("memory", "warn", "cannot read /proc/meminfo")
    detail = (f"{available / GB:.1f} GB available; a build needs {BUILD_MEMORY_MIN / GB:.0f} GB "
              f"({BUILD_MEMORY_ADVISED / GB:.0f} GB advised; Superset adds about 0.4 GB)")
    if available < BUILD_MEMORY_MIN:
        return Check("memory", "error", detail, "stop other programs or add memory")
    if available < BUILD_MEMORY_ADVISED:
        return Check("memory", "warn", detail, "a large build may be slow or fail")
    return Check("memory", "ok", detail)


def _answers(url: str) -> bool:
    import requests

    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def check_port(name: str, variable: str, port: int, health: str) -> Check:
    host = os.environ.get("HUB_BIND_HOST", "127.0.0.1")
    try:
        check_port_free(host, port, variable)
        return Check(f"port {name}", "ok", f"{host}:{port} free ({variable})")
    except NotReadyError:
        pass
    if _answers(f"http://{host}:{port}{health}"):
        return Check(f"port {name}", "ok",
                     f"{host}:{port} in use by a running {name} (`hub serve`?)")
    return Check(f"port {name}", "error", f"{host}:{port} is in use by another program",
                 f"stop it or choose another port with {variable}")


def _duckdb_select(path: Path) -> str | None:
    import duckdb

    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        return str(exc).splitlines()[0]
    try:
        con.execute("select 1").fetchone()
        return None
    finally:
        con.close()


def check_duckdb(settings: Settings) -> list[Check]:
    out = []
    if writer_lock.is_locked(settings.work_db):
        out.append(Check("writer lock", "ok",
                         f"{writer_lock.describe_holder(settings.work_db)} is writing now"))
    for name, path, missing in (
            ("working warehouse", settings.work_db, "run `hub build`"),
            ("served warehouse", settings.serving_db, "run `hub build`"),
            ("operations file", settings.operations_db, "run `hub build`")):
        if not path.exists():
            out.append(Check(name, "warn", f"{path} does not exist yet", missing))
            continue
        problem = _duckdb_select(path)
        if problem is None:
            out.append(Check(name, "ok", f"{path} ({path.stat().st_size / 1024**2:,.0f} MB)"))
        elif "lock" in problem.lower():
            out.append(Check(name, "ok", f"{path} is open by a writer now"))
        else:
            out.append(Check(name, "error", f"{path}: {problem}",
                             "`hub rollback` for a served file; `hub build --full-refresh` "
                             "for the working one"))
    return out


def _service_urls() -> list[tuple[str, str]]:
    """The PostgreSQL and Redis databases named in the environment (the production stack:
    Superset's HUB_SUPERSET_METADATA_URI and HUB_REDIS_URL, Dagster's DAGSTER_PG_*), as
    (what, URL): every variable holding a postgres… or redis… URL, and Dagster's storage."""
    found = []
    for var, value in sorted(os.environ.items()):
        scheme = value.split(":", 1)[0].lower() if "://" in value else ""
        if scheme.startswith(("postgres", "redis", "rediss")):
            found.append((var, value))
    env = os.environ
    if env.get("DAGSTER_PG_HOST"):
        user, password = quote(env.get("DAGSTER_PG_USER", "")), quote(
            env.get("DAGSTER_PG_PASSWORD", ""))
        found.append(("DAGSTER_PG_*", f"postgresql://{user}:{password}@{env['DAGSTER_PG_HOST']}:"
                      f"{env.get('DAGSTER_PG_PORT', '5432')}/{env.get('DAGSTER_PG_DB', '')}"))
    return found


def _tcp(host: str, port: int) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=3):
            return None
    except OSError as exc:
        return exc.strerror or str(exc)


def check_service(var: str, url: str) -> Check:
    parsed = urlparse(url)
    scheme = parsed.scheme.split("+", 1)[0]
    redis = scheme.startswith("redis")
    host, port = parsed.hostname or "localhost", parsed.port or (6379 if redis else 5432)
    where = f"{scheme} at {host}:{port}"  # never the user or password
    problem = _tcp(host, port)
    if problem:
        return Check(var, "error", f"{where}: cannot connect: {problem}",
                     "start the database or fix the URL")
    try:
        if redis:
            import redis as redis_client

            redis_client.Redis.from_url(url.replace(parsed.scheme + "://", "redis://", 1)
                                        if scheme == "redis" else url,
                                        socket_timeout=3).ping()
        else:
            import psycopg2

            dsn = url.replace(parsed.scheme + "://", "postgresql://", 1)
            with psycopg2.connect(dsn, connect_timeout=3) as con, con.cursor() as cur:
                cur.execute("select 1")
    except ImportError:
        return Check(var, "ok", f"{where}: answers on TCP (no client library to query it)")
    except Exception as exc:  # any driver error is the answer to report
        return Check(var, "error", f"{where}: {type(exc).__name__}: "
                     f"{str(exc).splitlines()[0] if str(exc) else ''}",
                     "check the credentials and that the database exists")
    return Check(var, "ok", f"{where}: answers")


def check_chromium() -> Check:
    path = chromium_path()
    if Path(path).exists():
        return Check("chromium", "ok", path)
    return Check("chromium", "warn", f"no Chromium at {path}: board packs as HTML only, no "
                 "screenshots", "`make browser` (apt-get) or set HUB_CHROMIUM")


def check_secrets(settings: Settings) -> list[Check]:
    from dagster_project import privacy

    production = privacy.is_production()
    out = []
    key = os.environ.get(privacy.KEY_ENV, "").strip()
    if key and len(key) < privacy.MIN_KEY_LENGTH:
        out.append(Check(privacy.KEY_ENV, "error", f"only {len(key)} characters",
                         privacy.HOW_TO_MAKE_A_KEY))
    elif key:
        out.append(Check(privacy.KEY_ENV, "ok", "set"))
    elif production:
        out.append(Check(privacy.KEY_ENV, "error", "HUB_MODE=production and it is not set: "
                         "no CRM file can be loaded", privacy.HOW_TO_MAKE_A_KEY))
    else:
        out.append(Check(privacy.KEY_ENV, "ok", "demo mode: generated into "
                         f"{privacy.key_file(settings)} when first needed"))
    if key == PLACEHOLDER:
        out[-1] = Check(privacy.KEY_ENV, "error", f"still {PLACEHOLDER!r} (.env.example)",
                        privacy.HOW_TO_MAKE_A_KEY)
    if production:
        # Superset's secrets are in the environment of the `superset` and `init` services only
        # (docker-compose.yml): elsewhere (the `code` service) their absence is no fault.
        for var, why in (("HUB_SUPERSET_SECRET_KEY", "Superset's secret key"),
                         ("HUB_SUPERSET_ADMIN_PASSWORD", "Superset's admin password")):
            value = os.environ.get(var, "")
            if value == PLACEHOLDER:
                out.append(Check(var, "error", f"still {PLACEHOLDER!r} (.env.example)",
                                 "set it in .env (e.g. `openssl rand -hex 24`)"))
            elif value:
                out.append(Check(var, "ok", "set"))
            else:
                out.append(Check(var, "warn", f"HUB_MODE=production and {why} is not set here "
                                 "(needed where Superset runs: its files under "
                                 "HUB_SUPERSET_HOME are used otherwise)",
                                 f"set {var} from .env where Superset runs"))
    return out


def run_checks(settings: Settings) -> list[Check]:
    from dagster_project.dashboards.settings import SupersetSettings
    from dagster_project.serve import dagster_port

    ss = SupersetSettings.from_env(settings)
    checks = [*check_python_and_packages(settings), check_disk(settings), check_memory(),
              check_port("Superset", "HUB_SUPERSET_PORT", ss.port, "/health"),
              check_port("Dagster UI", "HUB_DAGSTER_PORT", dagster_port(), "/server_info"),
              *check_duckdb(settings),
              *(check_service(var, url) for var, url in _service_urls()),
              check_chromium(), *check_secrets(settings)]
    return checks


def report(checks: list[Check]) -> str:
    lines = []
    for c in checks:
        lines.append(f"  {c.status.upper():<6} {c.name}: {c.detail}")
        if c.fix and c.status != "ok":
            lines.append(f"         fix: {c.fix}")
    errors = sum(c.status == "error" for c in checks)
    warnings = sum(c.status == "warn" for c in checks)
    lines.append(f"hub doctor: {errors} blocking, {warnings} to look at" if errors or warnings
                 else "hub doctor: all good")
    return "\n".join(lines)
