"""Dagster's default run launcher, able to say whether a run's process is still running, so that
the daemon's run monitoring marks a run whose process died as failed.

Runs queue one at a time (`max_concurrent_runs: 1`: every build writes the same working file).
A run whose process died without reporting its end (`hub serve` killed, the machine or the code
container restarted during a run) would otherwise stay STARTED for ever, and every later run
(the landing sensor's builds, the monthly schedule, the board packs) would wait behind it.
Dagster's `DefaultRunLauncher` cannot check a run's process, so its run monitoring only times
out runs that never start. This launcher answers for the two kinds of run this project has:

- **Runs of the queue** (sensors, schedules, the Dagster UI), launched in a code server, whose
  address is in the run's `dagster/grpc_info` tag: running while that code server lists the run
  among its executions. A code server that no longer answers (its socket gone or refusing; a
  host and port for `unreachable_grace_seconds`, 90 by default, as a network blip or a
  container's restart may pass), or that answers without the run (a restarted one at the same
  address), means the run's process is gone, unless the run still holds the writer lock (a run
  of the build job holds it under its run id: a code server killed alone leaves its runs'
  processes running). While the code server lives, Dagster itself marks a run failed whose
  process exits (an OOM kill).
- **`hub build`'s own runs** (in-process, tagged `hub/trigger: hub build`), which hold the working
  warehouse's writer lock for their whole run (dagster_project/writer_lock.py): running while the
  lock is held; a free lock means no build is running (in production, `docker compose exec code
  hub build`: the daemon's container mounts the data volume read-only for this probe). Where
  the lock's file is not visible nothing is decided.

Anything else, or an answer that may be passing (a code server too busy to answer in time), is
taken as running.

**Terminate** (the Dagster UI's button) on a run of the queue asks its code server to cancel it,
as Dagster's launcher does. On a `hub build` run, which no code server runs, Dagster's launcher
marked the run CANCELING and the build went on to publish: here the build's process (its pid
and host in the run's tags, dagster_project/run_tags.py) is sent SIGTERM, which stops it as
Ctrl-C does, when it runs on this host and still holds the writer lock; otherwise nothing is
marked and the refusal says where to stop it.

Configured in the `dagster.yaml` `hub` writes (dagster_project/build.py) and in
deploy/dagster/dagster.yaml, with `run_monitoring` enabled.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import dagster as dg
from dagster import DefaultRunLauncher
from dagster._config.config_schema import UserConfigSchema
from dagster._core.launcher.base import CheckRunHealthResult, WorkerStatus
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.storage.tags import GRPC_INFO_TAG
from dagster._serdes.config_class import ConfigurableClassData

from dagster_project.run_tags import HOST_TAG, HUB_BUILD, PID_TAG, TRIGGER_TAG
from dagster_project.settings import Settings
from dagster_project.writer_lock import Holder, is_locked, lock_path, read_holder

UNREACHABLE_GRACE_SECONDS = 90
GONE = ("its process is no longer running (`hub serve`, the code server or the machine stopped "
        "during the run)")


def _running(msg: str) -> CheckRunHealthResult:
    return CheckRunHealthResult(WorkerStatus.RUNNING, msg)


def _gone(msg: str) -> CheckRunHealthResult:
    return CheckRunHealthResult(WorkerStatus.FAILED, f"{msg}: {GONE}")


def code_server_health(run: DagsterRun, grpc_info: dict) -> CheckRunHealthResult:
    """Whether the code server at `grpc_info` (a run's `dagster/grpc_info` tag) runs `run`."""
    import grpc
    from dagster._core.errors import DagsterUserCodeUnreachableError
    from dagster._grpc.client import DagsterGrpcClient
    from dagster._grpc.types import GetCurrentRunsResult
    from dagster._serdes import deserialize_value

    socket, port = grpc_info.get("socket"), grpc_info.get("port")
    where = f"socket {socket}" if socket else f"{grpc_info.get('host')}:{port}"
    if socket and not Path(socket).exists():
        return _gone(f"the code server that ran it ({where}) is gone")
    client = DagsterGrpcClient(port=port, socket=socket, host=grpc_info.get("host", "localhost"),
                               use_ssl=bool(grpc_info.get("use_ssl", False)))
    try:
        current = deserialize_value(client.get_current_runs(), GetCurrentRunsResult)
    except DagsterUserCodeUnreachableError as exc:
        cause = exc.__cause__
        if isinstance(cause, grpc.RpcError) and cause.code() == grpc.StatusCode.UNAVAILABLE:
            gone = _gone(f"the code server that ran it ({where}) does not answer")
            # a stale socket file refuses for good; a host and port may be passing (a network
            # blip, the container being restarted): HubRunLauncher waits before it decides
            return gone if socket else gone._replace(transient=True)
        return _running(f"the code server at {where} did not answer in time")
    if run.run_id in current.current_runs:
        return _running(f"the code server at {where} runs it")
    return _gone(f"the code server at {where} does not run it")


def _lock_visible(work_db: Path) -> bool:
    """Whether this process can probe the working warehouse's writer lock (its file exists and is
    readable: the probe opens it for reading, docker-compose.yml mounts `data` read-only in the
    daemon)."""
    lock = lock_path(work_db)
    return lock.exists() and os.access(lock, os.R_OK)


def _holder_now(work_db: Path) -> Holder | None:
    """Who holds the writer lock now, as its holder record says; None if nobody does, or if this
    process cannot tell."""
    if not _lock_visible(work_db) or not is_locked(work_db):
        return None
    return read_holder(work_db)


def holds_writer_lock(run: DagsterRun, work_db: Path) -> bool:
    """Whether `run`'s process holds the writer lock now: a run of the build job holds it for its
    whole run, named by its run id, so its process is alive even if its code server is not (a
    code server killed alone leaves its runs' processes running)."""
    holder = _holder_now(work_db)
    return holder is not None and holder.run_id == run.run_id


def in_process_health(run: DagsterRun, work_db: Path) -> CheckRunHealthResult:
    """Whether `hub build`'s run `run` can still be running: its writer lock is held (`hub build`
    takes it before its run starts, and records no run id)."""
    if not _lock_visible(work_db):
        return _running(f"the writer lock {lock_path(work_db)} cannot be probed here")
    if is_locked(work_db):
        return _running("a build holds the writer lock")
    return _gone("no build holds the writer lock")


def hub_build_to_stop(run: DagsterRun, work_db: Path) -> tuple[int | None, str]:
    """The process of `hub build`'s run `run`, if this process can signal it: it runs on this host
    and holds the writer lock (so the pid is still that build's). (pid, what will be done), or
    (None, why not: for the run's log)."""
    pid, host = run.tags.get(PID_TAG, ""), run.tags.get(HOST_TAG, "")
    if not pid.isdigit():
        return None, ("this `hub build` run did not record its process: stop it where it runs "
                      "(Ctrl-C)")
    if host != socket.gethostname():
        return None, (f"this run is `hub build` on {host} (pid {pid}), which this server "
                      f"cannot signal: stop it there (Ctrl-C, or `kill {pid}`)")
    holder = _holder_now(work_db)
    if holder is None or holder.who != HUB_BUILD or holder.pid != int(pid):
        return None, (f"`hub build` (pid {pid}) no longer holds the writer lock: nothing to "
                      f"stop (the run monitoring marks a run whose process died as failed)")
    try:
        os.kill(int(pid), 0)  # may this process signal it?
    except OSError as exc:
        return None, f"`hub build` (pid {pid}) cannot be signalled from here: {exc.strerror}"
    return int(pid), (f"SIGTERM sent to `hub build` (pid {pid}): it stops as Ctrl-C stops it, "
                      f"leaving the served files as they were")


class HubRunLauncher(DefaultRunLauncher):
    """DefaultRunLauncher that tells the run monitoring whether a run's process is alive.

    Config: `unreachable_grace_seconds` (default 90), how long a code server at a host and port
    may not answer before its runs are taken as gone (a restarted one answers at once, and
    without them)."""

    def __init__(self, inst_data: ConfigurableClassData | None = None,
                 unreachable_grace_seconds: float = UNREACHABLE_GRACE_SECONDS):
        super().__init__(inst_data=inst_data)
        self.unreachable_grace_seconds = unreachable_grace_seconds
        self._unreachable_since: dict[str, float] = {}  # run id -> monotonic time first seen

    @classmethod
    def config_type(cls) -> UserConfigSchema:
        return {"unreachable_grace_seconds": dg.Field(
            int, is_required=False, default_value=UNREACHABLE_GRACE_SECONDS)}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData,
                          config_value: Mapping[str, Any]) -> Self:
        return cls(inst_data=inst_data, **config_value)

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        work_db = Settings.from_env().work_db
        info = run.tags.get(GRPC_INFO_TAG)
        if info:
            health = code_server_health(run, json.loads(info))
            if health.status == WorkerStatus.FAILED and holds_writer_lock(run, work_db):
                return _running("its process still holds the writer lock")
            if not health.transient:
                self._unreachable_since.pop(run.run_id, None)
                return health
            since = self._unreachable_since.setdefault(run.run_id, time.monotonic())
            if time.monotonic() - since < self.unreachable_grace_seconds:
                return _running(f"its code server has not answered for "
                                f"{time.monotonic() - since:.0f}s (taken as gone after "
                                f"{self.unreachable_grace_seconds:.0f}s)")
            del self._unreachable_since[run.run_id]  # decided: the run is failed now
            return health
        if run.tags.get(TRIGGER_TAG) == HUB_BUILD:
            return in_process_health(run, work_db)
        return _running("not a run this launcher can check")

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id) if self.has_instance else None
        if (run is None or run.is_finished or GRPC_INFO_TAG in run.tags
                or run.tags.get(TRIGGER_TAG) != HUB_BUILD):
            return super().terminate(run_id)
        pid, message = hub_build_to_stop(run, Settings.from_env().work_db)
        if pid is None:
            self._instance.report_engine_event(message, run, cls=self.__class__)
            return False
        # canceling first: the build may end its run (canceled) as soon as it has the signal
        self._instance.report_run_canceling(run, message=message)
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError as exc:  # it ended in between
            self._instance.report_engine_event(
                f"`hub build` (pid {pid}) could not be signalled: {exc.strerror}", run,
                cls=self.__class__)
            return False
        return True
