"""`hub build` end to end: real Dagster, real DuckDB, real dbt, atomic publication."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from dagster_project.quality import reconcile_calls
from tests.conftest import PARTNERS_DIR, REALDATA_DIR, hub, hub_env


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
    ops = duckdb.connect(str(built_warehouse.operations_db), read_only=True)
    try:
        for rec in reconcile_calls(ops):
            assert rec.balanced, rec
        assert ops.execute("select count(*) from marts.fct_calls").fetchone() == served
    finally:
        ops.close()


def test_every_asset_is_materialized_in_the_dagster_instance(built_warehouse):
    from dagster_project.definitions import defs

    instance = dg.DagsterInstance.from_config(str(built_warehouse.dagster_home))
    graph = defs.resolve_asset_graph()
    missing = [k.to_user_string() for k in graph.materializable_asset_keys
               if instance.get_latest_materialization_event(k) is None]
    assert missing == []
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
    from tests.conftest import hub_env

    env = hub_env(built_warehouse.data_dir)
    out = hub(env, "status", "--month", "2024-04").stdout
    assert ("Telephony for April 2024: 6 of 6 partners delivered (not expected to deliver: "
            "phonenow)") in out
    eastbrook = built_warehouse.landing_dir / "eastbrook" / "telephony" / "EB_Telephony_202404.csv"
    data_rows = len(eastbrook.read_text(encoding="utf-8").splitlines()) - 1
    line = next(ln for ln in out.splitlines() if ln.startswith("eastbrook "))
    assert line.split()[1:3] == ["1", f"{data_rows:,}"]
    riverton = next(ln for ln in out.splitlines() if ln.startswith("riverton "))
    assert riverton.split()[1] == "30"  # one file a day
    assert "rejected" in out
    assert "CRM for April 2024: 6 of 6 partners delivered" in out
    crm_section = out.split("CRM for April 2024", 1)[1]
    westvale = next(ln for ln in crm_section.splitlines() if ln.startswith("westvale "))
    assert westvale.split()[1] == "1"  # one JSON-lines file a month


def _phonenow_only(tmp_path: Path, partners_dir: Path = PARTNERS_DIR) -> dict[str, str]:
    """A tiny landing folder: only the real PhoneNow export (one file, 5,000 calls)."""
    data = tmp_path / "data"
    shutil.copytree(REALDATA_DIR, data / "landing")
    return hub_env(data, HUB_PARTNERS_DIR=str(partners_dir))


def _copy_of(built_warehouse, tmp_path: Path) -> dict[str, str]:
    """The environment of a copy of the session warehouse's data folder (incremental builds
    on it leave the session's warehouse as it is)."""
    data = tmp_path / "data"
    shutil.copytree(built_warehouse.data_dir, data, ignore=shutil.ignore_patterns("*.log"))
    return hub_env(data)


@dataclass
class StrictThenLenient:
    env: dict[str, str]
    serving: Path
    strict: subprocess.CompletedProcess
    published_by_strict: bool
    lenient: subprocess.CompletedProcess


@pytest.fixture(scope="module")
def phonenow_warehouse(tmp_path_factory) -> StrictThenLenient:
    """PhoneNow's real export plus a stray folder no partner owns, built with `--strict` (which
    must refuse) and then without (which must publish): the one small full build of the module.
    """
    env = _phonenow_only(tmp_path_factory.mktemp("phonenow"))
    stray = Path(env["HUB_DATA_DIR"]) / "landing" / "newtown" / "telephony" / "calls.csv"
    stray.parent.mkdir(parents=True)
    stray.write_text("a,b\n1,2\n")
    serving = Path(env["HUB_DATA_DIR"]) / "serving" / "warehouse.duckdb"
    strict = hub(env, "build", "--strict", check=False)
    published_by_strict = serving.exists()
    lenient = hub(env, "build", check=False)
    return StrictThenLenient(env, serving, strict, published_by_strict, lenient)


def test_rejected_files_are_reported_and_strict_mode_refuses_to_publish(phonenow_warehouse):
    strict, lenient = phonenow_warehouse.strict, phonenow_warehouse.lenient
    assert strict.returncode == 1, strict.stderr
    assert "landing folder 'newtown' has no partner configuration" in strict.stderr
    assert not phonenow_warehouse.published_by_strict

    assert lenient.returncode == 0, lenient.stderr
    assert "rejected: landing folder 'newtown' has no partner configuration" in lenient.stderr
    assert "hub build: published" in lenient.stdout
    assert phonenow_warehouse.serving.exists()


def test_failed_build_keeps_the_last_good_serving_file(phonenow_warehouse, tmp_path):
    assert phonenow_warehouse.lenient.returncode == 0, phonenow_warehouse.lenient.stderr
    data = tmp_path / "data"
    shutil.copytree(phonenow_warehouse.env["HUB_DATA_DIR"], data)
    env = {**phonenow_warehouse.env, "HUB_DATA_DIR": str(data)}
    serving = data / "serving" / "warehouse.duckdb"
    good, good_inode = sha256(serving), serving.stat().st_ino

    broken = tmp_path / "partners"
    shutil.copytree(PARTNERS_DIR, broken)
    config = yaml.safe_load((broken / "phonenow.yml").read_text())
    config["sources"]["telephony"]["queues"]["Streaming"] = "no_such_service_line"
    (broken / "phonenow.yml").write_text(yaml.safe_dump(config))
    reader = duckdb.connect(str(serving), read_only=True)
    try:
        failed = hub({**env, "HUB_PARTNERS_DIR": str(broken)}, "build", check=False)
        assert failed.returncode == 1
        assert "FAILED" in failed.stderr and "left as they were" in failed.stderr
        assert sha256(serving) == good and serving.stat().st_ino == good_inode
        assert reader.execute("select count(*) from marts.fct_calls").fetchone()[0] > 0

        # A good rebuild (a full one: the failed build may have updated some tables and not
        # others) publishes while the reader still holds the old file open: the old reader
        # keeps working and a new reader sees the new file.
        rebuilt = hub(env, "build")
        assert "full build (the previous build did not finish)" in rebuilt.stdout
        assert serving.stat().st_ino != good_inode
        assert reader.execute("select count(*) from marts.fct_calls").fetchone()[0] == 5000
        fresh = duckdb.connect(str(serving), read_only=True)
        assert fresh.execute("select count(*) from marts.fct_calls").fetchone()[0] == 5000
        fresh.close()
    finally:
        reader.close()


def test_invalid_partner_configuration_is_a_clear_error(tmp_path):
    broken = tmp_path / "partners"
    shutil.copytree(PARTNERS_DIR, broken)
    config = yaml.safe_load((broken / "eastbrook.yml").read_text())
    config["sources"]["telephony"]["timestamp_format"] = "%m-%d-%Y"
    (broken / "eastbrook.yml").write_text(yaml.safe_dump(config))
    result = hub(_phonenow_only(tmp_path, broken), "build", check=False)
    assert result.returncode == 2
    assert "eastbrook.yml" in result.stderr and "timestamp_format" in result.stderr


def test_build_with_nothing_new_leaves_the_served_files_untouched(built_warehouse, tmp_path):
    env = _copy_of(built_warehouse, tmp_path)
    data = Path(env["HUB_DATA_DIR"])
    published = [data / "serving" / "warehouse.duckdb", data / "serving" / "operations.duckdb"]
    before = [(p.stat().st_ino, p.stat().st_mtime_ns, sha256(p)) for p in published]
    out = hub(env, "build").stdout
    assert "hub build: nothing new" in out
    assert "dbt: nothing new since the last published build" in out
    assert [(p.stat().st_ino, p.stat().st_mtime_ns, sha256(p)) for p in published] == before
