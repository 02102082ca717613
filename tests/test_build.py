"""`hub build` end to end: real Dagster, real DuckDB, real dbt, atomic publication."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dagster_project import dbt_in_process, duck
from dagster_project.dbt_runner import dbt_variables
from dagster_project.quality import reconcile_calls
from dagster_project.settings import environment_with
from tests.conftest import hub, hub_env, settings_of


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_build_publishes_a_serving_file_with_marts(built_warehouse):
    serving = built_warehouse.serving_db
    for published in (serving, built_warehouse.operations_db):
        assert published.exists()
        assert not published.with_name(published.name + ".wal").exists()
    assert not list(serving.parent.glob(".*.tmp"))
    con = duckdb.connect(str(serving), read_only=True)
    try:
        partners = {r[0] for r in con.execute(
            "select distinct partner_code from marts.kpi_telephony_monthly").fetchall()}
        assert partners == {"eastbrook", "highcross", "northmoor", "phonenow", "riverton",
                            "southfield", "westvale"}
        # The served file holds the marts and nothing else: no raw or quarantined rows.
        schemas = {r[0] for r in con.execute(
            "select distinct table_schema from information_schema.tables").fetchall()}
        assert schemas == {"marts"}
        served = con.execute("select count(*) from marts.fct_calls").fetchone()
    finally:
        con.close()
    # the operations file: the marts, the quarantined rows, the loads; not the delivered rows,
    # which stay in the working file (publish.py)
    ops = duckdb.connect(str(built_warehouse.operations_db), read_only=True)
    try:
        assert ops.execute("select count(*) from marts.fct_calls").fetchone() == served
        assert ops.execute("select count(*) from quality.quarantine_calls").fetchone()[0] > 0
        assert not ops.execute("select table_name from duckdb_tables() where schema_name = 'raw' "
                               "and table_name in ('telephony_calls', 'crm_contacts')").fetchall()
    finally:
        ops.close()
    work = duck.connect_work(built_warehouse.work_db, read_only=True)
    try:
        for rec in reconcile_calls(work):
            assert rec.balanced, rec
    finally:
        work.close()


def test_every_asset_is_materialized_in_the_dagster_instance(built_warehouse):
    from dagster_project.definitions import defs

    instance = dg.DagsterInstance.from_config(str(built_warehouse.dagster_home))
    graph = defs.resolve_asset_graph()
    # The build job materializes everything but the board pack (its own job and sensor,
    # tests/test_board_pack.py).
    missing = [k.to_user_string() for k in graph.materializable_asset_keys
               if instance.get_latest_materialization_event(k) is None]
    assert missing == ["reports/board_pack"]
    runs = instance.get_runs()
    assert len(runs) == 1 and runs[0].status == dg.DagsterRunStatus.SUCCESS
    # One run loaded every partner-month of the sample, with ONE event per load asset.
    for key in (["raw", "telephony_calls"], ["raw", "crm_contacts"]):
        (event,) = instance.fetch_materializations(dg.AssetKey(key), limit=10).records
        meta = event.asset_materialization.metadata
        assert meta["files_loaded"].value > 0 and meta["files_unchanged"].value == 0
        assert meta["partner_months_delivered"].value >= 6 * 4, key  # 6 partners x 4 months


def test_asset_checks_ran_with_the_build(built_warehouse):
    instance = dg.DagsterInstance.from_config(str(built_warehouse.dagster_home))
    fct, raw = dg.AssetKey(["marts", "fct_calls"]), dg.AssetKey(["raw", "telephony_calls"])
    keys = {name: dg.AssetCheckKey(asset, name) for asset, name in (
        (fct, "calls_reconcile"), (fct, "calls_quarantine_rate"), (raw, "telephony_freshness"))}
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        list(keys.values()))
    evaluation = {name: latest[key].event.dagster_event.event_specific_data
                  for name, key in keys.items()}
    assert evaluation["calls_reconcile"].passed
    assert evaluation["calls_quarantine_rate"].passed
    # The fixture's data ends in April 2024, so no partner delivered last month; PhoneNow, a
    # closed historic data set, is not chased.
    freshness = evaluation["telephony_freshness"]
    assert not freshness.passed
    assert freshness.metadata["not_delivered"].value == [
        "eastbrook", "highcross", "northmoor", "riverton", "southfield", "westvale"]


def test_status_reports_deliveries_and_rejections(built_warehouse):

    env = hub_env(built_warehouse.data_dir)
    out = hub(env, "status", "--month", "2024-04").stdout
    assert ("Telephony for April 2024: 6 of 6 partners delivered (not expected to deliver: "
            "phonenow)") in out
    eastbrook = built_warehouse.landing_dir / "eastbrook" / "telephony" / "EB_Telephony_202404.csv"
    data_rows = len(eastbrook.read_text(encoding="utf-8").splitlines()) - 1
    line = next(ln for ln in out.splitlines() if ln.startswith("eastbrook "))
    assert line.split()[1:4] == ["2024-04", "1", f"{data_rows:,}"]
    riverton = next(ln for ln in out.splitlines() if ln.startswith("riverton "))
    assert riverton.split()[2] == "30"  # one file a day
    assert "rejected" in out
    assert "CRM for April 2024: 6 of 6 partners delivered" in out
    crm_section = out.split("CRM for April 2024", 1)[1]
    westvale = next(ln for ln in crm_section.splitlines() if ln.startswith("westvale "))
    assert westvale.split()[2] == "1"  # one JSON-lines file a month
    # the service-standard sources, for the partners configured with each (northmoor has no
    # reception, riverton no web)
    assert "Voicemail for April 2024: 6 of 6 partners delivered" in out
    assert "Reception for April 2024: 5 of 5 partners delivered" in out
    assert "Web for April 2024: 5 of 5 partners delivered" in out
    # without --month: each partner's latest delivered month, PhoneNow's historic March 2021
    latest = hub(env, "status").stdout
    assert "Telephony in each partner's latest delivered month: 6 of 6" in latest
    phonenow = next(ln for ln in latest.splitlines() if ln.startswith("phonenow "))
    assert phonenow.split()[1] == "2021-03"


def test_dbt_runs_the_configured_number_of_threads(built_warehouse, monkeypatch):
    """dbt's threads come from HUB_DBT_THREADS (default 2) through dbt/profiles.yml; the
    session warehouse is built with the default (tests/conftest.py)."""
    logs = sorted((built_warehouse.data_dir / "logs").glob("build-*.log"))
    assert logs and "Concurrency: 2 threads" in logs[-1].read_text(errors="replace")
    monkeypatch.delenv("HUB_DBT_THREADS", raising=False)
    assert duck.dbt_threads() == 2
    monkeypatch.setenv("HUB_DBT_THREADS", "3")
    assert duck.dbt_env_vars(built_warehouse.data_dir)["HUB_DBT_THREADS"] == "3"
    for wrong in ("0", "two", "-1"):
        monkeypatch.setenv("HUB_DBT_THREADS", wrong)
        with pytest.raises(ValueError, match=f"HUB_DBT_THREADS={wrong!r}"):
            duck.dbt_threads()


def test_a_build_runs_dbt_in_its_own_process(built_warehouse, tmp_path):
    """dbt runs inside `hub build` (dagster_project/dbt_in_process.py): its text log, without
    colours, is the build's log; a dbt that fails is reported, and the process's environment
    is left as it was."""
    log = sorted((built_warehouse.data_dir / "logs").glob("build-*.log"))[-1].read_text()
    assert "Running with dbt=" in log and " OK created sql table model " in log
    assert "Completed successfully" in log and "\x1b[" not in log
    before = dict(os.environ)
    outcome = dbt_in_process.DbtOutcome()
    results = list(dbt_in_process.run(settings_of(tmp_path / "data"),
                                      ["build", "--no-such-option"], tmp_path / "target",
                                      outcome))
    assert results == [] and not outcome.success
    assert "no-such-option" in str(outcome.exception)
    assert dict(os.environ) == before


def test_a_build_runs_dbt_on_the_parse_its_load_started(tmp_path, monkeypatch):
    """A load that finds something new starts dbt's parse in a thread (parse_ahead); the run
    with the same key runs on that parse's manifest, once, and a run with no parse ahead (or
    another key) parses the project itself. Only in a process whose environment holds dbt's
    variables (as `hub build` sets them): elsewhere no parse starts, and the environment is
    left as it was."""
    settings = settings_of(tmp_path / "data")
    args = ["ls", "--resource-type", "model", "--output", "name", "--quiet"]

    def names(outcome, **kwargs) -> None:
        list(dbt_in_process.run(settings, args, tmp_path / "target", outcome, **kwargs))

    before = dict(os.environ)
    dbt_in_process.parse_ahead(settings, tmp_path / "target", "elsewhere")
    elsewhere = dbt_in_process.DbtOutcome()
    names(elsewhere, parsed_for="elsewhere")
    assert elsewhere.success and not elsewhere.parsed_ahead
    assert dict(os.environ) == before
    for name, value in dbt_variables(settings).items():
        monkeypatch.setenv(name, value)
    dbt_in_process.parse_ahead(settings, tmp_path / "target", "run-1")
    ahead, again, other = (dbt_in_process.DbtOutcome() for _ in range(3))
    names(ahead, parsed_for="run-1")
    names(again, parsed_for="run-1")  # the parse served its run: this one parses itself
    names(other, parsed_for="run-2")
    assert ahead.success and again.success and other.success
    assert (ahead.parsed_ahead, again.parsed_ahead, other.parsed_ahead) == (True, False, False)


def test_processes_of_the_package_collect_cycles_less_often():
    """Importing the package raises the cyclic collector's thresholds (dagster_project/__init__.py)
    in the importing process: `hub`, Dagster's processes, Superset's workers."""
    import subprocess
    import sys

    import dagster_project

    out = subprocess.run([sys.executable, "-c", "import gc, dagster_project; "
                          "print(gc.get_threshold())"], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == str(dagster_project.GC_THRESHOLDS)


def test_dbt_debug_events_are_built_only_when_a_log_writes_them():
    """During an in-process dbt run (dagster_project/dbt_in_process.py) a debug event is not
    built unless a logger writes debug (DBT_LOG_LEVEL_FILE=debug); info events always are, and
    after the run every event is built again."""
    import io

    from dbt_common.events.base_types import EventLevel
    from dbt_common.events.event_manager import EventManager
    from dbt_common.events.logger import LoggerConfig
    from dbt_common.events.types import Note

    seen = []
    manager = EventManager()
    manager.callbacks.append(seen.append)
    manager.add_logger(LoggerConfig(name="info", level=EventLevel.INFO,
                                    output_stream=io.StringIO()))
    with dbt_in_process.debug_events_unbuilt():
        manager.fire_event(Note(msg="unwritten"), level=EventLevel.DEBUG)
        manager.fire_event(Note(msg="info"), level=EventLevel.INFO)
        manager.add_logger(LoggerConfig(name="debug", level=EventLevel.DEBUG,
                                        output_stream=io.StringIO()))
        manager.fire_event(Note(msg="debug, written"), level=EventLevel.DEBUG)
    manager.loggers.pop()
    manager.fire_event(Note(msg="after the run"), level=EventLevel.DEBUG)
    assert [m.info.msg for m in seen] == ["info", "debug, written", "after the run"]


def test_environment_with_sets_variables_for_the_block_only(monkeypatch):
    monkeypatch.setenv("HUB_TEST_KEPT", "before")
    monkeypatch.delenv("HUB_TEST_NEW", raising=False)
    with environment_with({"HUB_TEST_KEPT": "inside", "HUB_TEST_NEW": "1"}):
        assert (os.environ["HUB_TEST_KEPT"], os.environ["HUB_TEST_NEW"]) == ("inside", "1")
    assert os.environ["HUB_TEST_KEPT"] == "before" and "HUB_TEST_NEW" not in os.environ


def test_the_check_warning_is_dropped_only_when_the_build_found_nothing_new(built_warehouse,
                                                                             tmp_path):
    """Dagster warns that a blocking check emitted no result; `hub build` drops the warning
    only when its plan found nothing new (tests/test_incremental.py runs that build)."""
    import logging

    from dagster_project.build import CHECK_WITHOUT_RESULT, _NothingNewChecks
    from dagster_project.build_plan import planned

    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("dagster", logging.WARNING, __file__, 1, message, None, None)

    warning = record(f"Blocking asset check 'x' {CHECK_WITHOUT_RESULT} in step 'y'")
    assert not planned(built_warehouse).nothing_to_do  # the session's build built everything
    assert _NothingNewChecks(built_warehouse).filter(warning)
    assert _NothingNewChecks(built_warehouse).filter(record("another warning"))
    never_built = dataclasses.replace(built_warehouse, work_db=tmp_path / "none.duckdb")
    assert _NothingNewChecks(never_built).filter(warning)
