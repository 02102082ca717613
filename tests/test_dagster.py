"""The Dagster code location: definitions load, lineage joins up, sensor and schedule batch."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from dagster_project.orchestration.partitions import partner_month_partitions

from dagster_project.definitions import defs
from dagster_project.orchestration.automation import landing_files_sensor, monthly_build_schedule
from dagster_project.orchestration.raw_assets import (
    raw_load_log,
    raw_partner_config,
    raw_telephony_calls,
)
from dagster_project.orchestration.resources import WarehouseResource
from tests.conftest import copy_realdata
from tests.test_loader import EASTBROOK_HEADER, eastbrook_file, eastbrook_rows, write


def test_definitions_load_and_lineage_joins_up():
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    raw_calls = dg.AssetKey(["raw", "telephony_calls"])
    assert dg.AssetKey(["staging", "stg_telephony__calls"]) in graph.get(raw_calls).child_keys
    serving = graph.get(dg.AssetKey(["serving", "warehouse"]))
    assert dg.AssetKey(["marts", "kpi_scorecard"]) in serving.parent_keys
    assert dg.AssetKey(["marts", "kpi_telephony_monthly"]) in serving.parent_keys
    raw_contacts = dg.AssetKey(["raw", "crm_contacts"])
    assert dg.AssetKey(["staging", "stg_crm__contacts"]) in graph.get(raw_contacts).child_keys
    assert graph.get(raw_contacts).partitions_def == partner_month_partitions
    for source_table in ("telephony_calls", "crm_contacts", "partners", "partner_sources",
                         "partner_crm_codes", "partner_crm_services", "partner_complaint_policy",
                         "load_files"):
        key = dg.AssetKey(["raw", source_table])
        assert graph.get(key).child_keys, f"raw/{source_table} feeds no dbt model"
    assert graph.get(raw_calls).partitions_def == partner_month_partitions
    check_names = {k.name for k in graph.asset_check_keys}
    assert {"calls_reconcile", "calls_quarantine_rate", "telephony_freshness",
            "contacts_reconcile", "contacts_quarantine_rate", "crm_freshness"} <= check_names
    assert defs.resolve_job_def("build_warehouse") is not None
    for slug in ("hub-board", "partner-report", "data-quality", "channels-cost",
                 "customer-experience"):
        dashboard = graph.get(dg.AssetKey(["superset", slug]))
        assert dashboard.parent_keys == {dg.AssetKey(["serving", "warehouse"])}


def test_load_over_many_partitions_is_one_run(settings):
    copy_realdata(settings.landing_dir)
    write(eastbrook_file(settings.landing_dir), "\n".join([EASTBROOK_HEADER, *eastbrook_rows(9)]))
    # A period outside the partition window is still loaded by a run over every partition.
    write(eastbrook_file(settings.landing_dir, "201912"),
          "\n".join([EASTBROOK_HEADER, *eastbrook_rows(2, start=90)]))
    job_defs = dg.Definitions(
        assets=[raw_partner_config, raw_telephony_calls, raw_load_log],
        jobs=[dg.define_asset_job("raw_only", selection="*")],
        resources={"warehouse": WarehouseResource.from_settings(settings)},
    )
    keys = partner_month_partitions.get_partition_keys()
    instance = dg.DagsterInstance.ephemeral()
    result = job_defs.resolve_job_def("raw_only").execute_in_process(
        instance=instance,
        tags={ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]})
    assert result.success
    runs = instance.get_runs()
    assert len(runs) == 1
    materialized = instance.get_materialized_partitions(dg.AssetKey(["raw", "telephony_calls"]))
    assert len(materialized) == len(keys) > 100
    con = duckdb.connect(str(settings.work_db), read_only=True)
    counts = dict(con.execute("select partner_code, count(*) from raw.telephony_calls "
                              "group by all").fetchall())
    con.close()
    assert counts == {"phonenow": 5000, "eastbrook": 11}


def test_sensor_asks_for_one_run_covering_changed_files(settings):
    write(eastbrook_file(settings.landing_dir, "202403"),
          "\n".join([EASTBROOK_HEADER, *eastbrook_rows(3)]))
    path = write(eastbrook_file(settings.landing_dir, "202405"),
                 "\n".join([EASTBROOK_HEADER, *eastbrook_rows(3, start=9)]))
    resources = {"warehouse": WarehouseResource.from_settings(settings)}
    context = dg.build_sensor_context(resources=resources)
    request = landing_files_sensor(context)
    assert isinstance(request, dg.RunRequest)
    assert request.tags[ASSET_PARTITION_RANGE_START_TAG] == "2024-03-01|eastbrook"
    assert request.tags[ASSET_PARTITION_RANGE_END_TAG] == "2024-05-01|eastbrook"

    again = landing_files_sensor(dg.build_sensor_context(cursor=context.cursor,
                                                         resources=resources))
    assert isinstance(again, dg.SkipReason)

    write(path, "\n".join([EASTBROOK_HEADER, *eastbrook_rows(4, start=9)]))
    changed = landing_files_sensor(dg.build_sensor_context(cursor=context.cursor,
                                                           resources=resources))
    assert changed.tags[ASSET_PARTITION_RANGE_START_TAG] == "2024-05-01|eastbrook"
    assert changed.tags[ASSET_PARTITION_RANGE_END_TAG] == "2024-05-01|eastbrook"


def test_sensor_without_cursor_skips_files_already_loaded(settings, partners):
    """Starting the UI after `hub build` must not rebuild what is already in the warehouse."""
    from dagster_project.ingest import load_source

    write(eastbrook_file(settings.landing_dir, "202403"),
          "\n".join([EASTBROOK_HEADER, *eastbrook_rows(3)]))
    load_source(settings.work_db, settings.landing_dir, partners)
    resources = {"warehouse": WarehouseResource.from_settings(settings)}
    assert isinstance(landing_files_sensor(dg.build_sensor_context(resources=resources)),
                      dg.SkipReason)
    write(eastbrook_file(settings.landing_dir, "202404"),
          "\n".join([EASTBROOK_HEADER, *eastbrook_rows(3, start=7)]))
    request = landing_files_sensor(dg.build_sensor_context(resources=resources))
    assert request.tags[ASSET_PARTITION_RANGE_START_TAG] == "2024-04-01|eastbrook"
    assert request.tags[ASSET_PARTITION_RANGE_END_TAG] == "2024-04-01|eastbrook"


@pytest.mark.parametrize("when, month", [(dt.datetime(2024, 5, 3, 6), "2024-04-01"),
                                          (dt.datetime(2025, 1, 3, 6), "2024-12-01")])
def test_monthly_schedule_builds_previous_month_for_every_partner(settings, partners, when,
                                                                  month):
    context = dg.build_schedule_context(
        scheduled_execution_time=when.replace(tzinfo=ZoneInfo("Europe/London")),
        resources={"warehouse": WarehouseResource.from_settings(settings)})
    request = monthly_build_schedule(context)
    start, end = (request.tags[ASSET_PARTITION_RANGE_START_TAG],
                  request.tags[ASSET_PARTITION_RANGE_END_TAG])
    covered = partner_month_partitions.get_partition_keys_in_range(
        dg.PartitionKeyRange(start, end))
    assert sorted(covered) == sorted(f"{month}|{code}" for code in partners)


def test_project_instance_runs_one_build_at_a_time(settings, monkeypatch):
    """Every run writes the same DuckDB working file, so the instance queues runs one by one."""
    from dagster_project.build import prepare_dagster_home

    monkeypatch.setenv("DAGSTER_HOME", str(settings.dagster_home))  # restored after the test
    home = prepare_dagster_home(settings)
    instance = dg.DagsterInstance.from_config(str(home))
    assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1


def test_sensor_sees_a_crm_delivery_on_its_own(settings):
    """A month's CRM file alone (no telephony change) starts a run over that partner-month."""
    write(settings.landing_dir / "eastbrook" / "crm" / "eastbrook_crm_2024_06.csv",
          "Case Ref;Logged\nE1;01/06/2024 09:00:00\n")
    request = landing_files_sensor(dg.build_sensor_context(
        resources={"warehouse": WarehouseResource.from_settings(settings)}))
    assert isinstance(request, dg.RunRequest)
    assert request.tags[ASSET_PARTITION_RANGE_START_TAG] == "2024-06-01|eastbrook"
    assert request.tags[ASSET_PARTITION_RANGE_END_TAG] == "2024-06-01|eastbrook"
