"""Dagster code location: wiring only. The logic lives in plain modules of this package."""

import dagster as dg

from dagster_project.orchestration.automation import landing_files_sensor, monthly_build_schedule
from dagster_project.orchestration.checks import ASSET_CHECKS
from dagster_project.orchestration.dashboards import dashboard_specs
from dagster_project.orchestration.dbt_assets import hub_dbt_models
from dagster_project.orchestration.jobs import build_warehouse_job
from dagster_project.orchestration.raw_assets import (
    SERVICE_STANDARD_ASSETS,
    raw_crm_contacts,
    raw_load_log,
    raw_partner_config,
    raw_telephony_calls,
)
from dagster_project.orchestration.reports import board_pack, board_pack_job, board_pack_sensor
from dagster_project.orchestration.resources import WarehouseResource, WriterLockResource
from dagster_project.orchestration.serving import serving_warehouse

defs = dg.Definitions(
    assets=[raw_partner_config, raw_telephony_calls, raw_crm_contacts, raw_load_log,
            *SERVICE_STANDARD_ASSETS,
            hub_dbt_models, serving_warehouse, board_pack, *dashboard_specs()],
    asset_checks=ASSET_CHECKS,
    jobs=[build_warehouse_job, board_pack_job],
    sensors=[landing_files_sensor, board_pack_sensor],
    schedules=[monthly_build_schedule],
    resources={"warehouse": WarehouseResource.from_env(),
               "writer_lock": WriterLockResource.from_env()},
    # Every run in one process: the writer lock (orchestration/resources.py) is held for the
    # whole run, not per step, and a build pays no Python start-up per step. The steps write
    # the same DuckDB file, one at a time, anyway.
    executor=dg.in_process_executor,
)
