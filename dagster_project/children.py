"""Child processes that die with their parent (Linux `prctl(PR_SET_PDEATHSIG)`).

A parent-death signal is delivered to a process when the thread that started it exits, however
it exits (`kill -9` included). It is kept across `execve` but not inherited by the child's own
children, so each process that must die with its parent sets it for itself: `preexec()` for
the processes we start with `subprocess`, and the `hub-dbt` launcher for the dbt processes left
(the project's parse; a dbt left running after its parent was killed would hold a warehouse's
DuckDB lock). The dbt of `hub build`, `hub check` and `hub bench` runs in their own process
(dagster_project/dbt_in_process.py).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def die_with_parent(sig: int = signal.SIGTERM, parent: int | None = None) -> None:
    """Ask the kernel for `sig` when our parent dies; exit now if it already has (it died
    between the fork and this call: `parent` is the pid it had)."""
    if not sys.platform.startswith("linux"):
        return
    _prctl(PR_SET_PDEATHSIG, int(sig))
    if parent is not None and os.getppid() != parent:
        os._exit(1)


def become_subreaper() -> None:
    """Orphaned descendants are re-parented to us (not to init): we can find and stop them."""
    if sys.platform.startswith("linux"):
        _prctl(PR_SET_CHILD_SUBREAPER, 1)


def preexec(sig: int = signal.SIGTERM) -> Callable[[], None]:
    """A `preexec_fn` for `subprocess.Popen`: the child gets `sig` when this process dies."""
    parent = os.getpid()

    def setup() -> None:
        die_with_parent(sig, parent)

    return setup
