"""Sensor on the landing folder and the monthly schedule.

Both launch ONE run of the build job over a partition-key range (like a single-run backfill),
whatever the number of partner-months involved: partner × month keys are ordered month-first,
so a month for every partner, or any set of changed partner-months, is covered by the range
from its smallest to its largest key. Partitions in the range whose files did not change cost
nothing: the loader skips unchanged files.
"""

import datetime as dt
import json

import dagster as dg
import duckdb
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from dagster_project.ingest.discovery import discover_files
from dagster_project.orchestration.jobs import build_warehouse_job
from dagster_project.orchestration.partitions import month_partitions, partition_key
from dagster_project.orchestration.resources import WarehouseResource
from dagster_project.partners import SOURCE_FIELDS
from dagster_project.quality import previous_month


def range_run_request(partitions: set[tuple[str, dt.date]], run_key: str | None,
                      trigger: str) -> dg.RunRequest:
    keys = sorted(partition_key(partner, month) for partner, month in partitions)
    return dg.RunRequest(
        run_key=run_key,
        tags={ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1],
              "hub/trigger": trigger, "hub/partitions": str(len(keys))})


def _months_in_range() -> list[dt.date]:
    return [dt.date.fromisoformat(k) for k in month_partitions.get_partition_keys()]


def loaded_file_sizes(work_db) -> dict[str, int]:
    """Files already in the warehouse (path → bytes), for a sensor starting without a cursor,
    so that starting the UI after `hub build` does not rebuild everything."""
    try:
        con = duckdb.connect(str(work_db), read_only=True)
    except duckdb.Error:
        return {}
    try:
        return dict(con.execute("select source_file, file_bytes from raw.load_files").fetchall())
    except duckdb.Error:
        return {}
    finally:
        con.close()


def changed_partitions(settings, partners, cursor: dict[str, list[float]] | None
                       ) -> tuple[set[tuple[str, dt.date]], dict[str, list[float]]]:
    """Partner-months whose landing files (of every source) are new or changed since `cursor`
    (path → mtime, size); files without a period in their name touch every month of their
    partner. Without a cursor, files already loaded with the same size count as seen."""
    loaded = loaded_file_sizes(settings.work_db) if cursor is None else {}
    cursor = cursor or {}
    current: dict[str, list[float]] = {}
    changed: set[tuple[str, dt.date]] = set()
    files = [f for source in SOURCE_FIELDS
             for f in discover_files(settings.landing_dir, partners, source)[0]]
    valid_months = set(_months_in_range())
    for f in files:
        stat = f.path.stat()
        current[f.rel_path] = [stat.st_mtime, stat.st_size]
        if loaded.get(f.rel_path) == stat.st_size:
            continue
        if cursor.get(f.rel_path) != current[f.rel_path]:
            months = [f.period_month] if f.period_month else sorted(valid_months)
            changed.update((f.partner_code, m) for m in months if m in valid_months)
    return changed, current


@dg.sensor(job=build_warehouse_job, minimum_interval_seconds=60,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Starts one batched load + dbt build + publish when files appear or "
                       "change in the landing folder.")
def landing_files_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
    seen = json.loads(context.cursor) if context.cursor else None
    changed, current = changed_partitions(warehouse.settings(), warehouse.partners(), seen)
    context.update_cursor(json.dumps(current))
    if not changed:
        return dg.SkipReason("no new or changed landing files")
    return range_run_request(changed, run_key=None, trigger="landing_files_sensor")


@dg.schedule(job=build_warehouse_job, cron_schedule="0 6 3 * *",
             execution_timezone="Europe/London",
             default_status=dg.DefaultScheduleStatus.RUNNING,
             description="On the 3rd of each month at 06:00, build the previous month for every "
                         "partner (one batched run).")
def monthly_build_schedule(context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource):
    month = previous_month(context.scheduled_execution_time.date())
    partners = warehouse.partners()
    return range_run_request({(p, month) for p in partners}, run_key=f"monthly-{month:%Y-%m}",
                             trigger="monthly_build_schedule")
