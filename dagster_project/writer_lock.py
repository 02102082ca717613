"""One writer at a time on the working warehouse: an OS file lock beside the working file.

Every writer takes it: `hub build` (before it starts the Dagster job, so it can say whom it
waits for), the build job's runs launched by the landing sensor, the monthly schedule or the
Dagster UI (the `writer_lock` resource, orchestration/resources.py, held for the whole run) and
`hub bench`'s in-process pipeline. The lock is `fcntl.flock` on `<work db>.lock`: the kernel
releases it when the holder's file descriptor closes, so a holder that dies (even by `kill -9`)
never leaves a stale lock. Who holds it (what, pid, host, start time, Dagster run id) is written
to `<work db>.lock.json` once the lock is taken, for the message of the next writer:

    hub build: waiting for the build started 14:02 by the landing sensor (run 3f2a1b0c…)

The JSON is information only: the lock is the flock, never the file's presence.

A process may take the lock it already holds (re-entrant per process): `hub build` holds it
and runs the job in-process, whose resource then takes it again without waiting for itself.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dagster_project.stop_request import raise_if_interrupted

# How each trigger reads in the waiting message (the "hub/trigger" tag of a run).
TRIGGER_NAMES = {
    "landing_files_sensor": "the landing sensor",
    "monthly_build_schedule": "the monthly schedule",
    "hub build": "`hub build`",
    "hub bench": "`hub bench`",
}


class WriterBusy(RuntimeError):
    """Another writer holds the working warehouse (raised when not waiting)."""


@dataclass(frozen=True)
class Holder:
    who: str  # a trigger ("landing_files_sensor", "hub build", ...) or a description
    pid: int
    started_at: str  # ISO 8601, local time with offset
    host: str = ""
    run_id: str | None = None

    def describe(self) -> str:
        """`the build started 14:02 by the landing sensor (run 3f2a1b0c…)`."""
        try:
            started = dt.datetime.fromisoformat(self.started_at)
            when = (f"{started:%H:%M}" if started.date() == dt.date.today()
                    else f"{started:%Y-%m-%d %H:%M}")
        except ValueError:
            when = "at an unknown time"
        who = TRIGGER_NAMES.get(self.who, self.who)
        ident = f"run {self.run_id[:8]}…" if self.run_id else f"pid {self.pid}"
        if self.host and self.host != socket.gethostname():
            ident += f" on {self.host}"
        return f"the build started {when} by {who} ({ident})"


def lock_path(work_db: Path) -> Path:
    return work_db.with_name(work_db.name + ".lock")


def holder_path(work_db: Path) -> Path:
    return work_db.with_name(work_db.name + ".lock.json")


def read_holder(work_db: Path) -> Holder | None:
    try:
        data = json.loads(holder_path(work_db).read_text(encoding="utf-8"))
        return Holder(**data)
    except (OSError, ValueError, TypeError):
        return None


def describe_holder(work_db: Path) -> str:
    holder = read_holder(work_db)
    return holder.describe() if holder else "another build (its holder file is missing)"


# Locks this process holds: path -> [file descriptor, depth].
_held: dict[str, list[int]] = {}
_guard = threading.Lock()


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


@contextlib.contextmanager
def writer_lock(work_db: Path, who: str, run_id: str | None = None, wait: bool = True,
                on_wait: Callable[[str], None] | None = None,
                poll_seconds: float = 0.5) -> Iterator[Holder | None]:
    """Hold the working warehouse's writer lock for the block.

    When another process holds it: with `wait`, call `on_wait` once with a message naming the
    holder, then wait; without, raise WriterBusy with that message. Yields the holder record
    written (None when this process already held the lock)."""
    work_db = Path(work_db)
    key = str(lock_path(work_db).resolve())
    with _guard:
        if key in _held:
            _held[key][1] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield None
        finally:
            with _guard:
                _held[key][1] -= 1
        return
    work_db.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        if not _try_flock(fd):
            message = f"waiting for {describe_holder(work_db)}"
            if not wait:
                raise WriterBusy(f"{describe_holder(work_db)} is still writing "
                                 f"{work_db}")
            if on_wait:
                on_wait(message)
            while not _try_flock(fd):
                raise_if_interrupted()  # a SIGTERM whose own KeyboardInterrupt was lost
                time.sleep(poll_seconds)
        holder = Holder(who=who, pid=os.getpid(), host=socket.gethostname(),
                        started_at=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                        run_id=run_id)
        _write_holder(work_db, holder)
        with _guard:
            _held[key] = [fd, 1]
        try:
            yield holder
        finally:
            with _guard:
                del _held[key]
            with contextlib.suppress(OSError):
                holder_path(work_db).unlink()
    finally:
        os.close(fd)  # releases the flock (the kernel does the same if the process dies)


def _write_holder(work_db: Path, holder: Holder) -> None:
    target = holder_path(work_db)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(holder.__dict__), encoding="utf-8")
    os.replace(tmp, target)


def is_locked(work_db: Path) -> bool:
    """Whether a writer holds the lock now (a probe: takes and releases it at once). The file is
    opened for reading only (flock needs no more), so a process with the data folder mounted
    read-only can probe it (the production daemon, docker-compose.yml)."""
    path = lock_path(Path(work_db))
    if not path.exists():
        return False
    if str(path.resolve()) in _held:
        return True
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:  # not ours to open: cannot tell
        return False
    try:
        if _try_flock(fd):
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        return True
    finally:
        os.close(fd)
