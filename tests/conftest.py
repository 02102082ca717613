"""Shared fixtures: an isolated data folder per test, and the repository's partner configs."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from dagster_project.partners import load_partners
from dagster_project.settings import REPO_ROOT, Settings

PARTNERS_DIR = REPO_ROOT / "seeds" / "partners"
# Tests write their landing files a moment before loading them: no settle interval (quiet
# periods, dagster_project/ingest/settle.py), here and in every `hub` run of `hub_env`. The
# tests of quiet periods set their own.
SETTLE = {"HUB_SETTLE_SECONDS": "0"}
os.environ.update(SETTLE)
# dbt runs one node at a time in the tests' builds: the suite's two workers already keep both
# cores busy, and a second dbt thread there only adds contention (about a tenth more CPU per
# build, docs/benchmarks-journal.md). The session warehouse and the builds of
# tests/test_build_safety.py (two builds from scratch compared row for row) keep the default, 2.
ONE_DBT_THREAD = {"HUB_DBT_THREADS": "1"}
DEFAULT_DBT_THREADS = {"HUB_DBT_THREADS": "2"}
os.environ.update(ONE_DBT_THREAD)
REALDATA_DIR = REPO_ROOT / "seeds" / "realdata"


@pytest.fixture(autouse=True)
def _signal_handlers_as_found():
    """Each test leaves its worker's SIGTERM and SIGINT handlers as it found them. A Dagster run in
    the worker (`execute_in_process`) leaves SIGTERM with SIGINT's handler, which pytest-xdist's
    workers ignore: every process the worker started afterwards ignored SIGTERM, and a test that
    stops its child with SIGTERM waited for it in vain (seen in suite runs: a lock holder of
    tests/test_writer_lock.py, the children of tests/test_stop_request.py)."""
    from dagster_project.stop_request import signal_handlers_kept

    with signal_handlers_kept():
        yield


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    """Settings pointing at a fresh data folder under tmp_path (partners from the repo)."""
    data = tmp_path / "data"
    monkeypatch.setenv("HUB_DATA_DIR", str(data))
    for var in ("HUB_LANDING_DIR", "HUB_WORK_DB", "HUB_SERVING_DB", "DAGSTER_HOME"):
        monkeypatch.delenv(var, raising=False)
    s = Settings.from_env()
    s.ensure_dirs()
    return s


@pytest.fixture(scope="session")
def partners():
    return load_partners(PARTNERS_DIR, REPO_ROOT / "seeds" / "reference")


def copy_realdata(landing: Path) -> None:
    shutil.copytree(REALDATA_DIR, landing, dirs_exist_ok=True)


# A small but complete warehouse, built once per test session through the real `hub` CLI:
# generated sample data for the fictional partners (spanning March's council-tax peak and the
# spring clock change) plus the real PhoneNow export.
SAMPLE_ARGS = ["--months", "4", "--end-month", "2024-04", "--seed", "7", "--scale", "0.15"]


def hub(env: dict[str, str], *args: str, check: bool = True):
    """`hub <args>` with `env`, in a process of its own forked from one that has already
    imported Dagster and dbt (tests/forked_hub.py); its output and status."""
    from tests.forked_hub import run_hub

    proc = run_hub(args, env)
    if check and proc.returncode != 0:
        raise AssertionError(f"hub {' '.join(args)} exited {proc.returncode}:\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


def hub_env(data_dir: Path, **extra: str) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items()
           if not k.startswith("HUB_") and k != "DAGSTER_HOME"}
    env["HUB_DATA_DIR"] = str(data_dir)
    env.update(SETTLE)
    env.update(ONE_DBT_THREAD)
    env.update(extra)
    return env


def settings_of(data_dir: Path) -> Settings:
    """Settings of the data folder `data_dir` (as `hub` sees it with HUB_DATA_DIR set)."""
    import os

    old = os.environ.get("HUB_DATA_DIR")
    os.environ["HUB_DATA_DIR"] = str(data_dir)
    try:
        return Settings.from_env()
    finally:
        if old is None:
            del os.environ["HUB_DATA_DIR"]
        else:
            os.environ["HUB_DATA_DIR"] = old


def copy_data_dir(source: Path, target: Path) -> Path:
    """Copy a warehouse's data folder (tests then build on the copy, never on the session's):
    logs and the temporary files of a publication in progress are left out."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.log", ".*.tmp", "tmp"))
    return target


def working_file_copy(built_warehouse: Settings, tmp: Path) -> tuple[Settings, Path]:
    """A copy of the session warehouse's working file and its marts file in `tmp`, for a dbt
    run of its own: (settings pointing at the copy, a dbt target folder seeded with the
    session's partial parse). The copy keeps the working file's name, so the catalog dbt's
    profile names after it is the same and dbt takes the seeded parse (another name: a whole
    parse, about 3 s); dbt parses again anyway if the seed no longer matches."""
    import dataclasses

    from dagster_project import duck

    work_db = tmp / built_warehouse.work_db.name
    shutil.copyfile(built_warehouse.work_db, work_db)
    shutil.copyfile(built_warehouse.marts_db, duck.marts_db_of(work_db))
    target = tmp / "target"
    partial = built_warehouse.dbt_target_dir / "partial_parse.msgpack"
    if partial.exists():
        target.mkdir()
        shutil.copyfile(partial, target / partial.name)
    return dataclasses.replace(built_warehouse, data_dir=tmp, work_db=work_db), target


def checked_partner(root: Path, landing: Path, partners: Path, code: str):
    """Run `hub check <code>`'s machinery on a throwaway warehouse under `root`; yield
    (report, read-only connection to that warehouse with its marts file as the default
    catalog), closed afterwards. For module fixtures of hand-made partners."""
    import dataclasses

    import duckdb

    from dagster_project.check import run_check

    data = root / "data"
    settings = dataclasses.replace(
        Settings.from_env(), data_dir=data, landing_dir=landing, partners_dir=partners,
        work_db=data / "work" / "warehouse.duckdb", serving_db=data / "serving" / "w.duckdb",
        operations_db=data / "serving" / "o.duckdb", dagster_home=data / "dagster")
    report = run_check(settings, code)
    con = duckdb.connect(str(data / "tmp" / "check" / "warehouse.duckdb"), read_only=True)
    con.execute(f"attach '{data / 'tmp' / 'check' / 'warehouse.marts.duckdb'}' as marts_db "
                "(read_only)")
    con.execute("use marts_db")
    yield report, con
    con.close()


def _session_root(tmp_path_factory) -> Path:
    """A folder of this test session shared by every xdist worker (each has its own basetemp
    below it); without xdist, the session's basetemp."""
    import os

    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _built_once(root: Path, build) -> None:
    """Run `build()` once per test session for the folder `root` (made here): under xdist the
    first worker to ask runs it, the others wait for it (a file lock) and use the same folder;
    a failure is raised again in every worker that asks, without building again."""
    from filelock import FileLock

    done, failed = root / "built", root.with_name(root.name + ".failed")
    with FileLock(str(root) + ".lock"):
        if failed.exists():  # another worker tried: the same error, without building again
            raise AssertionError(failed.read_text())
        if not done.exists():
            root.mkdir(parents=True)
            try:
                build()
            except AssertionError as exc:
                failed.write_text(str(exc))
                raise
            done.touch()


@pytest.fixture(scope="session")
def built_warehouse(tmp_path_factory) -> Settings:
    """Settings of a warehouse built by `hub generate` + `hub build` (serving file published),
    once per test session: under xdist the first worker to ask builds it, the others wait for
    it (a file lock) and use the same folder. Tests must not change it: they build on a copy
    (copy_data_dir)."""
    root = _session_root(tmp_path_factory) / "warehouse"
    data = root / "data"

    def build() -> None:
        env = hub_env(data, **DEFAULT_DBT_THREADS)
        hub(env, "generate", *SAMPLE_ARGS)
        hub(env, "build")

    _built_once(root, build)
    return settings_of(data)


@dataclass(frozen=True)
class SmallPartners:
    data: Path  # the data folder; its landing folder holds the four partners' files
    partners: Path  # the YAML of all four
    onboarding_partners: Path  # bankline's and cityreq's YAML alone
    build: subprocess.CompletedProcess  # the first `hub build` (its output)


@pytest.fixture(scope="session")
def small_partners(tmp_path_factory) -> SmallPartners:
    """The first build of two modules' hand-made partners, in one warehouse, once per test
    session: tests/test_onboarding.py's (tests/onboarding_landing.py: bankline, cityreq) and
    tests/test_ingest_rows.py's (tests/ingest_rows_landing.py: resender, switcher), every file
    delivered an hour ago, built with test_ingest_rows.py's settle interval (5 minutes). One
    `hub build` instead of one per module: every build of a tiny warehouse costs about 20
    CPU-seconds of fixed work (docs/benchmarks-journal.md, "The test suite"). Tests must not
    change it: they build on a copy (copy_data_dir)."""
    import time

    from tests.ingest_rows_landing import SETTLE, write_ingest_rows_landing
    from tests.onboarding_landing import write_onboarding_landing

    root = _session_root(tmp_path_factory) / "small_partners"
    data, partners = root / "data", root / "partners_all"

    def build() -> None:
        landing, onboarding = write_onboarding_landing(root)  # root/landing, root/partners
        hour_ago = time.time() - 3600  # delivered an hour ago: settled
        for path in landing.rglob("*"):
            os.utime(path, (hour_ago, hour_ago))
        data.mkdir()
        landing.rename(data / "landing")
        shutil.copytree(onboarding, partners)
        write_ingest_rows_landing(data / "landing", partners)
        proc = hub(hub_env(data, HUB_PARTNERS_DIR=str(partners), HUB_SETTLE_SECONDS=SETTLE),
                   "build")
        (root / "build.out").write_text(proc.stdout, encoding="utf-8")
        (root / "build.err").write_text(proc.stderr, encoding="utf-8")

    _built_once(root, build)
    first = subprocess.CompletedProcess(
        ["hub", "build"], 0, (root / "build.out").read_text(encoding="utf-8"),
        (root / "build.err").read_text(encoding="utf-8"))
    return SmallPartners(data, partners, root / "partners", first)


class RunningSuperset:
    """A real Superset server provisioned from the repository's assets, over built_warehouse."""

    def __init__(self, ss, proc, admin_password: str, demo_password: str):
        self.ss, self.proc = ss, proc
        self.url = ss.url
        self.admin_password, self.demo_password = admin_password, demo_password
        self._clients: dict[tuple[str, str], object] = {}
        self.reports_dir: Path | None = None

    def client(self, username: str = "admin", password: str | None = None,
               fresh: bool = False):
        """An API client logged in as `username`: one per user for the session (a login costs
        Superset a deliberately slow password hash), or a new one with `fresh` (e.g. for
        another thread: a client is not shared between threads)."""
        from tests.superset_client import SupersetClient

        if password is None:
            password = self.admin_password if username == "admin" else self.demo_password
        if fresh:
            return SupersetClient(self.url, username, password)
        key = (username, password)
        if key not in self._clients:
            self._clients[key] = SupersetClient(self.url, username, password)
        return self._clients[key]


@pytest.fixture(scope="session")
def superset_server(built_warehouse, tmp_path_factory):
    """Superset on a free loopback port, bootstrapped once per session (demo users on)."""
    import secrets

    from dagster_project.dashboards import server
    from dagster_project.dashboards.settings import SupersetSettings
    from dagster_project.readiness import free_port

    admin_password, demo_password = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    reports_dir = tmp_path_factory.mktemp("reports")  # the board packs its /hub-reports/ serves
    # the server's settings come from the environment, as it was again once it has started
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {
                "HUB_DATA_DIR": str(built_warehouse.data_dir), "HUB_REPORTS_DIR": str(reports_dir),
                "HUB_SUPERSET_HOME": str(tmp_path_factory.mktemp("superset")),
                "HUB_SUPERSET_PORT": str(free_port()), "HUB_MODE": "demo",
                "HUB_SUPERSET_ADMIN_PASSWORD": admin_password,
                "HUB_DEMO_PASSWORD": demo_password}.items():
            patch.setenv(key, value)
        ss = SupersetSettings.from_env(built_warehouse)
        proc = server.launch(ss)
    running = RunningSuperset(ss, proc, admin_password, demo_password)
    running.reports_dir = reports_dir
    yield running
    server.stop(proc)


@pytest.fixture(scope="module")
def client(superset_server):
    """A Superset API client logged in as admin."""
    return superset_server.client()


@pytest.fixture(scope="module")
def admin(client):
    """The admin client, by that name where tests compare users."""
    return client


@pytest.fixture(scope="module")
def marts(superset_server):
    """Run SQL on the serving warehouse Superset reads (read-only, a connection per query).
    tests/test_crm_kpis_recomputed.py has its own `marts` (a connection to the same file)."""
    import duckdb

    serving_db = str(superset_server.ss.hub.serving_db)

    def sql(query: str, *params):
        con = duckdb.connect(serving_db, read_only=True)
        try:
            return con.execute(query, list(params)).fetchall()
        finally:
            con.close()

    return sql


# --- running the suite on two cores (pytest-xdist, `make test`) ------------------------------
#
# `make test` runs pytest with `-n 2 --dist loadscope --no-loadscope-reorder`: xdist hands each
# worker whole test modules (a module's own fixtures are set up once, on one worker), except that
# every module of the session's Superset server (tests/test_superset_*.py) goes to the same
# worker as one unit: one server; so do the two modules of the small partners' shared first
# build (small_partners: tests/test_ingest_rows.py, tests/test_onboarding.py), which the other
# worker would otherwise wait for. The session warehouse is built once for both workers
# (built_warehouse). Modules are handed out in this order: the Superset unit first (the longest
# chain: warehouse, then Superset, then its tests), then the modules that do not need the
# session warehouse, then those that do (by then it is built). (Not `--dist loadgroup`: with
# pytest 9.2, xdist 3.8 can no longer tag node ids with their group, so it ignores the groups.)

SUPERSET_MODULES = "test_superset_"
# (module name prefix, unit): the modules handed to one worker together
UNITS = ((SUPERSET_MODULES, "superset"), ("test_ingest_rows.py", "small_partners"),
         ("test_onboarding.py", "small_partners"))


# The longest modules (about a minute or more each), longest first: within their rank they are
# handed out first, so that no long one starts last while the other worker sits idle
# (test_ingest_rows with test_onboarding: one unit, the small partners').
LONG_MODULES = ("test_incremental", "test_ingest_rows", "test_build_safety", "test_production",
                "test_serve_supervision", "test_bench", "test_dbt_unit")


def _module_rank(item: pytest.Item) -> tuple[int, int]:
    """(0: Superset unit; 1: no session warehouse; 2: the session warehouse), then the long
    modules first."""
    name = item.module.__name__.rsplit(".", 1)[-1]
    length = LONG_MODULES.index(name) if name in LONG_MODULES else len(LONG_MODULES)
    if name.startswith(SUPERSET_MODULES):
        return 0, length
    return (2 if _MODULES_USING_WAREHOUSE.get(item.module.__name__) else 1), length


_MODULES_USING_WAREHOUSE: dict[str, bool] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not hasattr(config, "workerinput"):  # only xdist workers: the order they run in
        return
    for item in items:
        name = item.module.__name__
        _MODULES_USING_WAREHOUSE[name] = (_MODULES_USING_WAREHOUSE.get(name, False)
                                          or "built_warehouse" in item.fixturenames)
    items.sort(key=_module_rank)  # stable: file order otherwise


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """loadscope, with each of UNITS as one scope."""
    from xdist.scheduler import LoadScopeScheduling

    class Scheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            return next((unit for prefix, unit in UNITS if f"/{prefix}" in f"/{scope}"), scope)

    return Scheduling(config, log)


def pytest_configure(config: pytest.Config) -> None:
    """Before xdist starts its workers: parse the dbt project once if its manifest is stale,
    so that no two workers' builds write dbt/target/ at the same time."""
    from_xdist = config.pluginmanager.hasplugin("xdist") and config.getoption("numprocesses")
    if from_xdist and not hasattr(config, "workerinput"):
        from dagster_project.dbt_runner import ensure_manifest

        ensure_manifest(Settings.from_env())
