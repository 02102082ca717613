"""Raw assets: partner configuration and landing files loaded into the DuckDB `raw` schema.

Asset keys match the dbt sources (`raw/<table>`) so the lineage graph joins up. The load
assets are not partitioned: each run looks at every landing file and loads only what is new or
changed (unchanged files cost a hash), and records ONE materialization per source whatever the
number of partner-months (docs/architecture.md, "Incremental builds"); the partner-months that
changed are in its metadata and in the build plan dbt reads.
"""

import os

import dagster as dg

from dagster_project import dbt_in_process, duck
from dagster_project.ingest import load_source, write_partner_config
from dagster_project.ingest.raw_tables import CONFIG_TABLES, raw_table
from dagster_project.orchestration.resources import WarehouseResource, WriterLockResource
from dagster_project.partners import OTHER_SOURCES
from dagster_project.privacy import PseudonymisationKeyMissing, pseudonymisation_key
from dagster_project.stop_request import signals_kept_through_queries

LOAD_TABLES = ("load_files", "load_events", "rejected_rows")
SOURCE_ASSETS = {source: raw_table(source).split(".")
                 for source in ("telephony", "crm", *OTHER_SOURCES)}


@dg.multi_asset(
    specs=[dg.AssetSpec(["raw", t], group_name="raw", kinds={"duckdb"},
                        description=f"raw.{t}: partner configuration from seeds/partners/*.yml")
           for t in CONFIG_TABLES],
)
def raw_partner_config(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                       writer_lock: WriterLockResource):
    """Rewrite the raw.partner_* tables from the partner YAML files."""
    settings = warehouse.settings()
    settings.work_db.parent.mkdir(parents=True, exist_ok=True)
    con = duck.connect(settings.work_db)
    try:
        with signals_kept_through_queries():
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
)
def raw_telephony_calls(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                        writer_lock: WriterLockResource):
    """Load the new or changed telephony landing files."""
    return _load(context, warehouse, "telephony")


@dg.asset(
    key=["raw", "crm_contacts"], group_name="raw", kinds={"duckdb"},
    description="raw.crm_contacts: one row per delivered CRM enquiry, text as delivered; the "
                "personal fields pseudonymised at load (keys and flags, never clear values)",
)
def raw_crm_contacts(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                     writer_lock: WriterLockResource):
    """Load the new or changed CRM landing files (docs/crm.md)."""
    try:
        key = pseudonymisation_key(warehouse.settings())
    except PseudonymisationKeyMissing as exc:
        raise dg.Failure(str(exc)) from exc
    return _load(context, warehouse, "crm", key)


def _service_standard_asset(source: str) -> dg.AssetsDefinition:
    """The load asset of a source without personal fields (the service-standard sources and
    the direct-dial extract): no key needed."""
    table = raw_table(source)

    @dg.asset(key=SOURCE_ASSETS[source], group_name="raw", kinds={"duckdb"},
              description=f"{table}: one row per delivered {source} record, text as "
                          f"delivered, with lineage columns (docs/architecture.md, "
                          f"\"Service-standard sources\")")
    def load_service_standard_source(context: dg.AssetExecutionContext,
                                     warehouse: WarehouseResource,
                                     writer_lock: WriterLockResource):
        return _load(context, warehouse, source)

    return load_service_standard_source


# the service-standard sources' and the direct-dial extract's load assets
SERVICE_STANDARD_ASSETS = [_service_standard_asset(s) for s in OTHER_SOURCES]

LOGGED_FILES = 50


def _load(context: dg.AssetExecutionContext, warehouse: WarehouseResource, source: str,
          key: str | None = None) -> dg.MaterializeResult:
    settings = warehouse.settings()
    # SIGTERM or Ctrl-C during one of the load's queries stops the run, not only this step
    with signals_kept_through_queries():
        report = load_source(settings.work_db, settings.landing_dir, warehouse.partners(),
                             source, pseudonymisation_key=key)
    context.log.info(report.summary())
    if any(report.count(status) for status in ("loaded", "replaced", "withdrawn")):
        # dbt will run: its parse overlaps the rest of the load (dbt_in_process.parse_ahead)
        dbt_in_process.parse_ahead(settings, settings.dbt_target_dir, context.run.run_id)
    # Each log line is an event in Dagster's instance (a few ms each): name the first ones, count
    # the rest (all are in raw.load_events, the materialization's `rejections` and `hub build`).
    noted = report.rejected + report.held + [f for f in report.files
                                             if f.status in ("withdrawn", "waiting")]
    for f in noted[:LOGGED_FILES]:
        context.log.warning(f.message)
    if len(noted) > LOGGED_FILES:
        context.log.warning(f"... and {len(noted) - LOGGED_FILES:,} more {source} files rejected "
                            f"or withdrawn: see this asset's `rejections` metadata")
    # a held re-delivery (fewer than half the rows it replaces) fails strict mode too: the
    # warehouse would not be what the landing folder says until someone decides
    refused = report.rejected + report.held
    if refused and os.environ.get("HUB_STRICT_LOAD"):
        raise dg.Failure(f"{len(report.rejected)} landing file(s) rejected, "
                         f"{len(report.held)} held (strict mode)",
                         metadata={"rejections": [f.message for f in refused]})
    return dg.MaterializeResult(metadata={
        "files_loaded": report.count("loaded"),
        "files_replaced": report.count("replaced"),
        "files_unchanged": report.count("unchanged"),
        "files_rejected": report.count("rejected"),
        "files_withdrawn": report.count("withdrawn"),
        "files_waiting": report.count("waiting"),
        "files_held": report.count("held"),
        "rows_loaded": report.rows_loaded,
        "malformed_lines": report.rows_rejected,
        "partner_months_delivered": len({(f.partner_code, f.period_month) for f in report.files
                                         if f.status in ("loaded", "replaced")}),
        "rejections": dg.MetadataValue.md(
            "\n".join(f"- {f.message}" for f in report.rejected) or "none"),
        "load_id": report.load_id,
    })


@dg.multi_asset(
    specs=[dg.AssetSpec(["raw", t], group_name="raw", kinds={"duckdb"},
                        deps=[dg.AssetKey(k) for k in SOURCE_ASSETS.values()],
                        description=f"raw.{t}: load bookkeeping, written by the loader in the "
                                    f"same transaction as the rows")
           for t in LOAD_TABLES],
)
def raw_load_log(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                 writer_lock: WriterLockResource):
    """Record the state of the loader's bookkeeping tables (unpartitioned: one event each)."""
    con = duck.connect(warehouse.settings().work_db, read_only=True)
    try:
        with signals_kept_through_queries():
            counts = {t: con.execute(f"select count(*) from raw.{t}").fetchone()[0]
                      for t in LOAD_TABLES}
    finally:
        con.close()
    for table in LOAD_TABLES:
        yield dg.MaterializeResult(asset_key=["raw", table], metadata={"rows": counts[table]})
