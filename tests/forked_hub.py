"""`hub <args>` in a process forked from one that has already imported what `hub` imports.

A `hub build` starts by importing Dagster, dagster-dbt, dbt and DuckDB: about 2 CPU-seconds before
it reads a file, paid again by every one of the suite's `hub` runs (docs/benchmarks-journal.md, "The
test suite"). Here each run is a child of a fork server (Python's `multiprocessing` "forkserver"
context) that imported them once per test worker: the child is a process of its own, with the run's
environment, working folder, arguments and exit status, stdout and stderr (its file descriptors 1
and 2, so what DuckDB or dbt writes itself is captured too), and it runs the console script's own
function (`dagster_project.cli.run`, which ends the process with the command's status). What it does
not repeat is the import. The tests' own dbt commands (`run_dbt`: `hub-dbt`, what
`dagster_project.dbt_runner.dbt_process` runs) are forked the same way.

The tests that signal, kill or wait on a build left running (tests/test_build_safety.py) start
it with `start_hub`, which returns what they use of `subprocess.Popen`: the child is the build's
process, so its process id is the one in the writer lock and the run's tags, and a `kill -9` or
a SIGTERM reaches the build itself. What stays with the real console script: the build killed
during publication in tests/test_build_safety.py (its marts are compared row for row with those
of the forked build after it: two processes with their own string-hash seeds), the tests that
read a `hub` process's pipes or its process group (tests/test_serve_supervision.py,
tests/test_writer_lock.py, the stopped report of tests/test_board_pack.py, the stopped bench of
tests/test_bench.py) and every `hub` the product itself starts (`hub bench`'s builds, Dagster's
runs). A module that reads the environment when it is imported would see the fork server's: the
package reads it when a command runs, except the landing sensor's interval
(`dagster_project/orchestration/automation.py`), which only Dagster's daemon uses. The forked
runs share the fork server's string-hash seed, where each console-script process draws its own.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dagster_project.settings import Settings

# The console scripts run forked (pyproject.toml, [project.scripts]): their functions.
SCRIPTS = {"hub": ("dagster_project.cli", "run"), "hub-dbt": ("dagster_project.dbt_cli", "main")}
# The libraries `hub build` spends its import time on (python -X importtime), after the
# package's `__init__` (which sets DuckDB's allocator option before DuckDB is imported:
# dagster_project/freed_memory.py), and none of the project's other modules: some build state
# from the environment when imported (the Dagster definitions' resources,
# `orchestration/dbt_assets.py`'s settings), which must be the run's. Then what a build still
# imported after those (about 520 modules, 0.3 CPU-seconds a run): the Dagster instance's
# SQLite storage (SQLAlchemy, Alembic), and the dbt task, adapter environment and result
# tables that `dbt build` imports when it starts.
PRELOAD = ["dagster_project", "dagster", "dagster_dbt", "dbt.cli.main", "dbt.adapters.duckdb",
           "duckdb", "pyarrow",
           "dagster._core.storage.event_log.sqlite", "dagster._core.storage.runs.sqlite",
           "dagster._core.storage.schedules.sqlite",
           "dagster._core.storage.local_compute_log_manager",
           "dbt.task.build", "dbt.adapters.duckdb.environments.local",
           "dbt_common.clients.agate_helper"]
# The fork server starts with this worker's first run, not at import.
FORKSERVER = multiprocessing.get_context("forkserver")
FORKSERVER.set_forkserver_preload(PRELOAD)


def _script_path(script: str) -> str:
    """The console script's path, beside this interpreter (the child's `sys.argv[0]`)."""
    return str(Path(sys.executable).with_name(script))


def _run_script(script: str, args: list[str], env: dict[str, str], cwd: str, stdout: str,
                stderr: str | None) -> None:
    """The child: become `<script> <args>` (environment, folder, output: `stderr` None sends
    it to `stdout`'s file, as `stderr=subprocess.STDOUT` does) and run the console script's
    function."""
    import importlib

    for fd, path in ((1, stdout), (2, stderr)):
        if path is None:
            os.dup2(1, fd)
            continue
        target = os.open(path, os.O_WRONLY | os.O_TRUNC)
        os.dup2(target, fd)
        os.close(target)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    time.tzset()
    tempfile.tempdir = None  # the next temporary file asks TMPDIR again
    sys.argv = [_script_path(script), *args]
    module, function = SCRIPTS[script]
    getattr(importlib.import_module(module), function)()


def _fork(script: str, args: Sequence[str], env: dict[str, str], cwd: str, stdout: Path,
          stderr: Path | None) -> multiprocessing.process.BaseProcess:
    for path in (stdout, stderr):
        if path is not None:
            path.touch()
    child = FORKSERVER.Process(target=_run_script, args=(
        script, list(args), dict(env), cwd, str(stdout),
        None if stderr is None else str(stderr)))
    child.start()
    return child


def _stop(child: multiprocessing.process.BaseProcess) -> None:
    """The test stopped waiting (a timeout, Ctrl-C, a failed assertion): the run stops with
    it."""
    if child.is_alive():
        child.terminate()
        child.join(10)
        if child.is_alive():
            child.kill()
            child.join()


class StartedHub:
    """A forked `hub <args>` left running, with what the tests use of `subprocess.Popen`: its
    process id, `poll`, `wait`, `kill` and `returncode` (negative: the signal that ended it)."""

    def __init__(self, child: multiprocessing.process.BaseProcess, args: list[str]) -> None:
        self._child, self.args = child, args
        self.pid = child.pid

    @property
    def returncode(self) -> int | None:
        return self._child.exitcode

    def poll(self) -> int | None:
        return self._child.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._child.join(timeout)
        if self._child.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self._child.exitcode

    def kill(self) -> None:
        self._child.kill()


def start_hub(args: Sequence[str], env: dict[str, str], out: Path) -> StartedHub:
    """Start `hub <args>` with `env` in a forked child, its stdout and stderr to the file
    `out`; the caller waits for it (or kills it)."""
    return StartedHub(_fork("hub", args, env, os.getcwd(), out, None),
                      [_script_path("hub"), *args])


def _run(script: str, args: Sequence[str], env: dict[str, str],
         cwd: str | None = None) -> subprocess.CompletedProcess:
    """Run `<script> <args>` with `env` in a forked child; its output and status, as
    `subprocess.run(..., capture_output=True, text=True)` gives them."""
    with tempfile.TemporaryDirectory(prefix=f"{script}-run-") as tmp:
        out, err = Path(tmp, "stdout"), Path(tmp, "stderr")
        child = _fork(script, args, env, cwd or os.getcwd(), out, err)
        try:
            child.join()
        finally:
            _stop(child)
        return subprocess.CompletedProcess(
            [_script_path(script), *args], child.exitcode,
            out.read_text(encoding="utf-8", errors="replace"),
            err.read_text(encoding="utf-8", errors="replace"))


def run_hub(args: Sequence[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run `hub <args>` with `env` in a forked child; its output and status."""
    return _run("hub", args, env)


def run_dbt(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    """What `dagster_project.dbt_runner.dbt_process(settings, *args)` runs (`hub-dbt` in the
    dbt project, with the build's dbt environment), in a forked child."""
    from dagster_project.dbt_runner import dbt_invocation

    argv, env, cwd = dbt_invocation(settings, *args)
    return _run("hub-dbt", argv[1:], env, str(cwd))
