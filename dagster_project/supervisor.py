"""A small supervisor: one server process and everything it starts stop together.

`hub serve` (and `hub superset`, the test suite's Superset) starts each server — Superset's
gunicorn, `dagster dev` — as

    python -m dagster_project.supervisor [--stop-signal INT] [--grace S] -- <command...>

(`supervised()` below). The supervisor

- dies with the process that started it, however that one ends (`kill -9` included): its
  parent-death signal (SIGTERM) is set before it runs (`children.preexec`);
- runs in its own session, so a signal a service manager sends to `hub serve`'s process group
  (a SIGKILL a few seconds after SIGTERM) does not kill it before it has stopped its server;
- is a child subreaper: whatever the server starts and orphans (`dagster dev` starts a
  webserver, a daemon and code servers, which start runs) is re-parented to the supervisor, so
  it finds and stops every descendant, not only its child;
- on SIGTERM, SIGINT or SIGHUP (or when the server exits by itself) sends the stop signal to
  the server (it stops its own children gracefully), waits up to the grace period
  (HUB_STOP_GRACE_SECONDS, default 10) for every descendant to exit, then SIGKILLs those left
  (the orphaned Dagster processes seen ignoring SIGTERM and SIGINT) but multiprocessing's
  resource trackers, which it gives a few seconds to exit by themselves, removing the
  semaphores of the runs just killed, and exits.

Linux only (prctl, /proc); elsewhere it only runs the command.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dagster_project.children import become_subreaper, die_with_parent, preexec


def grace_seconds() -> float:
    try:
        return float(os.environ.get("HUB_STOP_GRACE_SECONDS", "10"))
    except ValueError:
        return 10.0


def supervised(cmd: list[str], stop_signal: str = "TERM") -> list[str]:
    """The command line that runs `cmd` under this supervisor."""
    return [sys.executable, "-m", "dagster_project.supervisor", "--stop-signal", stop_signal,
            "--", *cmd]


def start(cmd: list[str], stop_signal: str = "TERM", **popen) -> subprocess.Popen:
    """Start `cmd` supervised: the returned process is the supervisor; stop it with
    `terminate()` (or by dying: it gets SIGTERM)."""
    return subprocess.Popen(supervised(cmd, stop_signal), preexec_fn=preexec(signal.SIGTERM),
                            start_new_session=True, **popen)


def stop(proc: subprocess.Popen, timeout: float | None = None) -> None:
    """Stop `proc` (SIGTERM, then SIGKILL after `timeout` seconds) and wait for it: a
    supervisor started by `start` (it stops its tree first; by default it is given the grace
    plus 15 s), or any child that stops cleanly on SIGTERM (a bench's `hub build`)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout or grace_seconds() + 15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def descendants(root: int) -> list[int]:
    """Live (not zombie) descendants of `root`, from /proc."""
    children: dict[int, list[int]] = {}
    states: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        pid = int(entry)
        states[pid] = fields[0]
        children.setdefault(int(fields[1]), []).append(pid)
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            todo.append(child)
            if states.get(child) != "Z":
                found.append(child)
    return found


# How long multiprocessing's resource trackers may take to exit once the rest have gone.
TRACKER_SECONDS = 5


class _Stop(Exception):
    pass


def _reap(proc: subprocess.Popen) -> None:
    """Collect every exited child (ours and re-parented orphans); note the server's code."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid == proc.pid and proc.returncode is None:
            proc.returncode = os.waitstatus_to_exitcode(status)


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def stop_tree(proc: subprocess.Popen, stop_signal: int, grace: float) -> None:
    me = os.getpid()
    if proc.returncode is None:
        _signal_all([proc.pid], stop_signal)
    deadline = time.monotonic() + grace
    while descendants(me) and time.monotonic() < deadline:
        _reap(proc)
        time.sleep(0.1)
    deadline = time.monotonic() + 10
    while (left := descendants(me)) and time.monotonic() < deadline:
        others = [pid for pid in left if not is_resource_tracker(pid)]
        if not others:
            break
        _signal_all(others, signal.SIGKILL)
        _reap(proc)
        time.sleep(0.05)
    # Python's multiprocessing resource trackers (a Dagster code server starts one for each
    # run's queue) exit by themselves once every process using them has gone, after removing the
    # named semaphores those left in /dev/shm; killed with the others, they leave them behind
    deadline = time.monotonic() + TRACKER_SECONDS
    while descendants(me) and time.monotonic() < deadline:
        _reap(proc)
        time.sleep(0.05)
    _signal_all(descendants(me), signal.SIGKILL)
    _reap(proc)


def is_resource_tracker(pid: int) -> bool:
    """Whether `pid` is a multiprocessing resource tracker (by its command line)."""
    try:
        return b"multiprocessing.resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dagster_project.supervisor")
    parser.add_argument("--stop-signal", default="TERM", choices=("TERM", "INT"))
    parser.add_argument("--grace", type=float, default=None)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        parser.error("no command")
    if not sys.platform.startswith("linux"):
        return subprocess.call(cmd)
    die_with_parent(signal.SIGTERM)  # kept from the preexec; set again if started otherwise
    become_subreaper()

    def on_signal(signum, frame):
        raise _Stop

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    proc = None
    stopped = False
    try:
        # the server gets SIGTERM if the supervisor is killed outright (layered with the above)
        proc = subprocess.Popen(cmd, preexec_fn=preexec(signal.SIGTERM))
        while proc.returncode is None:
            _reap(proc)
            time.sleep(0.2)
    except _Stop:
        stopped = True
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        if proc is not None:
            stop_tree(proc, getattr(signal, f"SIG{args.stop_signal}"),
                      args.grace if args.grace is not None else grace_seconds())
    if stopped or proc is None:
        return 0
    return proc.returncode if proc.returncode is not None else 1


if __name__ == "__main__":
    sys.exit(main())
