"""The production stack (docker-compose.yml) run without Docker, from the compose file itself.

PostgreSQL and Redis come from Debian's packages (`make servers`); every other service runs the
compose file's command with its environment from the repository's virtual environment
(tests/compose_stack.py says exactly what differs). The daemon's landing sensor sees a landed
delivery, the queued run builds and publishes, and Superset (metadata in PostgreSQL, caches in
Redis) shows a partner user its own rows only. The last test checks that what ran is what the
compose file says, so that the two cannot drift.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg2
import pytest
import redis
import requests

from dagster_project.readiness import free_port
from dagster_project.settings import REPO_ROOT
from tests.compose_stack import (
    COMPOSE_FILE,
    CONTAINER_PORTS,
    Loopback,
    Service,
    dockerfile_env,
    load_compose,
    mounted_read_only,
    start_order,
    wait_for,
)
from tests.local_servers import postgres_workdir, start_postgres, start_redis
from tests.superset_client import SupersetClient

SERVICES = {"postgres", "redis", "init", "code", "dagster-webserver", "dagster-daemon",
            "superset"}
VOLUMES = {"postgres", "landing", "data", "reports", "dagster", "superset"}
# One month of the fictional partners' sample data (telephony and CRM), small.
LANDING_ARGS = ["--months", "1", "--end-month", "2024-03", "--seed", "7", "--scale", "0.1"]
PARTNER = "eastbrook"
COUNT = {"expressionType": "SQL", "sqlExpression": "count(*)", "label": "n_rows"}


def env_file() -> dict[str, str]:
    """What the operator's `.env` holds (.env.example): generated secrets, and short intervals
    (files are moved in whole: no settle time; the sensor looks every 2 s; one web worker)."""
    names = [line.split("=", 1)[0] for line in
             (REPO_ROOT / ".env.example").read_text().splitlines()
             if line and not line.startswith("#")]
    values = {name: secrets.token_hex(16) for name in names}
    values.update(HUB_SETTLE_SECONDS="0", HUB_LANDING_SENSOR_SECONDS="2", SUPERSET_WORKERS="1")
    return values


class Stack:
    def __init__(self, root: Path):
        self.root = root
        self.variables = env_file()
        self.compose = load_compose(self.variables)
        self.loopback = Loopback({name: free_port() for name in CONTAINER_PORTS},
                                 root / "volumes")
        image_env = dockerfile_env()
        self.services = {name: Service(name, spec, self.loopback, image_env)
                         for name, spec in self.compose["services"].items()}
        self.logs = root / "logs"
        self.logs.mkdir(parents=True)
        self.volumes: dict[str, Path] = {}  # named volume -> this test's folder
        self.started: list[str] = []
        self.init_runs = 0
        self.pg_dir: Path | None = None
        self.landed: list[Path] = []
        self.timings: dict[str, float] = {}
        self.killed: list[str] = []  # services that outlived the stop grace period

    def mount_volumes(self) -> None:
        for name, service in self.services.items():
            for mount in service.spec.get("volumes", []):
                source, target = mount.split(":")[:2]
                if source not in self.compose["volumes"]:
                    continue  # a bind mount of the repository (the postgres init script)
                if name == "postgres":  # Debian's server keeps its data in its own folder
                    continue
                folder = self.loopback.path(target)
                assert self.volumes.setdefault(source, folder) == folder, (
                    f"volume {source} is mounted at different paths")
                folder.mkdir(parents=True, exist_ok=True)

    def satisfy(self, name: str) -> None:
        """Wait for the `depends_on` conditions of service `name`."""
        for dep, rule in (self.services[name].spec.get("depends_on") or {}).items():
            condition = rule["condition"]
            if condition == "service_healthy":
                self.services[dep].wait_healthy()
            elif condition == "service_completed_successfully":
                service = self.services[dep]
                assert service.wait_exit(600) == 0, f"{dep} failed:\n{service.log_tail()}"
            else:
                raise AssertionError(f"{name}: unknown depends_on condition {condition}")

    def up(self, after: dict[str, Callable[[], None]] | None = None) -> None:
        """Start every service once its `depends_on` conditions hold; `after[name]` runs once
        `name` has started. Then wait until every service with a health check is healthy."""
        self.mount_volumes()
        for name in start_order(self.compose["services"]):
            self.satisfy(name)
            service = self.services[name]
            if name == "postgres":
                self.pg_dir = postgres_workdir()
                start_postgres(service, self.pg_dir, self.logs)
            elif name == "redis":
                redis_dir = self.root / "redis"
                redis_dir.mkdir()
                start_redis(service, redis_dir, self.logs)
            else:
                service.start(self.logs)
                self.init_runs += name == "init"
            self.started.append(name)
            if after and name in after:
                after[name]()
        for name in self.started:
            if "healthcheck" in self.services[name].spec:
                self.services[name].wait_healthy()

    def run_init(self) -> None:
        """`docker compose run --rm init`, as after the first build (README "Production")."""
        init = self.services["init"]
        assert init.run_once(self.logs, 600) == 0, init.log_tail()
        self.init_runs += 1

    def down(self) -> None:
        """Stop the stack as compose does: dependents before what they depend on, those of a
        level together (the Dagster and Superset processes, then PostgreSQL and Redis)."""
        started = time.monotonic()
        servers = [n for n in reversed(self.started) if n in ("postgres", "redis")]
        for level in ([n for n in reversed(self.started) if n not in servers], servers):
            for name in level:
                self.services[name].terminate()
            for name in level:
                if not self.services[name].stop():
                    self.killed.append(name)
        self.timings["down"] = time.monotonic() - started
        if self.pg_dir is not None:
            shutil.rmtree(self.pg_dir, ignore_errors=True)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.loopback.ports[service]}"

    def graphql(self, query: str) -> dict:
        answer = requests.post(f"{self.url('dagster-webserver')}/graphql",
                               json={"query": query}, timeout=30)
        answer.raise_for_status()
        return answer.json()["data"]

    def sql(self, dbname: str, query: str, *params) -> list[tuple]:
        """A query on the stack's `dagster` or `superset` database, as its owner."""
        pg = self.services["postgres"].env
        prefix = "DAGSTER_PG" if dbname == "dagster" else "SUPERSET_PG"
        con = psycopg2.connect(host="127.0.0.1", port=self.loopback.ports["postgres"],
                               dbname=pg[f"{prefix}_DB"], user=pg[f"{prefix}_USER"],
                               password=pg[f"{prefix}_PASSWORD"])
        try:
            with con.cursor() as cur:
                cur.execute(query, params)
                return cur.fetchall()
        finally:
            con.close()


def land_delivery(stack: Stack) -> list[Path]:
    """Generate a month of sample files elsewhere, then move them into the landing volume
    (each file appears whole, as a partner's upload completed by a rename)."""
    staging = stack.root / "staging"
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(stack.root),
           "HUB_DATA_DIR": str(staging)}
    subprocess.run([str(Path(sys.executable).with_name("hub")), "generate", *LANDING_ARGS],
                   env=env, check=True, capture_output=True)
    landing = stack.volumes["landing"]
    moved = []
    for path in sorted((staging / "landing").rglob("*")):
        if path.is_file():
            target = landing / path.relative_to(staging / "landing")
            target.parent.mkdir(parents=True, exist_ok=True)
            path.rename(target)
            moved.append(target)
    assert moved
    return moved


def dagster_home_files() -> dict[str, float]:
    home = REPO_ROOT / "deploy" / "dagster"
    return {str(p.relative_to(home)): p.stat().st_mtime for p in home.rglob("*")}


RUNS = """{ runsOrError(filter: {tags: [{key: "hub/trigger", value: "%s"}]})
  { ... on Runs { results { runId status } } } }"""


def runs(stack: Stack, trigger: str) -> list[dict]:
    return stack.graphql(RUNS % trigger)["runsOrError"]["results"]


def exec_hub_build(stack: Stack, name: str) -> tuple[subprocess.Popen, str, Path]:
    """`docker compose exec code hub build --full-refresh`, once its run has started (in
    PostgreSQL): its process (in a session of its own), its run id and its output's file."""
    code = stack.services["code"]
    log = stack.logs / f"exec-hub-build-{name}.log"
    earlier = {r["runId"] for r in runs(stack, "hub build")}  # a killed one may be STARTED
    with log.open("w", encoding="utf-8") as out:
        argv = code.resolve(["hub", "build", "--full-refresh"], code.env)
        proc = subprocess.Popen(code.in_container(argv),
                                env=code.env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        (run,) = wait_for(lambda: [r for r in runs(stack, "hub build")
                                   if r["status"] == "STARTED" and r["runId"] not in earlier],
                          120,
                          "`hub build`'s run to start", proc, log.read_text, poll=0.1)
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        raise
    return proc, run["runId"], log


def kill_a_hub_build(stack: Stack) -> str:
    """A `hub build` `kill -9`ed once its run has started: the run's process is gone without
    reporting its end. Returns its run id."""
    proc, run_id, _ = exec_hub_build(stack, "killed")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
    return run_id


TERMINATE = """mutation { terminateRun(runId: "%s") { __typename
  ... on TerminateRunFailure { message } ... on PythonError { message } } }"""


# A Terminate the webserver records in the last seconds of a run can come after the build's last
# look at its run (every second: stop_request.EVERY_SECONDS), too late to stop it: the run ends
# a success. A busy machine's webserver can take that long to answer. Such an attempt is made
# again, up to TERMINATE_ATTEMPTS times; a Terminate recorded earlier that does not stop the
# build fails the test.
LATE_SECONDS = 3.0
TERMINATE_ATTEMPTS = 3


def terminate_a_hub_build(stack: Stack) -> dict:
    """A `hub build` terminated from the Dagster UI once its run has started (again when the
    Terminate came too late: LATE_SECONDS)."""
    for attempt in range(1, TERMINATE_ATTEMPTS + 1):
        stopped = _terminate_once(stack, f"terminated-{attempt}")
        stopped["attempts"] = attempt
        if not _terminated_too_late(stack, stopped["run_id"]):
            break
    return stopped


def _terminated_too_late(stack: Stack, run_id: str) -> bool:
    """Whether the run succeeded within LATE_SECONDS of its Terminate."""
    times = {kind: float(at) for kind, at in stack.sql(
        "dagster", "select dagster_event_type, extract(epoch from timestamp) from event_logs "
        "where run_id = %s and dagster_event_type in ('PIPELINE_CANCELING', 'PIPELINE_SUCCESS')",
        run_id)}
    canceling, succeeded = times.get("PIPELINE_CANCELING"), times.get("PIPELINE_SUCCESS")
    return canceling is not None and succeeded is not None and succeeded - canceling < LATE_SECONDS


def _terminate_once(stack: Stack, name: str) -> dict:
    """A `hub build` terminated from the Dagster UI once its run has started: the webserver's
    `terminateRun`, in another service than the build (in production another container, which
    cannot signal it). What the mutation answered, the build's exit status and output, and the
    served warehouse's bytes before and after."""
    serving = stack.volumes["data"] / "serving" / "warehouse.duckdb"
    before = serving.read_bytes()
    proc, run_id, log = exec_hub_build(stack, name)
    try:
        answer = stack.graphql(TERMINATE % run_id)["terminateRun"]
        returncode = proc.wait(120)  # stopped within seconds; bounded for a busy machine
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
    engine_events = [row[0][:2000] for row in stack.sql(
        "dagster", "select event from event_logs where run_id = %s and "
        "dagster_event_type = 'ENGINE_EVENT'", run_id)]
    # the run's status as Dagster recorded it, in order (who marked it what), for the messages
    statuses = [f"{row[0]} at {row[1]}: {row[2][:400]}" for row in stack.sql(
        "dagster", "select dagster_event_type, timestamp, event from event_logs where run_id = %s "
        "and dagster_event_type like 'PIPELINE_%%' order by id", run_id)]
    return {"run_id": run_id, "answer": answer, "returncode": returncode,
            "output": log.read_text(errors="replace"), "engine_events": engine_events,
            "statuses": statuses, "served_unchanged": serving.read_bytes() == before}


def _told(stopped: dict) -> str:
    """A stopped build's story, for a failed assertion: the run's recorded statuses, then the
    start and the end of its output (a step's traceback comes before the summary)."""
    output = stopped["output"]
    return "\n".join([f"attempt {stopped['attempts']}", *stopped["statuses"], "--- output:",
                      output[:4000], "[...]", output[-2000:]])


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("production"))
    stack.dagster_home_before = dagster_home_files()
    started = time.monotonic()

    def land() -> None:  # once the daemon runs: the delivery arrives while the stack is up
        stack.landed = land_delivery(stack)

    try:
        stack.up(after={"dagster-daemon": land})
        stack.timings["up"] = time.monotonic() - started

        def finished():
            done = [r for r in runs(stack, "landing_files_sensor")
                    if r["status"] in ("SUCCESS", "FAILURE", "CANCELED")]
            return done or None

        daemon = stack.services["dagster-daemon"]
        stack.sensor_runs = wait_for(finished, 600, "the landing sensor's run to finish",
                                     daemon.proc, lambda: stack.services["code"].log_tail())
        stack.timings["sensor run"] = time.monotonic() - started
        stack.killed_build = kill_a_hub_build(stack)  # judged by the daemon meanwhile
        stack.terminated_build = terminate_a_hub_build(stack)
        stack.run_init()
        stack.timings["init again"] = time.monotonic() - started
        yield stack
    finally:
        stack.down()
        print("production stack, seconds since start:", {
            k: round(v, 1) for k, v in stack.timings.items()},
            "; killed after the grace period:", stack.killed or "none")


def test_sensor_run_queued_built_and_published(stack):
    (run,) = stack.sensor_runs
    assert run["status"] == "SUCCESS", stack.services["code"].log_tail(80)
    serving = stack.volumes["data"] / "serving" / "warehouse.duckdb"
    assert serving.exists()
    # Dagster's storage is PostgreSQL: the run went through the daemon's queue.
    events = {row[0] for row in stack.sql(
        "dagster", "select dagster_event_type from event_logs where run_id = %s", run["runId"])}
    assert {"PIPELINE_ENQUEUED", "PIPELINE_STARTING", "PIPELINE_SUCCESS"} <= events
    # DAGSTER_HOME is the image's /app/deploy/dagster: nothing may be written there.
    assert dagster_home_files() == stack.dagster_home_before


def test_a_killed_hub_build_is_marked_failed_by_the_daemon(stack):
    """The daemon's run monitoring probes the writer lock in the `data` volume (mounted read-only
    in its container): the run of the `hub build` killed in the fixture is failed, with the
    reason, instead of holding the one-run queue for ever."""
    run_id = stack.killed_build
    wait_for(lambda: [r for r in runs(stack, "hub build")
                      if r["runId"] == run_id and r["status"] == "FAILURE"], 120,
             "the daemon to fail the killed build's run", stack.services["dagster-daemon"].proc,
             stack.services["dagster-daemon"].log_tail)
    (event,) = stack.sql("dagster", "select event from event_logs where run_id = %s and "
                         "dagster_event_type = 'PIPELINE_FAILURE'", run_id)
    assert "no build holds the writer lock" in event[0], event[0][:2000]


def test_terminate_in_the_dagster_ui_stops_a_hub_build_in_another_service(stack):
    """The webserver marks the run CANCELING; the build, in the `code` service, sees it and stops
    as Ctrl-C stops it: status 1, the served warehouse unchanged, the run CANCELED."""
    stopped = stack.terminated_build
    assert stopped["answer"]["__typename"] == "TerminateRunSuccess", (
        stopped["answer"], stopped["engine_events"])
    assert stopped["returncode"] == 1, _told(stopped)
    assert "interrupted (SIGTERM or Ctrl-C)" in stopped["output"], _told(stopped)
    assert stopped["served_unchanged"], stopped["output"][-3000:]
    matching = [r for r in runs(stack, "hub build") if r["runId"] == stopped["run_id"]]
    assert [r["status"] for r in matching] == ["CANCELED"], (matching, stopped["engine_events"])
    (event,) = stack.sql("dagster", "select event from event_logs where run_id = %s and "
                         "dagster_event_type = 'PIPELINE_CANCELING'", stopped["run_id"])
    assert "asked `hub build` (pid" in event[0], event[0][:2000]


def _rows(answer) -> list[dict]:
    assert answer.status_code == 200, answer.text[:500]
    return [row for result in answer.json()["result"] for row in result["data"]]


def test_partner_user_sees_only_its_rows(stack):
    url = stack.url("superset")
    admin = SupersetClient(url, "admin", stack.variables["SUPERSET_ADMIN_PASSWORD"])
    dataset = next(d for d in admin.datasets() if d["table_name"] == "kpi_deliveries")
    everyone = {r["partner_code"] for r in _rows(admin.query(dataset["id"], ["partner_code"],
                                                             [COUNT]))}
    assert PARTNER in everyone and len(everyone) > 1
    # An operator adds a partner user (production creates no demo users).
    role = admin.json("/api/v1/security/roles/", q=(
        f"(filters:!((col:name,opr:eq,value:Partner_{PARTNER})))"))["result"]
    assert len(role) == 1, role
    password = secrets.token_hex(12)
    created = admin.post("/api/v1/security/users/", {
        "username": f"user_{PARTNER}", "first_name": "Partner", "last_name": "User",
        "email": f"user_{PARTNER}@hub.invalid", "password": password, "active": True,
        "roles": [role[0]["id"]]})
    assert created.status_code in (200, 201), created.text[:500]
    partner = SupersetClient(url, f"user_{PARTNER}", password)
    rows = _rows(partner.query(dataset["id"], ["partner_code"], [COUNT]))
    assert {r["partner_code"] for r in rows} == {PARTNER}
    assert all(r["n_rows"] > 0 for r in rows)

    # Superset's metadata is in PostgreSQL, without demo users; its caches are in Redis.
    users = {row[0] for row in stack.sql("superset", "select username from ab_user")}
    assert {"admin", f"user_{PARTNER}"} <= users and "board" not in users
    # Session cookies only over HTTPS (the TLS proxy in front).
    login_page = requests.get(f"{url}/login/", timeout=30)
    assert re.search(r"session=[^;]*;.*Secure", login_page.headers.get("Set-Cookie", ""), re.I)
    # The page's bootstrap data is memoized in CACHE_CONFIG: in Redis, not in the worker.
    cache = redis.Redis(port=stack.loopback.ports["redis"],
                        password=stack.variables["REDIS_PASSWORD"])
    assert cache.keys("superset_metadata_*"), cache.keys("*")


def test_what_ran_is_what_the_compose_file_says(stack):
    compose = stack.compose
    assert set(compose["services"]) == SERVICES
    assert set(compose["volumes"]) == VOLUMES
    assert set(stack.started) == SERVICES and stack.init_runs == 2
    hosts: set[str] = set()
    running = 0
    for name, service in stack.services.items():
        spec = compose["services"][name]
        if name in ("postgres", "redis"):
            continue  # Debian's servers (tests/local_servers.py), checked below
        # the command as written, each program from the image's PATH (the virtual environment)
        assert [Path(service.argv[0]).name, *service.argv[1:]] == [
            service.command[0], *stack.loopback.args(service.command)[1:]], name
        assert Path(service.argv[0]).parent == Path(sys.executable).parent, name
        # every variable of the service (and of the image), and none other
        image = set(dockerfile_env())
        assert set(service.env) == {"HOME", "LANG", "PATH"} | image | set(spec["environment"])
        for key, value in spec["environment"].items():
            assert service.env[key] == stack.loopback.env_value(key, str(value)), (name, key)
        # its volumes are the test's folders of the same names, the `:ro` ones mounted
        # read-only for the service's process (a mount namespace of its own)
        for mount in spec.get("volumes", []):
            source, target = mount.split(":")[:2]
            assert stack.volumes[source] == stack.loopback.path(target), (name, mount)
        for folder in service.read_only_folders():
            assert service.proc.poll() is None, name
            assert mounted_read_only(service.proc.pid, folder), (name, folder)
        # a host of its own, as a container has (its own UTS namespace, named after it)
        if service.proc.poll() is None:
            assert os.readlink(f"/proc/{service.proc.pid}/ns/uts") != os.readlink(
                "/proc/self/ns/uts"), name
            hosts.add(os.readlink(f"/proc/{service.proc.pid}/ns/uts"))
            running += 1
    assert len(hosts) == running >= 3  # code, the webserver, the daemon, Superset
    assert stack.services["redis"].argv[:len(compose["services"]["redis"]["command"])] == [
        shutil.which("redis-server"), *compose["services"]["redis"]["command"][1:]]
    # the services the stack needs are the ones the compose file starts, in its order
    assert compose["services"]["code"]["command"][:5] == [
        "dagster", "api", "grpc", "-m", "dagster_project.definitions"]
    assert compose["services"]["init"]["command"] == ["hub", "superset", "--provision-only"]
    assert compose["services"]["superset"]["command"][0] == "gunicorn"
    for name in ("code", "dagster-webserver", "dagster-daemon"):
        assert compose["services"][name]["environment"]["DAGSTER_HOME"] == "/app/deploy/dagster"
    assert COMPOSE_FILE.exists()


def test_env_example_lists_every_secret_and_env_is_ignored():
    """Every `${VAR:?...}` of the compose file is in .env.example, and `.env` is not in git."""
    text = COMPOSE_FILE.read_text()
    required = set(re.findall(r"\$\{(\w+):\?", text))
    optional = set(re.findall(r"\$\{(\w+):-", text))
    example = (REPO_ROOT / ".env.example").read_text()
    listed = {line.split("=", 1)[0] for line in example.splitlines()
              if line and not line.startswith("#")}
    commented = set(re.findall(r"^# (\w+)=", example, flags=re.M))
    assert listed == required
    assert optional <= commented
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=REPO_ROOT, check=False)
    assert ignored.returncode == 0
