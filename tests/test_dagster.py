"""The Dagster code location: definitions load, lineage joins up, one run loads everything new,
the sensor and the schedule ask for one run (the raw load assets are not partitioned)."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pytest

from dagster_project.definitions import defs
from dagster_project.orchestration.automation import (
    changed_partner_months,
    landing_files_sensor,
    monthly_build_schedule,
)
from dagster_project.orchestration.raw_assets import (
    raw_load_log,
    raw_partner_config,
    raw_telephony_calls,
)
from dagster_project.orchestration.resources import WarehouseResource, WriterLockResource
from tests.conftest import copy_realdata
from tests.test_loader import EASTBROOK_HEADER, eastbrook_file, eastbrook_rows, write

RAW_CALLS = dg.AssetKey(["raw", "telephony_calls"])


def test_definitions_load_and_lineage_joins_up():
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    assert dg.AssetKey(["staging", "stg_telephony__calls"]) in graph.get(RAW_CALLS).child_keys
    serving = graph.get(dg.AssetKey(["serving", "warehouse"]))
    assert dg.AssetKey(["marts", "kpi_scorecard"]) in serving.parent_keys
    assert dg.AssetKey(["marts", "kpi_telephony_monthly"]) in serving.parent_keys
    raw_contacts = dg.AssetKey(["raw", "crm_contacts"])
    assert dg.AssetKey(["staging", "stg_crm__contacts"]) in graph.get(raw_contacts).child_keys
    for source_table in ("telephony_calls", "crm_contacts", "partners", "partner_sources",
                         "partner_crm_codes", "partner_crm_services", "partner_complaint_policy",
                         "load_files", "voicemail_messages", "reception_tickets", "web_days",
                         "partner_services"):
        key = dg.AssetKey(["raw", source_table])
        assert graph.get(key).child_keys, f"raw/{source_table} feeds no dbt model"
    # Only the board pack is partitioned (by month): a build run loads whatever is new and dbt
    # redoes the changed partner-months.
    partitioned = [k.to_user_string() for k in graph.materializable_asset_keys
                   if graph.get(k).partitions_def is not None]
    assert partitioned == ["reports/board_pack"]
    check_names = {k.name for k in graph.asset_check_keys}
    assert {"calls_reconcile", "calls_quarantine_rate", "telephony_freshness",
            "contacts_reconcile", "contacts_quarantine_rate", "crm_freshness",
            "voicemail_reconcile", "reception_reconcile", "web_reconcile",
            "web_quarantine_rate"} <= check_names
    job = defs.resolve_job_def("build_warehouse")
    assert job is not None and job.partitions_def is None
    for slug in ("hub-board", "partner-report", "data-quality", "channels-cost",
                 "customer-experience"):
        dashboard = graph.get(dg.AssetKey(["superset", slug]))
        assert dashboard.parent_keys == {dg.AssetKey(["serving", "warehouse"])}


def _raw_job(settings) -> dg.JobDefinition:
    return dg.Definitions(
        assets=[raw_partner_config, raw_telephony_calls, raw_load_log],
        jobs=[dg.define_asset_job("raw_only", selection="*")],
        resources={"warehouse": WarehouseResource.from_settings(settings),
                   "writer_lock": WriterLockResource.from_settings(settings)},
    ).resolve_job_def("raw_only")


def _raw_counts(settings) -> dict[str, int]:
    con = duckdb.connect(str(settings.work_db), read_only=True)
    try:
        return dict(con.execute("select partner_code, count(*) from raw.telephony_calls "
                                "group by all").fetchall())
    finally:
        con.close()


def test_one_run_loads_every_new_partner_month_with_one_materialization(settings):
    copy_realdata(settings.landing_dir)
    months = ["201912", "202001", "202402", "202403", "202404", "203001"]  # any period at all
    for i, month in enumerate(months):
        write(eastbrook_file(settings.landing_dir, month),
              "\n".join([EASTBROOK_HEADER, *eastbrook_rows(2, start=10 * i)]))
    instance = dg.DagsterInstance.ephemeral()
    job = _raw_job(settings)
    result = job.execute_in_process(instance=instance)
    assert result.success
    assert len(instance.get_runs()) == 1
    # one materialization of the load asset for the whole run, whatever the partner-months
    mats = [e for e in result.get_asset_materialization_events() if e.asset_key == RAW_CALLS]
    assert len(mats) == 1
    meta = mats[0].materialization.metadata
    assert meta["files_loaded"].value == 1 + len(months)
    assert meta["partner_months_delivered"].value == 1 + len(months)  # phonenow: one file
    assert meta["rows_loaded"].value == 5000 + 2 * len(months)
    assert _raw_counts(settings) == {"phonenow": 5000, "eastbrook": 2 * len(months)}

    # The next run loads only what changed (one re-delivered month), still one event.
    write(eastbrook_file(settings.landing_dir, "202403"),
          "\n".join([EASTBROOK_HEADER, *eastbrook_rows(5, start=30)]))
    again = job.execute_in_process(instance=instance)
    assert again.success and len(instance.get_runs()) == 2
    (mat,) = [e for e in again.get_asset_materialization_events() if e.asset_key == RAW_CALLS]
    meta = mat.materialization.metadata
    assert (meta["files_loaded"].value, meta["files_replaced"].value,
            meta["files_unchanged"].value) == (0, 1, len(months))
    assert meta["partner_months_delivered"].value == 1
    assert _raw_counts(settings) == {"phonenow": 5000, "eastbrook": 2 * len(months) + 3}
    events = instance.fetch_materializations(RAW_CALLS, limit=10).records
    assert len(events) == 2  # one per run


def _sensor(settings, cursor: str | None = None):
    context = dg.build_sensor_context(
        cursor=cursor, resources={"warehouse": WarehouseResource.from_settings(settings)})
    return context, landing_files_sensor(context)


def test_sensor_asks_for_one_run_covering_changed_files(settings, partners):
    write(eastbrook_file(settings.landing_dir, "202403"),
          "\n".join([EASTBROOK_HEADER, *eastbrook_rows(3)]))
    path = write(eastbrook_file(settings.landing_dir, "202405"),
                 "\n".join([EASTBROOK_HEADER, *eastbrook_rows(3, start=9)]))
    changed, _ = changed_partner_months(settings, partners, None)
    assert changed == {("eastbrook", dt.date(2024, 3, 1)), ("eastbrook", dt.date(2024, 5, 1))}
    context, request = _sensor(settings)
    assert isinstance(request, dg.RunRequest)  # one request, not one per partner-month
    assert request.tags["hub/partner_months"] == "2"
    assert request.tags["hub/trigger"] == "landing_files_sensor"
    assert request.partition_key is None and request.asset_selection is None

    _, again = _sensor(settings, context.cursor)
    assert isinstance(again, dg.SkipReason)

    write(path, "\n".join([EASTBROOK_HEADER, *eastbrook_rows(4, start=9)]))
    changed, _ = changed_partner_months(settings, partners, json.loads(context.cursor))
    assert changed == {("eastbrook", dt.date(2024, 5, 1))}
    _, request = _sensor(settings, context.cursor)
    assert isinstance(request, dg.RunRequest)
    assert request.tags["hub/partner_months"] == "1"


def test_sensor_without_cursor_skips_files_already_loaded(settings, partners):
    """Starting the UI after `hub build` must not rebuild what is already in the warehouse."""
    from dagster_project.ingest import load_source

    write(eastbrook_file(settings.landing_dir, "202403"),
          "\n".join([EASTBROOK_HEADER, *eastbrook_rows(3)]))
    load_source(settings.work_db, settings.landing_dir, partners)
    assert isinstance(_sensor(settings)[1], dg.SkipReason)
    write(eastbrook_file(settings.landing_dir, "202404"),
          "\n".join([EASTBROOK_HEADER, *eastbrook_rows(3, start=7)]))
    assert changed_partner_months(settings, partners, None)[0] == {
        ("eastbrook", dt.date(2024, 4, 1))}
    request = _sensor(settings)[1]
    assert isinstance(request, dg.RunRequest)
    assert request.tags["hub/partner_months"] == "1"


def test_sensor_without_cursor_skips_a_file_the_last_load_rejected(settings, partners):
    """A rejected file left in the landing folder (here a duplicate delivery) would be rejected
    again: starting the UI does not start a build for it; other content under its name does."""
    from dagster_project.ingest import load_source

    content = "\n".join([EASTBROOK_HEADER, *eastbrook_rows(3)])
    write(eastbrook_file(settings.landing_dir, "202403"), content)
    duplicate = write(eastbrook_file(settings.landing_dir, "202404"), content)
    load_source(settings.work_db, settings.landing_dir, partners)
    con = duckdb.connect(str(settings.work_db), read_only=True)
    try:
        assert con.execute("select status from raw.load_events where source_file like ?",
                           ["%202404%"]).fetchall() == [("rejected",)]
    finally:
        con.close()
    assert changed_partner_months(settings, partners, None)[0] == set()
    assert isinstance(_sensor(settings)[1], dg.SkipReason)
    write(duplicate, "\n".join([EASTBROOK_HEADER, *eastbrook_rows(3, start=7)]))
    assert changed_partner_months(settings, partners, None)[0] == {
        ("eastbrook", dt.date(2024, 4, 1))}
    assert isinstance(_sensor(settings)[1], dg.RunRequest)


@pytest.mark.parametrize("when, month", [(dt.datetime(2024, 5, 3, 6), "2024-04"),
                                          (dt.datetime(2025, 1, 3, 6), "2024-12")])
def test_monthly_schedule_asks_for_one_run_over_previous_month(settings, partners, when, month):
    assert monthly_build_schedule.cron_schedule == "0 6 3 * *"
    assert monthly_build_schedule.execution_timezone == "Europe/London"
    assert monthly_build_schedule.job_name == landing_files_sensor.job_name == "build_warehouse"
    context = dg.build_schedule_context(
        scheduled_execution_time=when.replace(tzinfo=ZoneInfo("Europe/London")),
        resources={"warehouse": WarehouseResource.from_settings(settings)})
    request = monthly_build_schedule(context)
    assert isinstance(request, dg.RunRequest)
    # one run a month (the run key dedupes a re-evaluation), for every partner's month
    assert request.run_key == f"monthly-{month}"
    assert request.tags["hub/partner_months"] == str(len(partners))
    assert request.tags["hub/trigger"] == "monthly_build_schedule"
    assert request.partition_key is None


def test_project_instance_runs_one_build_at_a_time(settings, monkeypatch):
    """Every run writes the same DuckDB working file, so the instance queues runs one by one."""
    from dagster_project.build import prepare_dagster_home

    monkeypatch.setenv("DAGSTER_HOME", str(settings.dagster_home))  # restored after the test
    home = prepare_dagster_home(settings)
    instance = dg.DagsterInstance.from_config(str(home))
    assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1


def test_project_instance_keeps_its_event_log_where_dagster_does(settings, monkeypatch):
    """The instance `hub` configures records runs in Dagster's own files (history/runs), read
    back by a second instance as the Dagster UI would; its event log keeps one engine per file
    (a bounded number), without an fsync at every commit, and keeps the answers about its
    schema that Dagster would otherwise ask the index for again at every asset event."""
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    from dagster_project.build import prepare_dagster_home
    from dagster_project.orchestration.event_log import HubSqliteEventLogStorage

    monkeypatch.setenv("DAGSTER_HOME", str(settings.dagster_home))  # restored after the test
    home = prepare_dagster_home(settings)

    @dg.asset
    def recorded():
        return 1

    with dg.DagsterInstance.from_config(str(home)) as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, HubSqliteEventLogStorage)
        run = dg.materialize([recorded], instance=instance)
        assert run.success
        assert storage.engine_for_shard(run.run_id) is storage.engine_for_shard(run.run_id)
        with storage.index_connection() as conn:
            assert conn.exec_driver_sql("pragma synchronous").scalar() == 1  # normal
        for n in range(storage.KEPT_ENGINES + 3):
            with storage.run_connection(f"other-{n}"):
                pass
        assert len(storage._engines) == storage.KEPT_ENGINES
        # the schema's answers it keeps are Dagster's own (asked of the index again, uncached);
        # a column that does not exist is asked again each time, never kept
        assert instance.get_asset_records([dg.AssetKey("recorded")])
        kept_columns = set(storage._asset_key_columns)
        kept_indexes = set(storage._secondary_indexes)
        assert {"last_materialization_timestamp", "cached_status_data"} <= kept_columns
        assert kept_indexes
        with storage.index_connection() as conn:
            for column in kept_columns:
                assert SqliteEventLogStorage._has_asset_key_col_on_connection(storage, conn, column)
            assert not storage._has_asset_key_col_on_connection(conn, "no_such_column")
        assert all(SqliteEventLogStorage.has_secondary_index(storage, name)
                   for name in kept_indexes)
        assert not storage.has_secondary_index("no_such_migration")
        assert not storage.has_asset_key_col("no_such_column")
        assert "no_such_column" not in storage._asset_key_columns
        assert "no_such_migration" not in storage._secondary_indexes
    assert (home / "history" / "runs" / f"{run.run_id}.db").exists()
    with dg.DagsterInstance.from_config(str(home)) as reader:
        assert reader.get_run_by_id(run.run_id).is_success
        materialized = reader.get_latest_materialization_event(dg.AssetKey("recorded"))
        assert materialized is not None and materialized.run_id == run.run_id


def test_sensor_sees_a_crm_delivery_on_its_own(settings, partners):
    """A month's CRM file alone (no telephony change) starts a run over that partner-month."""
    write(settings.landing_dir / "eastbrook" / "crm" / "eastbrook_crm_2024_06.csv",
          "Case Ref;Logged\nE1;01/06/2024 09:00:00\n")
    assert changed_partner_months(settings, partners, None)[0] == {
        ("eastbrook", dt.date(2024, 6, 1))}
    request = _sensor(settings)[1]
    assert isinstance(request, dg.RunRequest)
    assert request.tags["hub/partner_months"] == "1"
