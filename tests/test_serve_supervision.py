"""`hub serve` stopped the way a service manager stops it, or killed outright: every process it
started (Superset's gunicorn and its worker, `dagster dev` and its webserver, daemon and code
server) is gone and both ports are free within seconds. Real `hub serve` processes on free
ports, over a copy of the session's warehouse (dagster_project/supervisor.py). The first, once
up, has marked failed a run a killed build left (dagster_project/orchestration/run_launcher.py)."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.readiness import free_port
from dagster_project.supervisor import descendants
from tests.conftest import copy_data_dir, hub_env, settings_of

HUB = str(Path(sys.executable).with_name("hub"))
UP = "Hub Warehouse is up"
LEFT_BY_A_KILL = "0b1d2c3e-4f50-4617-8293-a4b5c6d7e8f9"  # a run id
FAILED = dg.DagsterRunStatus.FAILURE


@pytest.fixture(scope="module")
def serve_env(built_warehouse, tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("serve")
    data = copy_data_dir(built_warehouse.data_dir, root / "data")
    # A run a killed `hub build` left STARTED (as tests/test_build_safety.py's `kill -9`s leave
    # theirs): the first `hub serve`'s daemon must mark it failed, or it holds the one-run queue
    # for ever (dagster_project/orchestration/run_launcher.py).
    with _instance(data) as instance:
        instance.add_run(dg.DagsterRun(job_name="build_warehouse", run_id=LEFT_BY_A_KILL,
                                       status=dg.DagsterRunStatus.STARTED,
                                       tags={"hub/trigger": "hub build"}))
    # one Superset home for both tests: the second `hub serve` skips the migrations. The
    # temporary files of the processes killed (the code servers' sockets, Chromium's profile)
    # stay in the test's folder.
    (root / "tmp").mkdir()
    return hub_env(data, HUB_SUPERSET_HOME=str(root / "superset"), HUB_MODE="demo",
                   HUB_SUPERSET_ADMIN_PASSWORD=secrets.token_urlsafe(12),
                   HUB_DEMO_PASSWORD=secrets.token_urlsafe(12), HUB_STOP_GRACE_SECONDS="5",
                   TMPDIR=str(root / "tmp"))


def _instance(data: Path) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(settings_of(data).dagster_home))


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _serve(env: dict[str, str], out: Path) -> tuple[subprocess.Popen, list[int], list[int]]:
    """A real `hub serve` (its own process group, as under a service manager), once up: the
    process, its ports, every process below it."""
    ports = [free_port(), free_port()]
    env = dict(env, HUB_SUPERSET_PORT=str(ports[0]), HUB_DAGSTER_PORT=str(ports[1]))
    proc = subprocess.Popen([HUB, "serve"], env=env, stdout=out.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 400
    while UP not in out.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"hub serve did not come up ({proc.poll()}):\n{out.read_text()[-3000:]}")
        time.sleep(0.5)
    tree = descendants(proc.pid)
    try:
        # Dagster's warning that `dg dev` (not installed) supersedes `dagster dev` is filtered
        assert "dg dev" not in out.read_text(), out.read_text()[-3000:]
        commands = " ".join(_command(pid) for pid in tree)
        # Superset's gunicorn and `dagster dev` with the webserver, daemon and code server
        for server in ("gunicorn", "dagster dev", "-m dagster_webserver", "-m dagster._daemon",
                       "dagster api grpc"):
            assert server in commands, (server, commands)
        assert not any(_port_free(port) for port in ports)
    except BaseException:
        _kill(proc, tree)
        raise
    return proc, ports, tree


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


def _kill(proc: subprocess.Popen, tree: list[int]) -> None:
    """Leave nothing running after a failed test."""
    for pid in [proc.pid, *tree]:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    proc.wait()


def _semaphores(pids: list[int]) -> set[Path]:
    """The named semaphores in /dev/shm (Python's multiprocessing makes them: a Dagster code
    server for each run's queue) that the processes `pids` have mapped."""
    found = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            found.update(Path(line.split()[-1]) for line in
                         Path(f"/proc/{pid}/maps").read_text().splitlines()
                         if line.split()[-1].startswith("/dev/shm/sem."))
    return found


def _stopped(tree: list[int], ports: list[int], semaphores: set[Path]) -> float:
    """_all_gone, and none of the named semaphores of the stopped processes left behind (a run
    in progress leaves them if multiprocessing's resource tracker is killed with it)."""
    seconds = _all_gone(tree, ports)
    assert not [sem for sem in semaphores if sem.exists()], "semaphores left in /dev/shm"
    return seconds


def _all_gone(tree: list[int], ports: list[int], timeout: float = 30) -> float:
    """Seconds until every process of `tree` has exited and both ports are free."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if not any(_alive(pid) for pid in tree) and all(_port_free(p) for p in ports):
            return time.monotonic() - start
        time.sleep(0.2)
    left = [_command(pid)[:120] for pid in tree if _alive(pid)]
    for pid in tree:  # do not leave them to the next test
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    pytest.fail(f"after {timeout:.0f}s still running: {left}; ports free: "
                f"{[_port_free(p) for p in ports]}")


def test_sigterm_to_the_group_then_sigkill_stops_everything(serve_env, tmp_path):
    """Up first: the run a killed build left is marked failed by the daemon's run monitoring.
    Then stopped with a grace of 1 s, so the supervisor's SIGKILLs reach the processes of the
    board-pack run in progress: its semaphores must not be left behind."""
    proc, ports, tree = _serve(dict(serve_env, HUB_STOP_GRACE_SECONDS="1"),
                               tmp_path / "serve.out")
    try:
        deadline = time.monotonic() + 60
        with _instance(Path(serve_env["HUB_DATA_DIR"])) as instance:
            while (status := instance.get_run_by_id(LEFT_BY_A_KILL).status) != FAILED:
                assert time.monotonic() < deadline, f"the run a kill left is still {status}"
                time.sleep(0.5)
        assert "no build holds the writer lock" in (tmp_path / "serve.out").read_text()
    except BaseException:
        _kill(proc, descendants(proc.pid))
        raise
    tree = sorted({*tree, *descendants(proc.pid)})  # with a run's processes, if one runs
    semaphores = _semaphores(tree)
    # as a service manager stops a service: SIGTERM to its process group, SIGKILL a few
    # seconds later to whatever is left in it
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=3)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    print(f"SIGTERM ({len(semaphores)} semaphores): everything gone, ports free in "
          f"{_stopped(tree, ports, semaphores):.1f}s")


def test_sigkill_of_hub_serve_alone_stops_everything(serve_env, tmp_path):
    proc, ports, tree = _serve(serve_env, tmp_path / "serve.out")
    tree = sorted({*tree, *descendants(proc.pid)})
    semaphores = _semaphores(tree)
    os.kill(proc.pid, signal.SIGKILL)  # no clean-up of its own at all
    proc.wait()
    print(f"SIGKILL ({len(semaphores)} semaphores): everything gone, ports free in "
          f"{_stopped(tree, ports, semaphores):.1f}s")
