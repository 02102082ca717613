"""`hub build`: run the whole Dagster build job in-process.

Running through Dagster (not around it) records every materialization and check in the
instance under DAGSTER_HOME, so the Dagster UI started by `hub serve` shows the warehouse as
built. The job loads what is new in the landing folder, then dbt redoes only the partner-months
that changed (or everything with `full_refresh`, or nothing when nothing changed: the served
files are then left untouched); docs/architecture.md, "Incremental builds".
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dagster_project import dbt_in_process, duck
from dagster_project.ingest.raw_tables import raw_table
from dagster_project.quality import rejection_messages
from dagster_project.run_tags import HUB_BUILD, hub_build_tags
from dagster_project.settings import Settings, environment_with
from dagster_project.source_models import SOURCE_MODELS
from dagster_project.stop_request import raise_if_interrupted, signal_handlers_kept, stop_when
from dagster_project.writer_lock import writer_lock

DAGSTER_YAML = """\
# Written by hub: local Dagster instance for the Hub Warehouse (delete this line to keep edits).
telemetry:
  enabled: false
# Dagster's SQLite event log under history/runs, its engines kept for the life of a process
# (dagster_project/orchestration/event_log.py).
event_log_storage:
  module: dagster_project.orchestration.event_log
  class: HubSqliteEventLogStorage
  config:
    base_dir: {runs_dir}
# One run at a time: every run writes the same DuckDB working file.
concurrency:
  runs:
    max_concurrent_runs: 1
# A run whose process died (`hub serve` or the machine stopped during it) is marked failed within
# seconds of the daemon's start, instead of holding the queue for ever
# (dagster_project/orchestration/run_launcher.py).
run_launcher:
  module: dagster_project.orchestration.run_launcher
  class: HubRunLauncher
run_monitoring:
  enabled: true
  poll_interval_seconds: 10
  max_resume_run_attempts: 0
"""


def prepare_dagster_home(settings: Settings) -> Path:
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    config = settings.dagster_home / "dagster.yaml"
    if not config.exists() or config.read_text(encoding="utf-8").startswith("# Written by hub"):
        # the event log's folder by its absolute path (rewritten by every build and `hub serve`,
        # so a copied data folder points at its own files from its first build on)
        runs_dir = json.dumps(str(settings.dagster_home.resolve() / "history" / "runs"))
        config.write_text(DAGSTER_YAML.format(runs_dir=runs_dir), encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
    return settings.dagster_home


@dataclass
class BuildOutcome:
    success: bool
    seconds: float
    failures: list[str] = field(default_factory=list)
    load_messages: list[str] = field(default_factory=list)
    withdrawals: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # files not yet complete (quiet periods)
    held: list[str] = field(default_factory=list)  # shrinking re-deliveries not applied
    check_failures: list[str] = field(default_factory=list)
    load_summary: str = ""
    plan_summary: str = ""
    nothing_to_do: bool = False  # the plan found nothing new: publication skipped on purpose
    published: bool = False
    log_path: Path | None = None

    def log_tail(self, lines: int = 25) -> str:
        """The end of the dbt output, where its errors and failing tests are listed."""
        if not self.log_path or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        wanted = [ln for ln in text if "ERROR" in ln or "FAIL" in ln or "Error" in ln]
        return "\n".join((wanted or text)[-lines:])


# The raw assets that load landing files, by source (their materializations carry the figures).
LOAD_ASSETS = {tuple(raw_table(source).split(".")): source for source in SOURCE_MODELS}


# The files a build's loads did not apply, by status (quality.rejection_messages).
MESSAGE_STATUSES = ("rejected", "withdrawn", "waiting", "held")


def _load_messages(settings: Settings, load_ids: list[str]) -> dict[str, list[str]]:
    """Each of MESSAGE_STATUSES with the messages of the loads `load_ids`, read through one
    connection (opening one costs about 20 ms)."""
    if not load_ids or not settings.work_db.exists():
        return {status: [] for status in MESSAGE_STATUSES}
    con = duck.connect(settings.work_db, read_only=True)
    try:
        return {status: [m for load_id in load_ids
                         for m in rejection_messages(con, load_id, status)]
                for status in MESSAGE_STATUSES}
    finally:
        con.close()


def _source_summary(meta) -> str:
    return (f"files: {meta['files_loaded'].value} loaded, "
            f"{meta['files_replaced'].value} replaced, "
            f"{meta['files_unchanged'].value} unchanged, "
            f"{meta['files_rejected'].value} rejected, "
            f"{meta['files_withdrawn'].value} withdrawn, "
            f"{_count(meta, 'files_waiting')} waiting, "
            f"{_count(meta, 'files_held')} held; "
            f"rows loaded {meta['rows_loaded'].value:,}; "
            f"malformed lines {meta['malformed_lines'].value:,}")


def _count(meta, key: str) -> int:
    """A count of the load's metadata (0 in a materialization recorded before it existed)."""
    return meta[key].value if key in meta else 0


def run_build(settings: Settings, strict: bool = False, full_refresh: bool = False,
              accept_shrink: bool = False, wait: bool = True,
              on_wait: Callable[[str], None] | None = None) -> BuildOutcome:
    """Load + dbt build + checks + publish. The serving file changes only if all of it passed.
    `accept_shrink` applies re-deliveries with fewer than half the rows of the delivery they
    replace (otherwise held), for this build only.

    Holds the working warehouse's writer lock (dagster_project/writer_lock.py) throughout:
    when another writer holds it, calls `on_wait` with a message naming it and waits, or with
    `wait=False` raises WriterBusy."""
    settings.ensure_dirs()
    with writer_lock(settings.work_db, HUB_BUILD, wait=wait, on_wait=on_wait):
        return _run_build(settings, strict, full_refresh, accept_shrink)


def _run_build(settings: Settings, strict: bool, full_refresh: bool,
               accept_shrink: bool) -> BuildOutcome:
    start = time.perf_counter()
    raise_if_interrupted()  # stopped while it waited (a KeyboardInterrupt Python lost)
    prepare_dagster_home(settings)
    # this process runs this build only: dbt's variables set for good (HUB_WORK_DB among them,
    # which the Dagster resources read too) let its loads start dbt's parse ahead of the run
    # (dbt_in_process.parse_ahead)
    dbt_in_process.dbt_environment(settings)
    if strict:
        os.environ["HUB_STRICT_LOAD"] = "1"
    from dagster_project.ingest.loader import ACCEPT_SHRINK_VAR, REHASH_VAR

    # set for the loads of this build only (the loader reads them, as the load asset reads
    # HUB_STRICT_LOAD); `--full-refresh` also hashes every landing file, trusting no stored stamp
    flags = {name: "1" for name, on in ((ACCEPT_SHRINK_VAR, accept_shrink),
                                        (REHASH_VAR, full_refresh)) if on}
    with environment_with(flags):
        return _run_job(settings, full_refresh, start)


def _failure_message(error) -> str:
    """A failed step's error (Dagster's SerializableErrorInfo) in a line; SIGTERM and Ctrl-C
    interrupt a step with an error that says only its class: Dagster's own, or KeyboardInterrupt
    when the signal came during a DuckDB query (stop_request.signals_kept_through_queries)."""
    if error is None:
        return ""
    if error.cls_name in ("DagsterExecutionInterruptedError", "KeyboardInterrupt"):
        return "interrupted (SIGTERM or Ctrl-C): the build stopped"
    return error.message.strip()


# Dagster's warning, before publication, for a blocking asset check whose step ran nothing.
CHECK_WITHOUT_RESULT = "emitted no result"


class _NothingNewChecks(logging.Filter):
    """Drops Dagster's warning that a blocking check emitted no result when the build found
    nothing new: no fact was rebuilt, so no check had anything to evaluate, and `hub build`
    says so in its own summary. In any other build the warning stands."""

    def __init__(self, settings: Settings):
        super().__init__()
        self.settings = settings

    def filter(self, record: logging.LogRecord) -> bool:
        if CHECK_WITHOUT_RESULT not in record.getMessage():
            return True
        from dagster_project.build_plan import planned

        plan = planned(self.settings)
        return not (plan is not None and plan.nothing_to_do)


@contextlib.contextmanager
def _quiet_when_nothing_new(settings: Settings):
    logger = logging.getLogger("dagster._core.execution.plan.active")
    only = _NothingNewChecks(settings)
    logger.addFilter(only)
    try:
        yield
    finally:
        logger.removeFilter(only)


def _run_job(settings: Settings, full_refresh: bool, start: float) -> BuildOutcome:
    import dagster as dg

    from dagster_project.build_plan import planned
    from dagster_project.definitions import defs

    job = defs.resolve_job_def("build_warehouse")
    log_dir = settings.data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"build-{dt.datetime.now():%Y%m%d-%H%M%S}.log"
    run_config = {"loggers": {"console": {"config": {"log_level": "WARNING"}}},
                  "ops": {"hub_dbt_models": {"config": {"full_refresh": full_refresh}}}}
    # dagster-dbt echoes dbt's own log lines on stdout: keep them in a file, not the terminal.
    # the run's id is chosen here so that the build can watch its run: the Dagster UI's Terminate
    # marks it CANCELING, and the build then stops itself (dagster_project/stop_request.py)
    run_id = str(uuid.uuid4())
    with (dg.DagsterInstance.get() as instance, log_path.open("w", encoding="utf-8") as log,
          contextlib.redirect_stdout(log), _quiet_when_nothing_new(settings)):
        try:
            with (stop_when(functools.partial(_canceling, instance, run_id)),
                  signal_handlers_kept()):
                result = job.execute_in_process(
                    instance=instance, run_id=run_id, run_config=run_config,
                    tags=hub_build_tags(settings.work_db), raise_on_error=False,
                )
        finally:
            # an interrupted step (SIGTERM, Ctrl-C) leaves dbt running in its thread: stop it
            # before this process reads the working file again
            dbt_in_process.stop_running()
        steps = step_times(instance, result.run_id)
    outcome = BuildOutcome(success=result.success, seconds=time.perf_counter() - start,
                           log_path=log_path)
    load_ids: dict[str, None] = {}
    summaries: dict[str, str] = {}
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            outcome.failures.append(f"{event.step_key}: {_failure_message(error)}")
        if event.is_step_materialization:
            mat = event.event_specific_data.materialization
            source = LOAD_ASSETS.get(tuple(mat.asset_key.path))
            if source is not None:
                load_ids[mat.metadata["load_id"].value] = None
                summaries[source] = _source_summary(mat.metadata)
            if tuple(mat.asset_key.path) == ("serving", "warehouse"):
                outcome.published = True
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            if not data.passed:
                outcome.check_failures.append(
                    f"{data.asset_check_key.name} on {data.asset_key.to_user_string()} "
                    f"({data.severity.value})")
    # one line per source, named, in LOAD_ASSETS order (`hub build` prints after "load: ")
    outcome.load_summary = "\n      ".join(
        f"{source} {summaries[source]}" for source in LOAD_ASSETS.values() if source in summaries)
    messages = _load_messages(settings, list(load_ids))
    outcome.load_messages, outcome.withdrawals, outcome.waiting, outcome.held = (
        messages[status] for status in MESSAGE_STATUSES)
    plan = planned(settings)
    outcome.plan_summary = plan.summary() if plan else ""
    outcome.nothing_to_do = plan is not None and plan.nothing_to_do
    if not outcome.published:  # a run that publishes writes its summary itself (serving.py)
        _write_record(settings, result, outcome, steps)
    return outcome


def _canceling(instance, run_id: str) -> bool:
    """Whether this build's run has been asked to stop (the Dagster UI's Terminate): CANCELING,
    or already CANCELED while this process still runs it (the daemon's run monitoring marks a
    CANCELING run canceled once it judges its process gone: a watcher that looked only for
    CANCELING could miss the request and build on). Says so on stderr when it has."""
    from dagster import DagsterRunStatus

    run = instance.get_run_by_id(run_id)
    if run is None or run.status not in (DagsterRunStatus.CANCELING, DagsterRunStatus.CANCELED):
        return False
    print(f"hub build: its run was marked {run.status.value} in Dagster (Terminate): stopping "
          "as Ctrl-C stops it", file=sys.stderr, flush=True)
    return True


def step_times(instance, run_id: str) -> list[tuple[str, str, float]]:
    """(step key, start | end, timestamp) of a run's steps, from the instance's event log."""
    import dagster as dg

    kinds = {dg.DagsterEventType.STEP_START: "start", dg.DagsterEventType.STEP_SUCCESS: "end",
             dg.DagsterEventType.STEP_FAILURE: "end"}
    out = []
    for record in instance.all_logs(run_id, of_type=set(kinds)):
        event = record.dagster_event
        if event is not None and event.step_key:
            out.append((event.step_key, kinds[event.event_type], record.timestamp))
    return out


def _write_record(settings: Settings, result, outcome: BuildOutcome,
                  steps: list[tuple[str, str, float]]) -> None:
    from dagster_project.build_record import build_record, stage_seconds, write_record

    record = build_record(settings, run_id=result.run_id, trigger=HUB_BUILD,
                          success=result.success, seconds=stage_seconds(steps),
                          plan=outcome.plan_summary,
                          failures=outcome.failures + outcome.check_failures)
    write_record(settings, record)
