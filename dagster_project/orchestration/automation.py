"""Sensor on the landing folder and the monthly schedule. Both launch one batched backfill."""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
from dagster._core.definitions.events import AssetKeyPartitionKey

from dagster_project.ingest.discovery import discover_files
from dagster_project.orchestration.partitions import partition_key
from dagster_project.orchestration.resources import WarehouseResource
from dagster_project.quality import previous_month

RAW_KEYS = [dg.AssetKey(["raw", t]) for t in
            ("telephony_calls", "load_files", "load_events", "rejected_rows")]


def _backfill(context, partitions: set[tuple[str, dt.date]], tags: dict[str, str]):
    """One RunRequest that becomes a single-run backfill of the raw partitions + everything
    downstream (dbt models and the serving file)."""
    graph = context.repository_def.asset_graph
    targets: set[AssetKeyPartitionKey] = set()
    for key in RAW_KEYS:
        for partner, month in partitions:
            targets.add(AssetKeyPartitionKey(key, partition_key(partner, month)))
    selection = dg.AssetSelection.assets(*RAW_KEYS).downstream()
    for key in selection.resolve(graph):
        if key not in RAW_KEYS and not graph.get(key).is_partitioned:
            targets.add(AssetKeyPartitionKey(key, None))
    subset = AssetGraphSubset.from_asset_partition_set(targets, graph)
    return dg.RunRequest.for_asset_graph_subset(subset, tags=tags)


@dg.sensor(minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Starts a batched load + dbt build + publish when files appear or change "
                       "in the landing folder.")
def landing_files_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
    settings = warehouse.settings()
    partners = warehouse.partners()
    seen: dict[str, list[float]] = json.loads(context.cursor) if context.cursor else {}
    current: dict[str, list[float]] = {}
    changed: set[tuple[str, dt.date]] = set()
    files, _problems = discover_files(settings.landing_dir, partners, "telephony")
    for f in files:
        stat = f.path.stat()
        current[f.rel_path] = [stat.st_mtime, stat.st_size]
        if seen.get(f.rel_path) != current[f.rel_path]:
            months = [f.period_month] if f.period_month else _months_of_partner(context, f)
            changed.update((f.partner_code, m) for m in months)
    context.update_cursor(json.dumps(current))
    if not changed:
        return dg.SkipReason("no new or changed landing files")
    return _backfill(context, changed, {"hub/trigger": "landing_files_sensor"})


def _months_of_partner(context, f) -> list[dt.date]:
    """A file without a period in its name: all partitions of its partner (the load skips
    unchanged files, so this costs one run, not one per month)."""
    from dagster_project.orchestration.partitions import month_partitions

    return [dt.date.fromisoformat(k) for k in month_partitions.get_partition_keys()]


@dg.schedule(cron_schedule="0 6 3 * *", execution_timezone="Europe/London",
             default_status=dg.DefaultScheduleStatus.RUNNING,
             description="On the 3rd of each month at 06:00, build the previous month for every "
                         "partner (one batched run).")
def monthly_build_schedule(context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource):
    month = previous_month(context.scheduled_execution_time.date())
    partners = warehouse.partners()
    return _backfill(context, {(p, month) for p in partners}, {"hub/trigger": "monthly"})
