"""`stop_when`, `signals_kept_through_queries` and `signal_handlers_kept`
(dagster_project/stop_request.py), in real processes: the process sends itself SIGTERM once
asked, asks again after an error, and sends nothing once its block has ended; a signal during a
DuckDB query stops a Dagster run; a Dagster run leaves the signal handlers as they were."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dagster_project.settings import REPO_ROOT

CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from dagster_project.stop_request import stop_when

    flag, mode = Path(sys.argv[1]), sys.argv[2]
    asked_at = []

    def asked():
        asked_at.append(time.monotonic())
        if mode == "error" and len(asked_at) == 1:
            raise OSError("storage briefly unavailable")
        return flag.exists()

    with stop_when(asked, every_seconds=0.05):
        if mode == "ended":
            time.sleep(0.3)
        else:
            print("waiting", flush=True)
            time.sleep(60)
    flag.touch()  # asked() would now answer yes: nothing may be sent any more
    time.sleep(0.5)
    print("ended", flush=True)
""")


def _child(tmp_path: Path, mode: str) -> tuple[subprocess.Popen, Path]:
    flag = tmp_path / "stop"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(flag), mode],
                            stdout=subprocess.PIPE, text=True)
    return proc, flag


@pytest.mark.parametrize("mode", ["asked", "error"])
def test_the_process_stops_itself_once_asked(tmp_path, mode):
    proc, flag = _child(tmp_path, mode)
    assert proc.stdout.readline() == "waiting\n"
    assert proc.poll() is None
    flag.touch()
    assert proc.wait(timeout=20) == -15  # SIGTERM, Python's default action


def test_nothing_is_sent_once_the_block_has_ended(tmp_path):
    proc, _ = _child(tmp_path, "ended")
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0 and out == "ended\n"


LOST_INTERRUPT = textwrap.dedent("""
    import time
    from dagster_project.stop_request import interrupt_on_signals, raise_if_interrupted

    interrupt_on_signals()

    class Slow:
        def __del__(self):
            print("finalizing", flush=True)
            time.sleep(30)  # SIGTERM comes here: Python ignores its KeyboardInterrupt

    held = Slow()
    try:
        del held
        print("went on", flush=True)
        raise_if_interrupted()
        print("not stopped", flush=True)
    except KeyboardInterrupt:
        print("stopped", flush=True)
""")


def test_a_sigterm_whose_interrupt_python_ignored_still_stops_at_the_next_check():
    """SIGTERM during a finalizer: Python ignores the handler's KeyboardInterrupt (as it did
    once in `hub report`, which then went on to replace the month's packs); the check that
    follows raises it again."""
    proc = subprocess.Popen([sys.executable, "-c", LOST_INTERRUPT], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "finalizing\n"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert "Exception ignored" in err and "KeyboardInterrupt" in err
    assert (proc.returncode, out) == (0, "went on\nstopped\n")


IGNORING_SIGINT = textwrap.dedent("""
    import signal, time
    from dagster_project.stop_request import interrupt_on_signals

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell starts a job in the background
    interrupt_on_signals()
    try:
        print("ready", flush=True)
        time.sleep(30)
    except KeyboardInterrupt:
        print("stopped", flush=True)
""")


def test_a_sigint_the_process_was_started_ignoring_stays_ignored():
    proc = subprocess.Popen([sys.executable, "-c", IGNORING_SIGINT], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGINT)
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(timeout=1)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    assert (proc.returncode, out) == (0, "stopped\n")


QUERY_IN_A_RUN = textwrap.dedent("""
    import contextlib, os, signal, sys, threading, time
    from pathlib import Path

    import dagster as dg
    import duckdb

    from dagster_project.build import _failure_message
    from dagster_project.stop_request import signals_kept_through_queries

    folder = Path(sys.argv[1])

    def sigterm_once_running(con):
        while con.query_progress() <= 0:  # -1, then 0 until the query has read some rows
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)

    @dg.op(config_schema={"kept": bool})
    def a_long_query(context):
        con = duckdb.connect()
        con.execute("set enable_progress_bar = true")  # else query_progress() stays -1
        # DuckDB's binding looks for signals between the tasks of the calling thread: with a
        # second thread the scan can be one endless task of this one, and the signal waits
        con.execute("set threads = 1")
        threading.Thread(target=sigterm_once_running, args=(con,), daemon=True).start()
        kept = context.op_config["kept"]
        with signals_kept_through_queries() if kept else contextlib.nullcontext():
            con.execute("select count(*) from range(1000000000000) t(i) "
                        "where i % 7 = 3").fetchall()

    @dg.op(config_schema={"kept": bool})
    def b_next_step(context):
        (folder / f"next_step_ran_{context.op_config['kept']}").touch()

    @dg.job(executor_def=dg.in_process_executor)
    def two_steps():
        a_long_query()
        b_next_step()

    for kept in (False, True):
        config = {"ops": {op: {"config": {"kept": kept}} for op in ("a_long_query",
                                                                     "b_next_step")}}
        result = two_steps.execute_in_process(run_config=config, raise_on_error=False)
        (failure,) = [e for e in result.all_events if e.is_step_failure]
        error = failure.step_failure_data.error
        print(kept, failure.step_key, error.cls_name, error.cause and error.cause.cls_name,
              (folder / f"next_step_ran_{kept}").exists(), "|",
              _failure_message(error), "|", error.cause and error.cause.message.strip(),
              flush=True)
""")


def test_a_sigterm_during_a_duckdb_query_stops_the_run_not_only_its_step(tmp_path):
    """DuckDB's Python binding interrupts a query when a signal comes and raises RuntimeError in
    place of the handler's exception (Dagster's interrupt within a step). Left so, the step fails
    as if its code had failed and the run goes on to its next step: a Terminate or Ctrl-C during
    a build's load once let the other loads run on, and `hub build` said the load had failed,
    not that it was interrupted. Within `signals_kept_through_queries` the run stops there, and
    the build's message says so. Real Dagster runs, real DuckDB queries, in a child process."""
    proc = subprocess.run([sys.executable, "-c", QUERY_IN_A_RUN, str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lost, kept = proc.stdout.splitlines()
    # the step failed as if its code had, and the next step ran
    assert lost.startswith("False a_long_query DagsterExecutionStepExecutionError RuntimeError "
                           "True | "), lost
    assert kept == ("True a_long_query KeyboardInterrupt RuntimeError False | "
                    "interrupted (SIGTERM or Ctrl-C): the build stopped | "
                    "RuntimeError: Query interrupted"), kept


HANDLERS_AFTER_A_RUN = textwrap.dedent("""
    import signal

    import dagster as dg

    from dagster_project.stop_request import interrupt_on_signals, signal_handlers_kept

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell starts a job in the background
    interrupt_on_signals()
    ours = signal.getsignal(signal.SIGTERM)

    @dg.op
    def step():
        pass

    @dg.job(executor_def=dg.in_process_executor)
    def one_step():
        step()

    with signal_handlers_kept():
        assert one_step.execute_in_process().success
    ignored = signal.SIG_IGN
    print(signal.getsignal(signal.SIGTERM) is ours, signal.getsignal(signal.SIGINT) is ignored)
    assert one_step.execute_in_process().success
    print(signal.getsignal(signal.SIGTERM) is ours, signal.getsignal(signal.SIGTERM) is ignored)
""")


def test_a_dagster_run_leaves_the_signal_handlers_as_they_were():
    """Dagster's run ends by giving SIGTERM the handler of SIGINT: where SIGINT is ignored, SIGTERM
    then is too (and in every process started after). `hub build` runs its run within
    `signal_handlers_kept` (dagster_project/build.py), and so does every test of the suite
    (tests/conftest.py), whose pytest-xdist workers ignore SIGINT."""
    proc = subprocess.run([sys.executable, "-c", HANDLERS_AFTER_A_RUN], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines() == ["True True", "False True"]


SIGNAL_WITHIN_A_UDF = textwrap.dedent("""
    import contextlib, os, signal, sys
    from pathlib import Path

    import dagster_project.privacy as privacy
    from dagster_project.ingest import load_source
    from dagster_project.partners import load_partners
    from dagster_project.stop_request import interrupt_on_signals, signals_kept_through_queries
    from tests.crm_small_landing import write_small_landing

    root, kept = Path(sys.argv[1]), sys.argv[2] == "kept"
    landing, partners_dir, _ = write_small_landing(root)
    partners = load_partners(partners_dir, Path("seeds/reference"))
    real, sent = privacy._message, []

    def message(kind, value):  # the UDF of the non-ASCII values: a name with an accent
        if not sent:
            sent.append(True)
            os.kill(os.getpid(), signal.SIGTERM)  # its handler runs within this function
        return real(kind, value)

    privacy._message = message
    interrupt_on_signals()
    try:
        with signals_kept_through_queries() if kept else contextlib.nullcontext():
            report = load_source(root / "work.duckdb", landing, partners, "crm",
                                 pseudonymisation_key="0" * 64)
        print("went on:", ", ".join(f"{f.rel_path} {f.status}" for f in report.files))
    except KeyboardInterrupt:
        print("interrupted")
    except Exception as exc:
        print("failed:", type(exc).__name__)
""")


@pytest.mark.parametrize("kept", ["kept", "bare"])
def test_a_signal_whose_handler_runs_within_a_udf_stops_the_load(tmp_path, kept):
    """Python runs a signal's handler in whatever Python code the main thread runs: within the
    pseudonymisation's UDF, DuckDB turns the handler's exception into its own error. The loader
    took it for a batch DuckDB had failed on, loaded each file again alone and went on: the
    build's SIGTERM was lost (twice in 30 SIGTERMs during a CRM load). It now stops the load
    with or without `signals_kept_through_queries` around it (one DuckDB thread: the UDF runs in
    the calling thread, as it can with more)."""
    env = {**os.environ, "HUB_THREADS": "1", "HUB_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.run([sys.executable, "-c", SIGNAL_WITHIN_A_UDF, str(tmp_path), kept],
                          capture_output=True, text=True, timeout=120, env=env,
                          cwd=REPO_ROOT)
    assert (proc.returncode, proc.stdout) == (0, "interrupted\n"), proc.stderr[-3000:]
