"""dbt models, seeds and tests as Dagster assets (dagster-dbt's asset definitions; dbt itself
runs in this process, dagster_project/dbt_in_process.py)."""

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtProject, dbt_assets
from dagster_dbt.asset_utils import get_manifest_and_translator_from_dbt_assets
from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage

from dagster_project import dbt_in_process
from dagster_project.build_plan import plan_for_dbt
from dagster_project.build_record import node_seconds, write_node_seconds
from dagster_project.dbt_runner import build_args, ensure_manifest, seed_partial_parse
from dagster_project.orchestration.resources import WarehouseResource, WriterLockResource
from dagster_project.settings import Settings

_settings = Settings.from_env()
dbt_project = DbtProject(project_dir=_settings.dbt_project_dir,
                         profiles_dir=_settings.dbt_project_dir)
ensure_manifest(_settings)


class BuildConfig(dg.Config):
    """`hub build --full-refresh` rebuilds every table from scratch."""

    full_refresh: bool = False


# dbt's data tests run inside `dbt build` (a failing one fails the build) but are not mapped to
# Dagster asset checks: ~120 checks would cost two events each in the instance at every build,
# the bookkeeping that grew a build by seconds whatever changed (docs/architecture.md).
TRANSLATOR = DagsterDbtTranslator(
    settings=DagsterDbtTranslatorSettings(enable_asset_checks=False))


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project,
            dagster_dbt_translator=TRANSLATOR)
def hub_dbt_models(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                   config: BuildConfig, writer_lock: WriterLockResource):
    """`dbt build` of what changed: a full build, an incremental one over the changed
    partner-months, or nothing at all (docs/architecture.md, "Incremental builds")."""
    settings = warehouse.settings()
    plan = plan_for_dbt(settings, full_refresh=config.full_refresh)
    context.log.info(plan.summary())
    if plan.nothing_to_do:
        return
    args = [*build_args(), *(["--full-refresh"] if plan.mode == "full" else []),
            *(["--selector", plan.dbt_selector] if plan.dbt_selector else [])]
    seed_partial_parse(settings, settings.dbt_target_dir)
    manifest, translator, _ = get_manifest_and_translator_from_dbt_assets([context.assets_def])
    outcome = dbt_in_process.DbtOutcome()
    nodes: list[tuple[str, float]] = []  # each node's seconds, for the build record
    try:
        for raw in dbt_in_process.run(settings, args, settings.dbt_target_dir, outcome,
                                       parsed_for=context.run.run_id):
            if (timed := node_seconds(raw)) is not None:
                nodes.append(timed)
            if raw["info"]["name"] == "LogTestResult":
                # a data test's result would come as an observation of each model it reads:
                # about 250 events in the instance per build, each a few SQLite writes
                # (docs/architecture.md); a failing test fails `dbt build`, and this step
                continue
            # dagster-dbt's own conversion of a dbt result event (dagster-dbt 0.29's class, as
            # its resource builds it from dbt's JSON log): every build of the suite uses it
            event = DbtCoreCliEventMessage(raw_event=raw, event_history_metadata={})
            yield from event.to_default_asset_events(
                manifest=manifest, dagster_dbt_translator=translator, context=context,
                target_path=settings.dbt_target_dir, project=dbt_project)
    finally:
        write_node_seconds(settings, context.run.run_id, nodes, outcome.parsed_ahead)
    if not outcome.success:
        raise dg.Failure(f"`dbt {' '.join(args)}` failed:\n{outcome.problem()}")
