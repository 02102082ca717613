"""dbt run inside the calling process through dbt's Python API (`dbtRunner`): a build's
`dbt build`, and those of `hub check` and `hub bench`.

`hub build` (and a Dagster run of the build job) used to start dbt as a process of its own,
whose start-up (a second Python, dbt imported again, about 1.5 CPU-seconds) and JSON event log
(every event of every node serialised there and parsed again here, about 1 CPU-second) were
paid by every build whatever it changed. Here dbt runs in this process, in its own thread: its
text log goes to this process's standard output (the build's log), and only the result of each
node (the events dagster-dbt turns into materializations) is kept, as dbt's JSON log would have
written it. The profile's data-folder paths are hashed by name, as in `hub-dbt`
(dagster_project/dbt_cli.py), so a new data folder's partial parse stays partial.

The project's parse and the dbt unit tests run dbt as a process (dagster_project/dbt_runner.py).
Plain Python: no Dagster imports.
"""

from __future__ import annotations

import atexit
import os
import queue
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster_project.dbt_runner import dbt_variables, seed_partial_parse
from dagster_project.settings import Settings, environment_with

# dbt's events that carry a node's result (what dagster-dbt maps to Dagster events)
RESULT_EVENTS = frozenset({"LogSeedResult", "LogModelResult", "LogSnapshotResult",
                           "LogTestResult"})

# dbt in-process shares the process's environment and dbt's global state: one run at a time
_ONE_RUN = threading.Lock()
_running: threading.Thread | None = None  # the thread of this process's latest dbt run

# How long a stopped build waits for dbt to cancel its queries and close its files.
STOP_SECONDS = 60


@dataclass
class DbtOutcome:
    """How a `dbt build` ended: its success, the errors dbt logged (for the message), and
    whether it ran on a parse made ahead (parse_ahead) instead of parsing the project itself."""

    success: bool = False
    errors: list[str] = field(default_factory=list)
    exception: BaseException | None = None
    parsed_ahead: bool = False

    def problem(self, lines: int = 20) -> str:
        """What went wrong: the last errors dbt logged, or the exception it raised."""
        return "\n".join(self.errors[-lines:]) or repr(self.exception)


def dbt_args(settings: Settings, args: Sequence[str], target_dir: Path) -> list[str]:
    """`args` with the project, the profile and the target folder (dbt's log beside it, as
    dagster-dbt had it), and no colours in the build's log."""
    project = str(settings.dbt_project_dir)
    return [*args, "--project-dir", project, "--profiles-dir", project,
            "--target-path", str(target_dir), "--log-path", str(target_dir),
            "--no-use-colors", "--no-send-anonymous-usage-stats"]


def dbt_environment(settings: Settings) -> None:
    """Set dbt's variables (dbt_runner.dbt_variables) in this process's environment for good,
    so that its builds' loads may start dbt's parse ahead (parse_ahead). For a process that
    runs one build and nothing else (`hub build`)."""
    os.environ.update(dbt_variables(settings))


# The parses started ahead of a run (parse_ahead), by the key their run gives: each is a
# thread and, once it has parsed, the manifest it made.
_ahead: dict[str, tuple[threading.Thread, dict[str, Any]]] = {}


def parse_ahead(settings: Settings, target_dir: Path, key: str) -> None:
    """Start dbt's parse of the project now, in a thread of its own, for the run that later
    passes the same `key` to `run` (a build's Dagster run id). A build calls this as soon as
    its load has found something new: importing dbt and reading its partial parse (about
    2 CPU-seconds, mostly Python) then overlap the rest of the load, whose DuckDB queries
    leave Python's lock free, instead of delaying the first dbt node. The parse is that of the
    run itself (same profile, environment and target folder); nothing a load writes is read
    by a parse. A parse that fails, or a run that finds none, parses as before.

    Only where the process's environment already holds dbt's variables (`hub build` sets them
    for its whole process: `dbt_environment`): the parse must not change the environment
    while other threads read it (a process that starts other builds would hand them this
    build's files). Elsewhere this does nothing, and the run parses the project itself."""
    if key in _ahead or any(os.environ.get(name) != value
                            for name, value in dbt_variables(settings).items()):
        return
    seed_partial_parse(settings, target_dir)
    parsed: dict[str, Any] = {}

    def parse() -> None:  # the parse's own thread
        from dbt.cli.main import dbtRunner

        from dagster_project.dbt_cli import hash_paths_by_name

        hash_paths_by_name()
        with _ONE_RUN, debug_events_unbuilt():
            try:
                # silent on the terminal: the run that follows logs as it always did, and a
                # parse error again when it parses the project itself
                result = dbtRunner().invoke(dbt_args(
                    settings, ["parse", "--log-level", "none", "--no-write-json"],
                    target_dir))
                if result.success and result.result is not None:
                    parsed["manifest"] = result.result
            except Exception:  # the run parses the project itself, and reports what fails
                pass
            finally:
                _close_duckdb()

    thread = threading.Thread(target=parse, name="dbt-parse", daemon=True)
    _ahead[key] = (thread, parsed)
    thread.start()


def _parsed_ahead(key: str | None) -> Any:
    """The manifest the parse started ahead for `key` made (waiting for it), or None. Each
    parse serves one run."""
    if key is None or key not in _ahead:
        return None
    thread, parsed = _ahead.pop(key)
    thread.join()
    return parsed.get("manifest")


def run(settings: Settings, args: Sequence[str], target_dir: Path,
        outcome: DbtOutcome, parsed_for: str | None = None) -> Iterator[dict[str, Any]]:
    """Run `dbt <args>` here and yield each node's result event (a dict, as in dbt's JSON log)
    as it comes; `outcome` says how the run ended once the iterator is exhausted. With
    `parsed_for`, the key given to parse_ahead, dbt runs on that parse's manifest.

    dbt runs in a daemon thread: if this process is stopped, dbt stops with it (as `hub-dbt`
    did with its parent), and a build killed during dbt leaves what a killed `dbt build` left.
    """
    from dbt.cli.main import dbtRunner
    from dbt_common.events.functions import msg_to_dict

    from dagster_project.dbt_cli import hash_paths_by_name

    hash_paths_by_name()
    events: queue.Queue = queue.Queue()
    done = object()

    def keep(msg) -> None:  # in dbt's threads
        name = msg.info.name
        if name in RESULT_EVENTS:
            events.put(msg_to_dict(msg))
        elif msg.info.level == "error":
            outcome.errors.append(msg.info.msg)

    env = dbt_variables(settings)

    def invoke() -> None:  # dbt's own thread
        try:
            manifest = _parsed_ahead(parsed_for)
            outcome.parsed_ahead = manifest is not None
            with _ONE_RUN, environment_with(env), debug_events_unbuilt():
                try:
                    result = dbtRunner(manifest=manifest, callbacks=[keep]).invoke(
                        dbt_args(settings, args, target_dir))
                finally:
                    _close_duckdb()
            outcome.success = bool(result.success)
            outcome.exception = result.exception
        except BaseException as exc:  # reported to the caller
            outcome.exception = exc
        finally:
            events.put(done)

    global _running
    thread = threading.Thread(target=invoke, name="dbt", daemon=True)
    _running = thread
    thread.start()
    try:
        while (event := events.get()) is not done:
            yield event
    except BaseException:  # the caller stopped reading: SIGTERM, Ctrl-C, its own failure
        stop(thread)
        raise
    thread.join()


def stop_running(timeout: float = STOP_SECONDS) -> bool:
    """Stop this process's dbt run if it is still going (see `stop`); True once none is. A
    caller that stops reading a run's events leaves dbt running: Dagster does, when SIGTERM
    interrupts the step. `hub build` calls this before it opens the working file again, and
    it runs at the process's exit, so that dbt never dies inside DuckDB."""
    thread = _running
    return thread is None or not thread.is_alive() or stop(thread, timeout)


atexit.register(stop_running)


def stop(thread: threading.Thread, timeout: float = STOP_SECONDS) -> bool:
    """Stop a dbt run the way Ctrl-C stops `dbt build` (an interrupt in dbt's thread: dbt
    cancels the open queries, marks the rest not run and returns), and wait for its thread,
    which then closes dbt's DuckDB files. The build's next steps open those files again: while
    dbt still held them, DuckDB refused, and the process ended in an abort with dbt's daemon
    thread inside DuckDB. False if dbt has not ended within `timeout` seconds."""
    import ctypes

    if thread.ident is not None and thread.is_alive():
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident),
                                                   ctypes.py_object(KeyboardInterrupt))
        _cancel_queries()  # a thread inside a long query sees the interrupt when it returns
    thread.join(timeout)
    return not thread.is_alive()


def _cancel_queries() -> None:
    """Interrupt the queries dbt-duckdb is running (dbt's own cancellation, from here)."""
    try:
        from dbt.adapters.factory import get_adapter_by_type

        get_adapter_by_type("duckdb").cancel_open_connections()
    except Exception:  # no adapter yet, or nothing open: nothing to cancel
        pass


@contextmanager
def debug_events_unbuilt() -> Iterator[None]:
    """dbt builds every event it fires, debug ones included (a protobuf message each, about
    1.5 CPU-seconds of a small full build), then gives it to each logger whose level wants it.
    During the run, a debug event is not built when no logger would write it (the build's log
    is at info, dbt.log at warn unless DBT_LOG_LEVEL_FILE says debug) and this module's
    callback reads results and errors only. If dbt's event manager is not as expected, every
    event is built as before."""
    try:
        from dbt_common.events.base_types import EventLevel
        from dbt_common.events.event_manager import EventManager
    except ImportError:
        yield
        return
    fire = EventManager.fire_event

    def fire_event(self, event, level=None, *args, **kwargs):
        if ((level or event.level_tag()) == EventLevel.DEBUG
                and all(getattr(logger, "level", EventLevel.DEBUG) != EventLevel.DEBUG
                        for logger in self.loggers)):
            return None
        return fire(self, event, level, *args, **kwargs)

    EventManager.fire_event = fire_event
    try:
        yield
    finally:
        EventManager.fire_event = fire


def _close_duckdb() -> None:
    """Close the DuckDB database dbt-duckdb keeps open for its next run in this process: the
    build's next steps open the same files with this process's own settings, which DuckDB
    refuses while another configuration holds them."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    try:
        environment = DuckDBConnectionManager.env()
    except Exception:  # no environment: dbt never connected
        return
    environment.close()
    DuckDBConnectionManager.close_all_connections()


def run_to_end(settings: Settings, args: Sequence[str], target_dir: Path) -> DbtOutcome:
    """Run `dbt <args>` here, its results unread; return how it ended."""
    outcome = DbtOutcome()
    for _ in run(settings, args, target_dir, outcome):
        pass
    return outcome
