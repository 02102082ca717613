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
  warehouse's writer lock (named in the run's tags) for their whole run
  (dagster_project/writer_lock.py): running while the lock is held; a free lock means no build
  is running (in production, `docker compose exec code hub build`: the daemon's container
  mounts the data volume read-only for this probe). Where the lock's file is not visible
  nothing is decided.

Anything else, or an answer that may be passing (a code server too busy to answer in time), is
taken as running.

**Terminate** (the Dagster UI's button) on a run of the queue asks its code server to cancel it,
as Dagster's launcher does. A `hub build` run has no code server: Dagster's launcher marked it
CANCELING and the build went on to publish. Here the run is marked CANCELING only while its
process can still be running, and that process, which asks its run's status every second
(dagster_project/stop_request.py), then stops itself as Ctrl-C stops it: no signal has to cross
from the webserver to the build (in production they run in different containers). The writer
lock named in the run's tags (dagster_project/run_tags.py) tells: free, or held by another
process, and the build is gone (refused, and the refusal says so); where this server cannot see
it, the run is marked, and the run monitoring ends a run whose process is gone as canceled
after its cancel timeout. `hub build`'s health is judged on that same lock.

Configured in the `dagster.yaml` `hub` writes (dagster_project/build.py) and in
deploy/dagster/dagster.yaml, with `run_monitoring` enabled.
"""

from __future__ import annotations

import json
import os
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

from dagster_project.run_tags import HOST_TAG, HUB_BUILD, PID_TAG, TRIGGER_TAG, WORK_DB_TAG
from dagster_project.settings import Settings
from dagster_project.stop_request import EVERY_SECONDS
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


def build_work_db(run: DagsterRun) -> Path:
    """The working warehouse whose writer lock `hub build`'s run `run` holds: the one named in
    its tags (where the build ran), else this process's settings."""
    tagged = run.tags.get(WORK_DB_TAG)
    return Path(tagged) if tagged else Settings.from_env().work_db


def hub_build_stop(run: DagsterRun) -> tuple[bool, str]:
    """Whether `hub build`'s run `run` may be marked CANCELING, which its process watches for and
    then stops as Ctrl-C stops it (dagster_project/stop_request.py), wherever it runs: (True,
    what will happen) or (False, why not: for the run's log). Refused when its process is known
    to be gone (the writer lock it held is free, or held by another process)."""
    pid, host = run.tags.get(PID_TAG, ""), run.tags.get(HOST_TAG, "")
    if not pid.isdigit():
        return False, ("this `hub build` run did not record its process: stop it where it runs "
                       "(Ctrl-C)")
    stops = (f"asked `hub build` (pid {pid} on {host}) to stop: it checks its run every "
             f"{EVERY_SECONDS:.0f} s and stops as Ctrl-C stops it, leaving the served files as "
             f"they were")
    work_db = build_work_db(run)
    if not _lock_visible(work_db):
        return True, (f"{stops} (this server cannot see its writer lock: if that process is "
                      f"gone, the run monitoring marks the run canceled after its cancel "
                      f"timeout)")
    holder = _holder_now(work_db)
    if (holder is None or holder.who != HUB_BUILD or holder.pid != int(pid)
            or (holder.host and host and holder.host != host)):
        return False, (f"`hub build` (pid {pid}) no longer holds the writer lock: nothing to "
                       f"stop (the run monitoring marks a run whose process died as failed)")
    return True, stops


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
        info = run.tags.get(GRPC_INFO_TAG)
        if info:
            health = code_server_health(run, json.loads(info))
            if (health.status == WorkerStatus.FAILED
                    and holds_writer_lock(run, Settings.from_env().work_db)):
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
            return in_process_health(run, build_work_db(run))
        return _running("not a run this launcher can check")

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id) if self.has_instance else None
        if (run is None or run.is_finished or GRPC_INFO_TAG in run.tags
                or run.tags.get(TRIGGER_TAG) != HUB_BUILD):
            return super().terminate(run_id)
        stoppable, message = hub_build_stop(run)
        if not stoppable:
            self._instance.report_engine_event(message, run, cls=self.__class__)
            return False
        self._instance.report_run_canceling(run, message=message)
        return True
