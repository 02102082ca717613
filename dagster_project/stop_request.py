"""A process that stops itself when asked from elsewhere: `hub build` asks its Dagster run's
status every second and, once the run is CANCELING (the Dagster UI's Terminate, through the run
launcher: dagster_project/orchestration/run_launcher.py), sends itself SIGTERM, which stops the
build as Ctrl-C does (dagster_project/cli.py). Whoever clicks Terminate needs no way to signal
this process: in production the webserver and the build run in different containers.

The commands' own SIGTERM (and Ctrl-C) handling is here too: `interrupt_on_signals` makes both
raise KeyboardInterrupt and remembers that they came, and `raise_if_interrupted` raises it again
at the points where going on would change something (a month's board packs about to be shown,
a build about to start its run, the wait for the writer lock), and `signals_held` lets steps that
go together (`hub rollback`'s renames) end before the signal acts. Python ignores an exception
raised while it runs a finalizer or a weak reference's callback ("Exception ignored in ..."),
so the handler's KeyboardInterrupt alone can be lost: once in a suite run, `hub report` went on
to replace the month's packs after its SIGTERM. DuckDB's Python binding loses it too, when the
signal comes during a query: `signals_kept_through_queries` raises it again there. And a
Dagster run leaves SIGTERM with SIGINT's handler: `signal_handlers_kept` puts both back.

Plain Python: the question is a function the caller passes. No Dagster imports."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator

EVERY_SECONDS = 1.0
_interrupted = threading.Event()


def interrupt_on_signals() -> None:
    """SIGTERM and SIGINT raise KeyboardInterrupt in the main thread, and are remembered for
    `raise_if_interrupted`. A SIGINT this process was started ignoring (a job a shell ran in
    the background) stays ignored, as Python leaves it. (Dagster installs its own handlers for
    the length of a run, and puts these back afterwards.) Only the main thread sets handlers:
    elsewhere (a command's `main` called from a thread) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum, frame):
        _interrupted.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, handler)


def raise_if_interrupted() -> None:
    """Raise KeyboardInterrupt if SIGTERM or SIGINT came (even if its own exception was lost)."""
    if _interrupted.is_set():
        raise KeyboardInterrupt


@contextlib.contextmanager
def signal_handlers_kept() -> Iterator[None]:
    """SIGTERM's and SIGINT's handlers as they were before the block, after it. A Dagster run in
    this process (`execute_in_process`) leaves SIGTERM with SIGINT's handler: where SIGINT was
    ignored (a job a shell ran in the background, a pytest-xdist worker) SIGTERM is then ignored
    too, by this process and by every process it starts. Only the main thread sets handlers:
    elsewhere the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            if handler is not None and signal.getsignal(sig) is not handler:
                signal.signal(sig, handler)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """SIGTERM and Ctrl-C that come within the block act at its end, as they would have acted
    when they came: for steps that happen all together or not at all (`hub rollback`'s two
    renames). Held by this process's handlers, not by a signal mask, which would hold them only
    from the main thread. Only the main thread sets handlers: elsewhere the block runs as it
    is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[int] = []
    try:
        with signal_handlers_kept():
            for sig in (signal.SIGTERM, signal.SIGINT):
                if signal.getsignal(sig) not in (signal.SIG_IGN, None):
                    signal.signal(sig, lambda signum, frame: came.append(signum))
            yield
    finally:
        if came:  # the handlers are back: the signal acts now
            os.kill(os.getpid(), came[0])


# What DuckDB's Python binding raises when a signal comes while a query runs: it calls the
# signal's handler, interrupts the query and raises this in place of the handler's exception.
QUERY_INTERRUPTED = "Query interrupted"
# What DuckDB says of an exception raised within a Python UDF, before the exception's class
# name; and the classes of the interrupts SIGTERM and Ctrl-C raise (Python's, and Dagster's
# within a run's step, which a module without Dagster imports names by its name).
UDF_RAISED = "Python exception occurred while executing the UDF: "
INTERRUPTS = ("KeyboardInterrupt", "DagsterExecutionInterruptedError")


@contextlib.contextmanager
def signals_kept_through_queries() -> Iterator[None]:
    """Within the block, a SIGTERM or Ctrl-C that came during a DuckDB query raises
    KeyboardInterrupt again, as it would anywhere else. Without this, the handler's exception
    (Dagster's interrupt within a run's step) is lost: the step fails with DuckDB's
    RuntimeError, as if its code had failed, and the run goes on to its other steps. So is an
    interrupt DuckDB reports as a UDF's error (`raise_if_interrupt`), and any error after an
    interrupt this process remembers."""
    try:
        yield
    except Exception as exc:
        raise_if_interrupt(exc)
        raise


def is_interrupt(exc: BaseException) -> bool:
    """Whether `exc` is how DuckDB reports a SIGTERM or Ctrl-C that came during a query: its
    Python binding's RuntimeError, or, when the signal's handler ran within a Python function
    DuckDB was calling (a UDF: Python runs a handler in whatever Python code the main thread
    runs), DuckDB's error naming the handler's exception."""
    text = str(exc)
    if isinstance(exc, RuntimeError) and text == QUERY_INTERRUPTED:
        return True
    at = text.find(UDF_RAISED)
    return at >= 0 and text[at + len(UDF_RAISED):].startswith(INTERRUPTS)


def raise_if_interrupt(exc: BaseException) -> None:
    """Raise KeyboardInterrupt (from `exc`) when `exc` reports an interrupt (`is_interrupt`) or
    this process was interrupted before it; otherwise return. For code that handles DuckDB's
    errors: the loader loading each file of a failed batch alone, or rejecting a file DuckDB
    failed on, took an interrupt in the pseudonymisation's functions for a bad file, and the
    build went on."""
    if is_interrupt(exc):
        _interrupted.set()
    if _interrupted.is_set():
        raise KeyboardInterrupt from exc


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
