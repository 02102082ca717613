"""A process that stops itself when asked from elsewhere: `hub build` asks its Dagster run's
status every second and, once the run is CANCELING (the Dagster UI's Terminate, through the run
launcher: dagster_project/orchestration/run_launcher.py), sends itself SIGTERM, which stops the
build as Ctrl-C does (dagster_project/cli.py). Whoever clicks Terminate needs no way to signal
this process: in production the webserver and the build run in different containers.

Plain Python: the question is a function the caller passes. No Dagster imports."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator

EVERY_SECONDS = 1.0


@contextlib.contextmanager
def stop_when(asked: Callable[[], bool], every_seconds: float = EVERY_SECONDS) -> Iterator[None]:
    """Within the block, call `asked()` every `every_seconds` in a thread of its own; the first
    time it answers True, send this process SIGTERM (once). An exception from `asked` (its
    storage briefly unavailable) is a "no": it is asked again. No signal is sent once the block
    has ended."""
    ended = threading.Event()
    guard = threading.Lock()  # the block's end and the signal never cross

    def watch() -> None:
        while not ended.wait(every_seconds):
            try:
                stop = asked()
            except Exception:  # asked again at the next tick
                continue
            if stop:
                with guard:
                    if not ended.is_set():
                        os.kill(os.getpid(), signal.SIGTERM)
                return

    watcher = threading.Thread(target=watch, name="hub-stop-request", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        with guard:
            ended.set()
        watcher.join()
