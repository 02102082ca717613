"""The published serving warehouse: copied atomically only after dbt models and tests pass."""

import dagster as dg

from dagster_project.build import step_times
from dagster_project.build_plan import mark_published, planned
from dagster_project.build_record import build_record, stage_seconds, write_record
from dagster_project.orchestration.dbt_assets import hub_dbt_models
from dagster_project.orchestration.resources import WarehouseResource, WriterLockResource
from dagster_project.publish import publish
from dagster_project.stop_request import signals_kept_through_queries

# The facts and KPI tables: the dbt assets every build that changes anything materializes. An
# incremental build leaves out the models that read only configuration and seeds (dbt/selectors.yml)
# and Dagster skips a step whose upstream outputs were not produced, so publication waits on
# these, not on every dbt asset.
PUBLISHED_AFTER = [key for key in hub_dbt_models.keys
                   if key.path[0] == "marts" and key.path[-1].startswith(("fct_", "kpi_"))]


@dg.asset(key=["serving", "warehouse"], deps=PUBLISHED_AFTER, group_name="serving",
          kinds={"duckdb"}, output_required=False,
          description="data/serving/warehouse.duckdb (marts only: what Superset reads) and "
                      "data/serving/operations.duckdb (marts, quarantined rows, loads: for the "
                      "analyst), each "
                      "replaced atomically after a green dbt build; left untouched when "
                      "nothing changed")
def serving_warehouse(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                      writer_lock: WriterLockResource):
    settings = warehouse.settings()
    plan = planned(settings)
    if plan is not None and plan.nothing_to_do and settings.serving_db.exists():
        context.log.info("nothing new since the last published build: files left as they are")
        return
    with signals_kept_through_queries():  # a SIGTERM during its queries stops the run
        result = publish(settings.work_db, settings.serving_db, settings.operations_db)
    mark_published(settings)
    context.log.info(f"published {result.serving_db} ({result.bytes:,} bytes) "
                     f"in {result.seconds:.2f}s")
    steps = step_times(context.instance, context.run.run_id)
    seconds = {**stage_seconds(steps), "publish": round(result.seconds, 2)}
    record = build_record(settings, run_id=context.run.run_id,
                          trigger=context.run.tags.get("hub/trigger", "dagster"), success=True,
                          seconds=seconds, plan=plan.summary() if plan else "",
                          published=result.version)
    record_path = write_record(settings, record)
    yield dg.MaterializeResult(metadata={
        "path": str(result.serving_db), "operations_path": str(result.operations_db),
        "bytes": result.bytes, "seconds": result.seconds, "version": result.version,
        "build": plan.summary() if plan else "",
        "stage_seconds": dg.MetadataValue.json(record["seconds"]),
        "dbt_nodes": dg.MetadataValue.json(record["dbt_nodes"] or {}),
        "rows": dg.MetadataValue.json(record["totals"] or {}),
        "quarantine_by_source": dg.MetadataValue.md(_quarantine_table(record["sources"] or [])),
        "summary_json": dg.MetadataValue.path(str(record_path))})


def _quarantine_table(sources: list[dict]) -> str:
    lines = ["| partner | source | rows read | loaded | quarantined | % |",
             "|---|---|---:|---:|---:|---:|"]
    lines += [f"| {r['partner_code']} | {r['source']} | {r['rows_read']:,} | "
              f"{r['rows_loaded']:,} | {r['rows_quarantined']:,} | {r['quarantine_pct']} |"
              for r in sources]
    return "\n".join(lines)
