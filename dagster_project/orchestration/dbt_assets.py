"""dbt models, seeds and tests as Dagster assets (dagster-dbt)."""

import os

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from dagster_project.dbt_runner import dbt_executable, ensure_manifest
from dagster_project.orchestration.resources import WarehouseResource
from dagster_project.settings import Settings

_settings = Settings.from_env()
dbt_project = DbtProject(project_dir=_settings.dbt_project_dir,
                         profiles_dir=_settings.dbt_project_dir)
ensure_manifest(_settings)


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project)
def hub_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource,
                   warehouse: WarehouseResource):
    """`dbt build`: seeds, staging → intermediate → marts, with every dbt test."""
    os.environ["HUB_WORK_DB"] = str(warehouse.settings().work_db)
    yield from dbt.cli(["build"], context=context).stream()


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project, profiles_dir=str(_settings.dbt_project_dir),
                          dbt_executable=dbt_executable())
