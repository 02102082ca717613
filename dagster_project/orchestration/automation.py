"""Sensor on the landing folder and the monthly schedule.

Both launch ONE run of the build job. The run loads whatever is new or changed in the landing
folder (unchanged files cost a hash) and dbt redoes only the partner-months that changed
(docs/architecture.md, "Incremental builds"), so a run costs the same bookkeeping whatever the
number of partner-months involved.
"""

import datetime as dt
import json
import os

import dagster as dg
import duckdb

from dagster_project import duck
from dagster_project.ingest.discovery import discover_files
from dagster_project.ingest.readers import sha256_of
from dagster_project.ingest.settle import settle_seconds, waiting_reason
from dagster_project.orchestration.jobs import build_warehouse_job
from dagster_project.orchestration.resources import WarehouseResource
from dagster_project.partners import SOURCE_FIELDS
from dagster_project.quality import previous_month


def build_run_request(partner_months: set[tuple[str, dt.date | None]], run_key: str | None,
                      trigger: str) -> dg.RunRequest:
    return dg.RunRequest(run_key=run_key, tags={
        "hub/trigger": trigger, "hub/partner_months": str(len(partner_months))})


def files_seen(work_db) -> tuple[dict[str, int], dict[str, str]]:
    """For a sensor starting without a cursor, so that starting the UI after `hub build` does
    not start a build: the files already in the warehouse (path → bytes), and the files whose
    latest load rejected them (path → the rejected content's hash: a duplicate delivery or an
    unreadable file still in the landing folder would be rejected again; the same path with
    other content would not). Both empty when the warehouse cannot be read yet."""
    try:
        con = duck.connect(work_db, read_only=True)
    except duckdb.Error:
        return {}, {}
    try:
        loaded = dict(con.execute(
            "select source_file, file_bytes from raw.load_files").fetchall())
        rejected = dict(con.execute("""
            select source_file, arg_max(file_hash, event_at)
            from raw.load_events
            where source_file is not null
            group by source_file
            having arg_max(status, event_at) = 'rejected'
                and arg_max(file_hash, event_at) is not null
        """).fetchall())
        return loaded, rejected
    except duckdb.Error:
        return {}, {}
    finally:
        con.close()


def changed_partner_months(settings, partners, cursor: dict[str, list[float]] | None
                           ) -> tuple[set[tuple[str, dt.date | None]], dict[str, list[float]]]:
    """Partner-months whose landing files (of every source) are new or changed since `cursor`
    (path → mtime, size); a file without a period in its name counts as (partner, None).
    Without a cursor, files already loaded with the same size, and files the last load rejected
    with the same content, count as seen (`files_seen`). A file not yet complete (settle time,
    `.done` marker: ingest/settle.py) is left out of the cursor, so the first tick after it is
    complete sees it as new and starts the build that loads it."""
    loaded, rejected = files_seen(settings.work_db) if cursor is None else ({}, {})
    cursor = cursor or {}
    current: dict[str, list[float]] = {}
    changed: set[tuple[str, dt.date | None]] = set()
    settle = settle_seconds()
    files = [f for source in SOURCE_FIELDS
             for f in discover_files(settings.landing_dir, partners, source)[0]]
    for f in files:
        if waiting_reason(f.path, f.source, partners[f.partner_code].sources[f.source].done_marker,
                          settle) is not None:
            continue
        stat = f.path.stat()
        current[f.rel_path] = [stat.st_mtime, stat.st_size]
        if loaded.get(f.rel_path) == stat.st_size:
            continue
        if f.rel_path in rejected and sha256_of(f.path) == rejected[f.rel_path]:
            continue
        if cursor.get(f.rel_path) != current[f.rel_path]:
            changed.add((f.partner_code, f.period_month))
    return changed, current


# Seconds between two looks at the landing folder: HUB_LANDING_SENSOR_SECONDS, default 60.
LANDING_SENSOR_SECONDS = int(os.environ.get("HUB_LANDING_SENSOR_SECONDS", "60"))


@dg.sensor(job=build_warehouse_job, minimum_interval_seconds=LANDING_SENSOR_SECONDS,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Starts one batched load + dbt build + publish when files appear or "
                       "change in the landing folder.")
def landing_files_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
    seen = json.loads(context.cursor) if context.cursor else None
    changed, current = changed_partner_months(warehouse.settings(), warehouse.partners(), seen)
    context.update_cursor(json.dumps(current))
    if not changed:
        return dg.SkipReason("no new or changed landing files")
    return build_run_request(changed, run_key=None, trigger="landing_files_sensor")


@dg.schedule(job=build_warehouse_job, cron_schedule="0 6 3 * *",
             execution_timezone="Europe/London",
             default_status=dg.DefaultScheduleStatus.RUNNING,
             description="On the 3rd of each month at 06:00, build what arrived for the previous "
                         "month (one run; dbt redoes only the partner-months that changed).")
def monthly_build_schedule(context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource):
    month = previous_month(context.scheduled_execution_time.date())
    partners = warehouse.partners()
    return build_run_request({(p, month) for p in partners}, run_key=f"monthly-{month:%Y-%m}",
                             trigger="monthly_build_schedule")
