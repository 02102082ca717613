"""Raw assets: partner configuration and landing files loaded into the DuckDB `raw` schema.

Asset keys match the dbt sources (`raw/<table>`) so the lineage graph joins up.
"""

import os

import dagster as dg
import duckdb

from dagster_project.ingest import load_source, write_partner_config
from dagster_project.orchestration.partitions import partner_month_partitions, to_scope
from dagster_project.orchestration.resources import WarehouseResource

CONFIG_TABLES = ("partners", "partner_opening_hours", "partner_sources",
                 "partner_outcome_codes", "partner_queues")
LOAD_TABLES = ("load_files", "load_events", "rejected_rows")


@dg.multi_asset(
    specs=[dg.AssetSpec(["raw", t], group_name="raw", kinds={"duckdb"},
                        description=f"raw.{t}: partner configuration from seeds/partners/*.yml")
           for t in CONFIG_TABLES],
)
def raw_partner_config(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Rewrite the raw.partner_* tables from the partner YAML files."""
    settings = warehouse.settings()
    settings.work_db.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.work_db))
    try:
        counts = write_partner_config(con, warehouse.partners())
    finally:
        con.close()
    for table in CONFIG_TABLES:
        yield dg.MaterializeResult(asset_key=["raw", table],
                                   metadata={"rows": counts[table]})


@dg.asset(
    key=["raw", "telephony_calls"], group_name="raw", kinds={"duckdb"},
    description="raw.telephony_calls: one row per delivered call record, text as delivered, "
                "with lineage columns",
    partitions_def=partner_month_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def raw_telephony_calls(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Load the landing files of the selected partner-months; one run for any number of them."""
    settings = warehouse.settings()
    keys = list(context.partition_keys)
    # A run over every partition loads every landing file, including periods outside the
    # partition window (before HUB_FIRST_MONTH, or the current, unfinished month).
    everything = len(keys) == len(partner_month_partitions.get_partition_keys())
    scope = None if everything else to_scope(keys)
    report = load_source(settings.work_db, settings.landing_dir, warehouse.partners(),
                         "telephony", scope)
    context.log.info(report.summary())
    for f in report.rejected:
        context.log.warning(f.message)
    if report.rejected and os.environ.get("HUB_STRICT_LOAD"):
        raise dg.Failure(f"{len(report.rejected)} landing file(s) rejected (strict mode)",
                         metadata={"rejections": [f.message for f in report.rejected]})
    return dg.MaterializeResult(metadata={
        "files_loaded": report.count("loaded"),
        "files_replaced": report.count("replaced"),
        "files_unchanged": report.count("unchanged"),
        "files_rejected": report.count("rejected"),
        "rows_loaded": report.rows_loaded,
        "malformed_lines": report.rows_rejected,
        "rejections": dg.MetadataValue.md(
            "\n".join(f"- {f.message}" for f in report.rejected) or "none"),
        "load_id": report.load_id,
    })


@dg.multi_asset(
    specs=[dg.AssetSpec(["raw", t], group_name="raw", kinds={"duckdb"},
                        deps=[dg.AssetKey(["raw", "telephony_calls"])],
                        description=f"raw.{t}: load bookkeeping, written by the loader in the "
                                    f"same transaction as the rows")
           for t in LOAD_TABLES],
)
def raw_load_log(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Record the state of the loader's bookkeeping tables (unpartitioned: one event each)."""
    con = duckdb.connect(str(warehouse.settings().work_db), read_only=True)
    try:
        counts = {t: con.execute(f"select count(*) from raw.{t}").fetchone()[0]
                  for t in LOAD_TABLES}
    finally:
        con.close()
    for table in LOAD_TABLES:
        yield dg.MaterializeResult(asset_key=["raw", table], metadata={"rows": counts[table]})
