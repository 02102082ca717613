"""dbt models, seeds and tests as Dagster assets (dagster-dbt)."""

import os
from functools import cached_property
from importlib.metadata import version as package_version

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from dagster_project import duck
from dagster_project.build_plan import plan_for_dbt
from dagster_project.dbt_runner import (
    FILE_LOG_LEVEL,
    build_args,
    dbt_executable,
    ensure_manifest,
    seed_partial_parse,
)
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
def hub_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource,
                   warehouse: WarehouseResource, config: BuildConfig,
                   writer_lock: WriterLockResource):
    """`dbt build` of what changed: a full build, an incremental one over the changed
    partner-months, or nothing at all (docs/architecture.md, "Incremental builds")."""
    settings = warehouse.settings()
    os.environ["HUB_WORK_DB"] = str(settings.work_db)
    os.environ["HUB_MARTS_DB"] = str(settings.marts_db)
    os.environ.update(duck.dbt_env_vars(settings.data_dir))
    os.environ.setdefault(*FILE_LOG_LEVEL)
    plan = plan_for_dbt(settings, full_refresh=config.full_refresh)
    context.log.info(plan.summary())
    if plan.nothing_to_do:
        return
    args = [*build_args(), *(["--full-refresh"] if plan.mode == "full" else []),
            *(["--selector", plan.dbt_selector] if plan.dbt_selector else [])]
    seed_partial_parse(settings, settings.dbt_target_dir)
    for event in dbt.cli(args, context=context, target_path=settings.dbt_target_dir).stream():
        # a data test's result comes as an observation of each model it reads: about 250 events
        # in the instance per build, each a few SQLite writes (docs/architecture.md); a failing
        # test fails `dbt build`, and with it this step
        if not isinstance(event, dg.AssetObservation):
            yield event


class HubDbtCliResource(DbtCliResource):
    """dagster-dbt's resource without two costs paid before every `dbt build` (about 5 s of a
    build whatever it changes, docs/architecture.md "What a build costs"):

    - the dbt version is the installed dbt-core package's, not `dbt --version` run in a
      subprocess (3-4 s: it imports dbt and asks PyPI for the latest release);
    - no dbt adapter is opened inside the Dagster process (1-2 s): dagster-dbt uses it only to
      fetch column metadata and row counts, which these assets do not ask for.

    Both are private hooks of dagster-dbt 0.29 (dagster 1.13): any build in the test suite
    fails if they change."""

    @cached_property
    def _cli_version(self):  # a packaging Version, as dagster-dbt expects
        from packaging import version

        return version.parse(package_version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):
        return None


def dbt_resource() -> DbtCliResource:
    return HubDbtCliResource(project_dir=dbt_project,
                             profiles_dir=str(_settings.dbt_project_dir),
                             dbt_executable=dbt_executable())
