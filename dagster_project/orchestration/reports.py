"""The monthly board pack as a Dagster asset: `reports/board_pack`, one partition per month,
downstream of the published serving warehouse. After each publication the sensor below asks
for the latest complete month's pack, so the landing sensor's run is followed by the pack of
the month it completed; not when that month's packs were already written from the warehouse
served now. The logic is in dagster_project/report (plain modules)."""

import datetime as dt

import dagster as dg

from dagster_project.orchestration.resources import WarehouseResource
from dagster_project.report.pack_data import latest_complete_month
from dagster_project.report.pack_record import written_from_served

MONTHS = dg.MonthlyPartitionsDefinition(start_date="2015-01-01", end_offset=0)
SERVING_KEY = dg.AssetKey(["serving", "warehouse"])


@dg.asset(key=["reports", "board_pack"], deps=[SERVING_KEY], partitions_def=MONTHS,
          group_name="reports", kinds={"pdf", "html"},
          description="The month's board packs (hub board and each partner, HTML and PDF) in "
                      "data/reports/YYYY-MM/, written from the published serving warehouse "
                      "(`hub report`).")
def board_pack(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    # imported here: the pack's charts bring matplotlib (about 0.5 s), which no other asset of
    # a build needs
    from dagster_project.report.pack import write_packs

    settings = warehouse.settings()
    month = dt.date.fromisoformat(context.partition_key)
    result = write_packs(settings.serving_db, settings.reference_dir, settings.reports_dir,
                         month, settings.hub_name)
    hub_pdf = next(p for p in result.files if p.name.startswith("hub-board-")
                   and p.suffix == ".pdf")
    context.log.info(f"wrote {len(result.files)} files in {result.folder}")
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(hub_pdf)),
        "folder": dg.MetadataValue.path(str(result.folder)),
        "partners": ", ".join(result.partners),
        "files": len(result.files)})


# Partitioned by month like its asset (Dagster infers the job's partitions from it).
board_pack_job = dg.define_asset_job("board_pack", selection=[board_pack],
                                     description="Write one month's board packs.")


@dg.asset_sensor(asset_key=SERVING_KEY, job=board_pack_job, minimum_interval_seconds=60,
                 default_status=dg.DefaultSensorStatus.RUNNING,
                 description="After each publication of the serving warehouse, writes the "
                             "board packs of the latest complete month.")
def board_pack_sensor(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry,
                      warehouse: WarehouseResource):
    settings = warehouse.settings()
    month = latest_complete_month(settings.serving_db, dt.date.today())
    if month is None:
        return dg.SkipReason("the published warehouse has no month with figures")
    if written_from_served(settings.serving_db, settings.reports_dir, month):
        # e.g. `hub report` after `hub build`, or the UI started again over the same warehouse
        return dg.SkipReason(f"the board packs of {month:%Y-%m} were already written from the "
                             "warehouse served now")
    return dg.RunRequest(run_key=f"{month:%Y-%m}:{asset_event.timestamp}",
                         partition_key=f"{month:%Y-%m-%d}",
                         tags={"hub/trigger": "board_pack_sensor"})
