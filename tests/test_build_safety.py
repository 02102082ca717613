"""Builds that never collide, and nothing lost to a crash: real `hub build` processes on copies of
the session's warehouse with one more month landed (2024-05, generated here).

- two concurrent `hub build`s: the second waits, naming the first; `--no-wait` exits 3;
- `kill -9` of a build during load, of the next one during dbt, the Dagster UI's Terminate of
  the next during dbt (the run coordinator's `cancel_run`, then the run launcher's `terminate`,
  which marks the run CANCELING; the build sees it and sends itself SIGTERM: the run is
  canceled and the build fails cleanly, status 1) and
  `kill -9` of the next during publish, each observed from outside (the loader's temporary
  folder, dbt's log lines, the publication's temporary file), never with a hook in the build:
  after each, the served files are unchanged and answer a dashboard query; the build after the
  four succeeds without clean-up, with marts identical to an uninterrupted one; it and the
  build killed during publication (whose dbt run had finished) are two builds from scratch of
  the same files, with identical marts;
- the runs the three `kill -9`s left STARTED (a killed process cannot report its end) are
  marked failed by Dagster's run monitoring, so they no longer hold the one-run queue
  (dagster_project/orchestration/run_launcher.py);
- `hub rollback` serves the previous published warehouse again;
- a run interrupted outside its dbt step's generator (as Dagster may interrupt a run of the
  queue) has dbt stopped before its writer lock is free.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from dagster_project.writer_lock import read_holder
from tests.conftest import DEFAULT_DBT_THREADS, copy_data_dir, hub, hub_env, settings_of
from tests.forked_hub import StartedHub, start_hub
from tests.marts_compare import differences, marts_rows

NEW_MONTH = ["--months", "1", "--end-month", "2024-05", "--seed", "8", "--scale", "0.15"]
HUB = str(Path(sys.executable).with_name("hub"))
# A build stopped by SIGTERM (a service manager, `kill`) ends within this many seconds.
STOPPED_WITHIN = 60
# what a dashboard asks of the served file (the league table of the hub-board dashboard)
DASHBOARD_SQL = ("select partner_code, month, sum(calls_total), sum(answered) "
                 "from marts.kpi_telephony_monthly group by all order by all")


@pytest.fixture(scope="module")
def new_month(tmp_path_factory) -> Path:
    """May 2024's landing files of the generated partners (another seed than the session's)."""
    data = tmp_path_factory.mktemp("may") / "data"
    hub(hub_env(data), "generate", *NEW_MONTH)
    shutil.rmtree(data / "landing" / "phonenow")  # the real export: already in the warehouse
    return data / "landing"


def _landed(built_warehouse, new_month: Path, target: Path) -> Path:
    """A copy of the session's warehouse with the new month landed: the next build has work."""
    copy_data_dir(built_warehouse.data_dir, target)
    # The session's kept versions are not copied: test_superset_publish republishes the
    # session's serving file from another data folder (its own operations file), so they need
    # not be the pair the copy serves. Without kept versions, the first publication keeps the
    # served pair (published.start_version): rollback then has exactly those files to restore.
    shutil.rmtree(target / "serving" / "published", ignore_errors=True)
    shutil.copytree(new_month, target / "landing", dirs_exist_ok=True)
    return target


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _served(data: Path) -> dict[str, str]:
    s = settings_of(data)
    return {p.name: _digest(p) for p in (s.serving_db, s.operations_db)}


def _dashboard_query(db: Path) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(DASHBOARD_SQL).fetchall()
    finally:
        con.close()


def _start_build(data: Path, out: Path, console: bool = False) -> subprocess.Popen | StartedHub:
    """A `hub build` left running, its output to `out`: forked (tests/forked_hub.py), or with
    `console` the console script in a process of its own (its own string-hash seed: the build
    killed during publication is compared row for row with the forked build after it)."""
    tmp = data.parent / "proc-tmp"
    tmp.mkdir(exist_ok=True)
    # dbt's default threads: the build killed during publication and the one after it are two
    # builds from scratch compared row for row (tests/conftest.py, ONE_DBT_THREAD)
    env = hub_env(data, TMPDIR=str(tmp), **DEFAULT_DBT_THREADS)
    if not console:
        return start_hub(["build"], env, out)
    return subprocess.Popen([HUB, "build"], env=env, stdout=out.open("w"),
                            stderr=subprocess.STDOUT)


def _until(condition, proc: subprocess.Popen | StartedHub, out: Path,
           timeout: float = 240) -> None:
    """Poll `condition` every 10 ms until true; fail if the build ends first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the build ended ({proc.returncode}) before the awaited point:\n"
                        f"{out.read_text()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the awaited point never came in {timeout:.0f}s")
        time.sleep(0.01)


@pytest.fixture(scope="module")
def concurrent(built_warehouse, new_month, tmp_path_factory) -> dict:
    """Two real `hub build`s started on the same data folder, the second while the first holds
    the lock, and a `hub build --no-wait` between them. Its published marts are the reference
    (an uninterrupted build: the second build waited, then found nothing new)."""
    root = tmp_path_factory.mktemp("concurrent")
    data = _landed(built_warehouse, new_month, root / "data")
    before = _served(data)
    first = _start_build(data, root / "first.out")
    work_db = settings_of(data).work_db
    _until(lambda: (h := read_holder(work_db)) is not None and h.pid == first.pid,
           first, root / "first.out", 60)
    no_wait = hub(hub_env(data), "build", "--no-wait", check=False)
    second = _start_build(data, root / "second.out")
    first.wait(timeout=600)
    second.wait(timeout=600)
    return {"data": data, "before": before, "first": first, "second": second,
            "first_out": (root / "first.out").read_text(),
            "second_out": (root / "second.out").read_text(), "no_wait": no_wait,
            "marts": marts_rows(settings_of(data).serving_db)}


def test_two_concurrent_builds_queue_and_both_succeed(concurrent, built_warehouse):
    first, second = concurrent["first"], concurrent["second"]
    assert first.returncode == 0, concurrent["first_out"]
    assert second.returncode == 0, concurrent["second_out"]
    assert "hub build: published" in concurrent["first_out"]
    # the second waited for the first, named, then found nothing left to do
    waited = [ln for ln in concurrent["second_out"].splitlines() if "waiting for" in ln]
    assert len(waited) == 1 and waited[0].startswith("hub build: waiting for the build started ")
    assert waited[0].endswith(f"by `hub build` (pid {first.pid})")
    assert "hub build: nothing new" in concurrent["second_out"]
    no_wait = concurrent["no_wait"]
    assert no_wait.returncode == 3
    assert f"by `hub build` (pid {first.pid}) is still writing" in no_wait.stderr
    assert "not waiting (--no-wait)" in no_wait.stderr
    assert "Traceback" not in concurrent["second_out"] + no_wait.stderr
    # the marts are right: the new month for every generated partner, history unchanged
    served = settings_of(concurrent["data"]).serving_db
    new, old = _dashboard_query(served), _dashboard_query(built_warehouse.serving_db)
    assert [r for r in new if str(r[1]) < "2024-05"] == old
    assert {r[0] for r in new if str(r[1]) == "2024-05-01"} == {
        "eastbrook", "highcross", "northmoor", "riverton", "southfield", "westvale"}


def _loading(data: Path) -> bool:
    """The loader's round folder exists: files are being read and loaded."""
    return any((data.parent / "proc-tmp").glob("hub-load-*/round-*"))


def _in_dbt(since: float):
    def in_dbt(data: Path) -> bool:  # dbt has written at least one model of this build
        logs = [p for p in (data / "logs").glob("build-*.log") if p.stat().st_mtime >= since]
        return any(" OK created sql " in p.read_text(errors="replace") for p in logs)

    return in_dbt


def _publishing(data: Path) -> bool:
    """The operations file is being written beside its target."""
    return any((data / "serving").glob(".operations.duckdb.*.tmp"))


def _terminate_from_dagster(data: Path, pid: int) -> dict:
    """What the Dagster UI's Terminate does to the run of the `hub build` with process id `pid`
    (the runs earlier kills left are STARTED too): the instance's `run_coordinator.cancel_run`,
    which the UI's terminate mutation calls (a started run: the run launcher's `terminate`), in a
    process whose settings are those of `hub serve` over `data`."""
    import dagster as dg

    from dagster_project.run_tags import PID_TAG
    from dagster_project.settings import environment_with

    home = str(settings_of(data).dagster_home)
    with (environment_with({"HUB_DATA_DIR": str(data)}),
          dg.DagsterInstance.from_config(home) as instance):
        (run,) = instance.get_runs(dg.RunsFilter(tags={PID_TAG: str(pid)},
                                                 statuses=[dg.DagsterRunStatus.STARTED]))
        return {"run_id": run.run_id, "sent": instance.run_coordinator.cancel_run(run.run_id)}


@pytest.fixture(scope="module")
def killed(built_warehouse, new_month, tmp_path_factory) -> dict:
    """One data folder, one build after another, each `kill -9`ed at a later point: during the
    load, then (the next build) during dbt, then during publication; what each left is recorded,
    then one more `hub build` runs to the end. Each kill leaves the folder as the crash left it,
    so every later build also recovers from all the crashes before it."""
    root = tmp_path_factory.mktemp("killed")
    data = _landed(built_warehouse, new_month, root / "data")
    s = settings_of(data)
    before = _served(data)
    answer = _dashboard_query(s.serving_db)
    stages: dict[str, dict] = {}
    for stage, at, sig in (("load", lambda: _loading, signal.SIGKILL),
                           ("dbt", lambda: _in_dbt(time.time()), signal.SIGKILL),
                           ("sigterm", lambda: _in_dbt(time.time()), signal.SIGTERM),
                           ("publish", lambda: _publishing, signal.SIGKILL)):
        out = root / f"killed-{stage}.out"
        proc = _start_build(data, out, console=stage == "publish")
        _until(functools.partial(at(), data), proc, out)
        if sig == signal.SIGTERM:
            terminated = _terminate_from_dagster(data, proc.pid)
        else:
            os.kill(proc.pid, sig)
        signalled = time.monotonic()
        proc.wait(timeout=STOPPED_WITHIN)
        logs = sorted((data / "logs").glob("build-*.log"), key=lambda p: p.stat().st_mtime)
        stages[stage] = {
            "served": _served(data), "serving_answer": _dashboard_query(s.serving_db),
            "operations_answer": _dashboard_query(s.operations_db),
            "log": logs[-1].read_text(errors="replace") if logs else "",
            "returncode": proc.returncode, "output": out.read_text(errors="replace"),
            "seconds": time.monotonic() - signalled}
    stages["sigterm"]["terminated"] = terminated
    # the build killed during publication had finished dbt: its plan, and the marts it built
    # (the working marts file, checkpointed before publication copies it)
    with duckdb.connect(str(s.work_db), read_only=True) as work:
        stages["publish"]["plan"] = work.execute("select mode, reason from build.plan").fetchone()
    stages["publish"]["marts"] = marts_rows(s.marts_db)
    again = hub(hub_env(data, **DEFAULT_DBT_THREADS), "build")
    return {"data": data, "before": before, "answer": answer, "stages": stages, "again": again,
            "marts": marts_rows(s.serving_db),
            "tmp_left": list(s.serving_db.parent.glob(".*.tmp*"))}


def _served_unchanged(killed: dict, stage: str) -> None:
    """The served files: the same bytes, readable, answering the dashboard's query."""
    after = killed["stages"][stage]
    assert after["served"] == killed["before"], f"killed during {stage}: the served files changed"
    assert after["serving_answer"] == killed["answer"]
    assert after["operations_answer"] == killed["answer"]


def test_kill_9_during_load(killed):
    _served_unchanged(killed, "load")


def test_kill_9_during_dbt(killed):
    _served_unchanged(killed, "dbt")
    log = killed["stages"]["dbt"]["log"]
    assert " OK created sql " in log and "Completed successfully" not in log


def test_sigterm_during_dbt_stops_the_build_cleanly(killed):
    """SIGTERM interrupts the dbt step; dbt is stopped the way Ctrl-C stops it before the build
    reads the working file again. The build fails with its usual message and status 1, never an
    abort of dbt's thread inside DuckDB (status 134, which it was)."""
    _served_unchanged(killed, "sigterm")
    stopped = killed["stages"]["sigterm"]
    assert stopped["returncode"] == 1, stopped["output"][-3000:]
    assert "hub build FAILED at hub_dbt_models: interrupted" in stopped["output"]
    assert "were left as they were" in stopped["output"]
    assert stopped["terminated"]["sent"], "the launcher did not mark the run canceling"
    assert "Traceback" not in stopped["output"] and "terminate called" not in stopped["output"]
    assert " OK created sql " in stopped["log"] and "Completed successfully" not in stopped["log"]
    assert stopped["seconds"] < STOPPED_WITHIN


def test_kill_9_during_publish(killed):
    _served_unchanged(killed, "publish")


def test_the_build_after_the_kills_needs_no_clean_up_and_equals_an_uninterrupted_one(
        killed, concurrent):
    again = killed["again"]
    assert "waiting for" not in again.stdout
    assert "hub build: published" in again.stdout
    assert differences(killed["marts"], concurrent["marts"]) == []
    assert killed["tmp_left"] == [], "a temporary file was left"


def test_two_builds_from_scratch_give_identical_marts(killed):
    """The build killed during publication was a full one (the build before it was killed during
    dbt) and had finished dbt; the build after it is a full one too, of the same loaded files:
    every marts table is the same, row for row and to the last digit (money and ratios are
    exact decimals, docs/architecture.md "Incremental builds")."""
    full = "the previous build did not finish"
    assert killed["stages"]["publish"]["plan"] == ("full", full)
    assert f"dbt: full build ({full})" in killed["again"].stdout
    assert differences(killed["stages"]["publish"]["marts"], killed["marts"]) == []


def test_the_runs_the_kills_left_started_are_marked_failed_by_the_run_monitoring(
        killed, monkeypatch):
    """What the daemon's run monitoring does at each poll (Dagster's own function), with the
    instance `hub build` configured in the killed builds' data folder: no build holds the writer
    lock, so none of the three runs is still running, and each is marked failed with the
    reason. The build stopped by the Dagster UI's Terminate (SIGTERM) ended its run itself, as
    canceled; the last build succeeded."""
    import logging

    import dagster as dg
    from dagster._daemon.monitoring.run_monitoring import monitor_started_run

    monkeypatch.setenv("HUB_DATA_DIR", str(killed["data"]))  # where the launcher probes the lock
    with dg.DagsterInstance.from_config(str(settings_of(killed["data"]).dagster_home)) as instance:
        assert instance.run_monitoring_enabled
        runs = instance.get_runs(dg.RunsFilter(tags={"hub/trigger": "hub build"}))
        statuses = [run.status for run in reversed(runs)]  # oldest first
        started = dg.DagsterRunStatus.STARTED
        assert statuses[-5:] == [started, started, dg.DagsterRunStatus.CANCELED, started,
                                 dg.DagsterRunStatus.SUCCESS], statuses
        left = [run for run in runs if run.status == started]
        for run in left:
            record = instance.get_run_record_by_id(run.run_id)
            monitor_started_run(instance, None, record, logging.getLogger(__name__))
            assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
            (failure,) = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
            assert "no build holds the writer lock" in failure.dagster_event.message


def test_rollback_serves_the_previous_warehouse_again(concurrent, built_warehouse):
    data = concurrent["data"]
    s = settings_of(data)
    env = hub_env(data)
    rolled = hub(env, "rollback")
    assert rolled.stdout.startswith("hub rollback: now serving the warehouse published ")
    assert _served(data) == concurrent["before"]  # the very files served before the build
    assert differences(marts_rows(s.serving_db), marts_rows(built_warehouse.serving_db)) == []
    assert _dashboard_query(s.serving_db) == _dashboard_query(built_warehouse.serving_db)
    again = hub(env, "rollback", check=False)
    assert again.returncode == 1 and "no earlier version is kept" in again.stderr


def test_a_run_interrupted_outside_the_dbt_step_stops_dbt_before_the_writer_lock_is_free(
        built_warehouse, tmp_path):
    """Terminate on a run of the queue: Dagster may raise the interrupt between two events of the
    dbt step, outside its generator, which is then left suspended with dbt still building in its
    thread (seen by hand on 6 December 2026: the run CANCELED and its writer lock free, its
    process kept DuckDB's lock on the working file for over a minute, and the next `hub build`
    failed on it). The run's writer lock resource stops dbt before it releases the lock: once
    the lock is free, the working file opens for writing."""
    import dagster as dg

    from dagster_project import dbt_in_process
    from dagster_project.dbt_runner import build_args
    from dagster_project.orchestration.resources import WriterLockResource
    from dagster_project.writer_lock import is_locked
    from tests.conftest import working_file_copy

    settings, target = working_file_copy(built_warehouse, tmp_path)
    resource = WriterLockResource.from_settings(settings)
    outcome = dbt_in_process.DbtOutcome()
    with resource.yield_for_execution(dg.build_init_resource_context()):
        events = dbt_in_process.run(settings, [*build_args(), "--full-refresh"], target, outcome)
        next(events)  # dbt is building; the step's generator is then left, not closed
    assert not is_locked(settings.work_db)
    assert dbt_in_process.stop_running(timeout=0), "dbt still runs, and the lock is free"
    # another process (the next build) opens the working file for writing
    opened = subprocess.run([sys.executable, "-c", "import sys, duckdb; "
                             "duckdb.connect(sys.argv[1]).execute('select 1').fetchall()",
                             str(settings.work_db)], capture_output=True, text=True, timeout=60)
    assert opened.returncode == 0, opened.stderr[-2000:]
    events.close()
