"""A run whose process died is marked failed by Dagster's run monitoring instead of holding the
one-run queue for ever (dagster_project/orchestration/run_launcher.py): a real run in a real
code server, then its processes killed; runs of the build job judged by the writer lock, held
by real processes. The runs `kill -9`ed `hub build`s left are failed in
tests/test_build_safety.py, and the run a killed `hub serve` left by the next `hub serve`'s
daemon in tests/test_serve_supervision.py."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.launcher.base import WorkerStatus
from dagster._core.storage.tags import GRPC_INFO_TAG
from dagster._daemon.monitoring.run_monitoring import monitor_started_run

from dagster_project.build import prepare_dagster_home
from dagster_project.orchestration.run_launcher import HubRunLauncher
from dagster_project.readiness import free_port
from dagster_project.run_tags import HOST_TAG, HUB_BUILD, PID_TAG, TRIGGER_TAG, WORK_DB_TAG
from dagster_project.settings import Settings
from dagster_project.supervisor import descendants, is_resource_tracker
from tests.test_writer_lock import RUN_ID, _holder, _until

JOB_FILE = Path(__file__).with_name("run_monitoring_job.py")
DAGSTER = str(Path(sys.executable).with_name("dagster"))
LOG = logging.getLogger(__name__)


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """A data folder whose Dagster home has the dagster.yaml `hub` writes."""
    data = tmp_path / "data"
    monkeypatch.setenv("HUB_DATA_DIR", str(data))
    monkeypatch.delenv("HUB_WORK_DB", raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    settings = Settings.from_env()
    settings.ensure_dirs()
    # set here first, so that the test's end restores it as it was: prepare_dagster_home sets
    # it in os.environ itself
    monkeypatch.setenv("DAGSTER_HOME", str(settings.dagster_home))
    prepare_dagster_home(settings)
    return data


def _started(instance: dg.DagsterInstance, timeout: float = 90) -> dg.DagsterRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = instance.get_runs()
        if runs and runs[0].status == dg.DagsterRunStatus.STARTED:
            return runs[0]
        time.sleep(0.2)
    raise AssertionError(f"no run started within {timeout:.0f}s: {instance.get_runs()}")


def _monitor(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dg.DagsterRun:
    """One pass of Dagster's run monitoring over `run` (what the daemon does every poll)."""
    monitor_started_run(instance, None, instance.get_run_record_by_id(run.run_id), LOG)
    return instance.get_run_by_id(run.run_id)


def _failure_message(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
    (entry,) = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    return entry.dagster_event.message or ""


def test_a_run_in_a_live_code_server_runs_and_is_failed_once_its_processes_are_killed(
        data_dir, tmp_path):
    """`dagster job launch` starts a code server and launches the run in it through the run
    launcher of hub's dagster.yaml, the run queue aside (runs start at once: no daemon here)."""
    config = Path(os.environ["DAGSTER_HOME"]) / "dagster.yaml"
    instance_settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    del instance_settings["concurrency"]
    instance_settings["run_coordinator"] = {"module": "dagster._core.run_coordinator",
                                            "class": "DefaultRunCoordinator"}
    config.write_text(yaml.safe_dump(instance_settings), encoding="utf-8")
    with dg.DagsterInstance.get() as instance:
        # the instance's SQLite storages made here first: made by the command and its code
        # server at the same time, they may record their schema version twice (Dagster's error
        # "alembic_version has more than one head present", seen once in the suite)
        instance.get_runs()
        instance.all_instigator_state()
    release = tmp_path / "release"
    out = (tmp_path / "launch.out").open("w")
    launch = subprocess.Popen([DAGSTER, "job", "launch", "-f", str(JOB_FILE),
                               "-j", "waits_for_release"],
                              # (TMPDIR: the killed code server's socket stays in tmp_path)
                              env=dict(os.environ, RELEASE_FILE=str(release),
                                       TMPDIR=str(tmp_path)), stdout=out,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        with dg.DagsterInstance.get() as instance:
            assert instance.run_monitoring_enabled
            assert isinstance(instance.run_launcher, HubRunLauncher)
            assert instance.run_launcher.unreachable_grace_seconds == 90
            run = _started(instance)
            assert GRPC_INFO_TAG in run.tags
            health = instance.run_launcher.check_run_worker_health(run)
            assert health.status == WorkerStatus.RUNNING, health
            assert "runs it" in health.msg
            assert _monitor(instance, run).status == dg.DagsterRunStatus.STARTED

            # as `hub serve`'s stop, or the code container's restart, ends them: every process
            # but multiprocessing's resource tracker, which then removes the run's semaphores
            killed = [pid for pid in [launch.pid, *descendants(launch.pid)]
                      if not is_resource_tracker(pid)]
            for pid in killed:
                os.kill(pid, signal.SIGKILL)
            launch.wait(timeout=10)
            assert _until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in killed
                                          if pid != launch.pid))
            health = instance.run_launcher.check_run_worker_health(run)
            assert health.status == WorkerStatus.FAILED, health
            assert "its process is no longer running" in health.msg
            after = _monitor(instance, run)
            assert after.status == dg.DagsterRunStatus.FAILURE
            assert "its process is no longer running" in _failure_message(instance, run)
    finally:
        release.touch()
        if launch.poll() is None:
            os.killpg(launch.pid, signal.SIGKILL)
            launch.wait()
        out.close()


def _run(**tags: str) -> dg.DagsterRun:
    return dg.DagsterRun(job_name="build_warehouse", run_id=RUN_ID,
                         status=dg.DagsterRunStatus.STARTED, tags=tags)


def test_a_build_run_is_running_while_it_holds_the_writer_lock_whatever_its_code_server(
        data_dir):
    """A run of the build job whose code server is gone (its socket removed) is still running
    while its process holds the writer lock under its run id: a code server killed alone leaves
    its runs' processes running."""
    gone = _run(**{GRPC_INFO_TAG: json.dumps({"host": "localhost",
                                              "socket": str(data_dir / "no-socket")})})
    launcher, work_db = HubRunLauncher(), Settings.from_env().work_db
    holder = _holder(work_db, "landing_files_sensor", RUN_ID)
    try:
        health = launcher.check_run_worker_health(gone)
        assert health.status == WorkerStatus.RUNNING, health
        assert "still holds the writer lock" in health.msg
    finally:
        holder.kill()
        holder.wait()
    health = launcher.check_run_worker_health(gone)
    assert health.status == WorkerStatus.FAILED, health
    assert f"socket {data_dir / 'no-socket'}) is gone" in health.msg
    other = _holder(work_db, "landing_files_sensor", "0" * 8 + RUN_ID[8:])  # another run's lock
    try:
        assert launcher.check_run_worker_health(gone).status == WorkerStatus.FAILED
    finally:
        other.kill()
        other.wait()


def test_a_code_server_at_a_host_and_port_may_not_answer_for_a_while_before_its_run_is_gone(
        data_dir):
    """Production's code server is `code:4000`: a network blip or the container's restart may
    pass, so a refused connection there fails the run only once it has lasted
    `unreachable_grace_seconds` (a socket refusing is a dead server at once: above)."""
    run = _run(**{GRPC_INFO_TAG: json.dumps({"host": "127.0.0.1", "port": free_port()})})
    launcher = HubRunLauncher(unreachable_grace_seconds=1)
    health = launcher.check_run_worker_health(run)
    assert health.status == WorkerStatus.RUNNING, health
    assert "has not answered for 0s (taken as gone after 1s)" in health.msg
    time.sleep(1.1)
    health = launcher.check_run_worker_health(run)
    assert health.status == WorkerStatus.FAILED, health
    assert "(127.0.0.1:" in health.msg and "does not answer" in health.msg
    assert HubRunLauncher().unreachable_grace_seconds == 90


def test_hub_builds_run_is_running_while_a_build_holds_the_writer_lock(data_dir):
    """`hub build` runs its job in its own process, which holds the writer lock (taken before its
    run starts, without a run id); where the lock cannot be probed nothing is decided."""
    run, launcher = _run(**{"hub/trigger": "hub build"}), HubRunLauncher()
    work_db = Settings.from_env().work_db
    health = launcher.check_run_worker_health(run)  # no lock file here (a daemon's container)
    assert health.status == WorkerStatus.RUNNING and "cannot be probed" in health.msg
    build = _holder(work_db, "hub build")
    try:
        health = launcher.check_run_worker_health(run)
        assert health.status == WorkerStatus.RUNNING and "holds the writer lock" in health.msg
    finally:
        build.send_signal(signal.SIGKILL)
        build.wait()
    health = launcher.check_run_worker_health(run)
    assert health.status == WorkerStatus.FAILED, health
    assert "no build holds the writer lock" in health.msg
    # a run of another kind is never judged
    other = _run(**{"dagster/sensor_name": "board_pack_sensor"})
    assert launcher.check_run_worker_health(other).status == WorkerStatus.RUNNING


def test_terminate_marks_a_hub_build_run_canceling_while_its_process_can_be_running(data_dir):
    """The Dagster UI's Terminate on a `hub build` run (no code server runs it): the run is marked
    CANCELING, which the build watches for (tests/test_build_safety.py: a real build stops, and
    tests/test_production.py: from the webserver of the production stack), while the writer lock
    named in its tags is held by the process in its tags, or cannot be seen from here; refused,
    with the reason and nothing marked, when that process is known to be gone."""
    settings = Settings.from_env()
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        launcher = instance.run_launcher
        assert isinstance(launcher, HubRunLauncher)

        def run_of(pid: int, work_db: Path = settings.work_db) -> str:
            run = instance.add_run(dg.DagsterRun(
                job_name="build_warehouse", run_id=str(uuid.uuid4()),
                status=dg.DagsterRunStatus.STARTED,
                tags={TRIGGER_TAG: HUB_BUILD, PID_TAG: str(pid), HOST_TAG: socket.gethostname(),
                      WORK_DB_TAG: str(work_db)}))
            return run.run_id

        def refused(run_id: str) -> str:
            assert not launcher.terminate(run_id)
            assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED
            return instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)[-1].message

        def marked(run_id: str) -> str:
            assert launcher.terminate(run_id)
            assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.CANCELING
            (canceling,) = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_CANCELING)
            return canceling.message

        build = _holder(settings.work_db, "hub build")
        try:
            # a stale run's pid (not the lock holder's) is never marked
            assert "no longer holds the writer lock" in refused(run_of(build.pid + 100_000))
            assert (f"asked `hub build` (pid {build.pid} on {socket.gethostname()}) to stop"
                    in marked(run_of(build.pid)))
            assert build.poll() is None  # nothing signalled from here: the build stops itself
        finally:
            build.kill()
            build.wait()
        assert "no longer holds the writer lock" in refused(run_of(build.pid))
        # a server that cannot see the build's data folder (production's webserver) marks it:
        # the run monitoring ends the run if its process is gone
        elsewhere = data_dir.parent / "not-mounted-here" / "work" / "warehouse.duckdb"
        assert "this server cannot see its writer lock" in marked(run_of(build.pid, elsewhere))
