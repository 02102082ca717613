"""The writer lock (dagster_project/writer_lock.py): real processes holding it, `kill -9` of the
holder, and a Dagster run holding it for the whole run. Two real concurrent `hub build`s are in
tests/test_build_safety.py."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.orchestration.resources import WriterLockResource
from dagster_project.writer_lock import (
    WriterBusy,
    holder_path,
    is_locked,
    lock_path,
    read_holder,
    writer_lock,
)
from tests.compose_stack import namespaces

RUN_ID = "3f2a1b0c-5d6e-4f70-8192-a3b4c5d6e7f8"

# The holder stops when told (SIGTERM at its default, whatever it inherited: once in a suite run
# it was started with SIGTERM ignored, after a Dagster run in its worker, and would have held the
# lock until its sleep ran out; tests/conftest.py now puts the worker's handlers back after each
# test) and never holds the lock for more than two minutes.
HOLD = """
import signal, sys, time
from pathlib import Path
from dagster_project.writer_lock import writer_lock
signal.signal(signal.SIGTERM, signal.SIG_DFL)
with writer_lock(Path(sys.argv[1]), sys.argv[2], run_id=sys.argv[3] or None):
    print("held", flush=True)
    time.sleep(120)
"""


def _holder(work_db: Path, who: str, run_id: str = "") -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(work_db), who, run_id],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def _until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_a_second_writer_is_told_who_holds_the_lock_and_kill_9_leaves_no_stale_lock(tmp_path):
    work_db = tmp_path / "work" / "warehouse.duckdb"
    holder = _holder(work_db, "landing_files_sensor", RUN_ID)
    try:
        assert is_locked(work_db)
        info = read_holder(work_db)
        assert (info.who, info.pid, info.run_id) == ("landing_files_sensor", holder.pid, RUN_ID)
        with pytest.raises(WriterBusy) as busy, writer_lock(work_db, "hub build", wait=False):
            pass
        started = time.strftime("%H:%M")  # the holder started a moment ago
        assert str(busy.value).startswith(
            f"the build started {started} by the landing sensor (run 3f2a1b0c…) is still "
            f"writing {work_db}") or time.strftime("%H:%M") != started

        # a waiting writer: told once whom it waits for, then gets the lock when the holder is
        # killed (-9: no clean-up of its own, the kernel releases the flock)
        messages: list[str] = []
        acquired = threading.Event()

        def wait_for_it():
            with writer_lock(work_db, "hub build", on_wait=messages.append, poll_seconds=0.05):
                acquired.set()

        waiter = threading.Thread(target=wait_for_it)
        waiter.start()
        assert _until(lambda: messages, 5)
        assert not acquired.is_set()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        assert acquired.wait(5), "the lock of a killed holder was not released"
        waiter.join(5)
        assert messages == ["waiting for the build started "
                            f"{read_started(messages[0])} by the landing sensor (run 3f2a1b0c…)"]
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert not is_locked(work_db)
    assert not holder_path(work_db).exists()  # the waiter's record, removed at its release
    # re-entrant in one process (`hub build` holds it, then its in-process job takes it again)
    with writer_lock(work_db, "hub build") as outer, writer_lock(work_db, "x", wait=False) as inner:
        assert outer is not None and inner is None
        assert read_holder(work_db).who == "hub build"


def read_started(message: str) -> str:
    return message.split("started ", 1)[1].split(" by ", 1)[0]


def _release_when_waited_for(holder: subprocess.Popen, work_db: Path) -> None:
    """Stop the holder once this process has the lock file open (the run's resource is then
    trying it: it found it taken, said so and waits), plus a moment for its message."""
    lock = str(lock_path(work_db).resolve())

    def opened() -> bool:
        for fd in os.listdir("/proc/self/fd"):
            try:
                if os.readlink(f"/proc/self/fd/{fd}") == lock:
                    return True
            except OSError:
                continue
        return False

    if _until(opened, 60):
        time.sleep(1)
    holder.terminate()


def test_a_dagster_run_waits_for_hub_build_then_holds_the_lock_for_the_whole_run(tmp_path):
    work_db = tmp_path / "work" / "warehouse.duckdb"
    seen: list[tuple] = []

    @dg.asset
    def first(context: dg.AssetExecutionContext, writer_lock: WriterLockResource):
        info = read_holder(work_db)
        seen.append((info.who, info.pid, info.run_id == context.run.run_id))

    @dg.asset(deps=[first])
    def second(context: dg.AssetExecutionContext, writer_lock: WriterLockResource):
        info = read_holder(work_db)
        seen.append((info.who, info.pid, info.run_id == context.run.run_id))

    defs = dg.Definitions(assets=[first, second],
                          jobs=[dg.define_asset_job("build", selection="*")],
                          resources={"writer_lock": WriterLockResource(work_db=str(work_db))},
                          executor=dg.in_process_executor)
    holder = _holder(work_db, "hub build")
    release = threading.Thread(target=_release_when_waited_for, args=(holder, work_db),
                               daemon=True)
    release.start()
    try:
        instance = dg.DagsterInstance.ephemeral()
        result = defs.resolve_job_def("build").execute_in_process(
            instance=instance, tags={"hub/trigger": "landing_files_sensor"})
    finally:
        holder.kill()
        holder.wait()
        release.join(5)
    assert result.success
    # the same holder (this process, this run) from the first step to the last
    assert seen == [("landing_files_sensor", os.getpid(), True)] * 2
    logs = [e.user_message for e in instance.all_logs(result.run_id)]
    assert any(m.startswith("waiting for the build started ") and
               f"by `hub build` (pid {holder.pid})" in m for m in logs), logs
    assert not is_locked(work_db)


# `is_locked` and the launcher's check that it can probe, from a process that sees the data folder
# through a read-only mount (the production daemon: `data:/srv/hub/data:ro` in docker-compose.yml)
PROBE_READ_ONLY = """
import sys
from pathlib import Path
from dagster_project.orchestration.run_launcher import _lock_visible
from dagster_project.writer_lock import is_locked
work_db = Path(sys.argv[1])
try:
    open(work_db.with_name("written-here"), "w")
    print("writable")
except OSError:
    print("read-only")
print(_lock_visible(work_db), is_locked(work_db))
"""


def _probe_through_read_only_mount(folder: Path, work_db: Path) -> list[str]:
    """PROBE_READ_ONLY with `folder` bind-mounted read-only, in a mount namespace of its own (as
    tests/test_production.py runs the daemon)."""
    proc = subprocess.run([*namespaces([folder]), sys.executable, "-c", PROBE_READ_ONLY,
                           str(work_db)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split("\n", 1)


def test_the_lock_is_probed_through_a_read_only_mount(tmp_path):
    work_db = tmp_path / "work" / "warehouse.duckdb"
    holder = _holder(work_db, "hub build")
    try:
        where, answer = _probe_through_read_only_mount(work_db.parent, work_db)
        assert where.strip() == "read-only"
        assert answer.split() == ["True", "True"]  # visible, and held
    finally:
        holder.kill()
        holder.wait()
    where, answer = _probe_through_read_only_mount(work_db.parent, work_db)
    assert (where.strip(), answer.split()) == ("read-only", ["True", "False"])


def test_sigterm_while_hub_build_waits_for_the_lock_stops_it_with_a_word(tmp_path):
    """Outside its run (here waiting for the writer lock) `hub build` stops on SIGTERM as on
    Ctrl-C: status 1 and a line saying the published files were left as they were, not
    Python's default end (status -15, no word)."""
    from tests.conftest import hub_env

    data = tmp_path / "data"
    holder = _holder(data / "work" / "warehouse.duckdb", "landing_files_sensor", RUN_ID)
    try:
        build = subprocess.Popen([str(Path(sys.executable).with_name("hub")), "build"],
                                 env=hub_env(data), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        waiting = ""
        while "waiting for" not in waiting:
            waiting = build.stdout.readline()
            assert waiting or build.poll() is None, build.stderr.read()
        build.send_signal(signal.SIGTERM)
        out, err = build.communicate(timeout=60)
    finally:
        holder.kill()
        holder.wait()
    assert build.returncode == 1, (out, err)
    assert "hub build: interrupted (SIGTERM or Ctrl-C): the published files " in err
    assert "were left as they were" in err and "Traceback" not in err
