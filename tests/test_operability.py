"""`hub doctor`, each build's summary JSON and its Dagster metadata, and the kept published
versions (`hub rollback` on real builds is in tests/test_build_safety.py)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket

import dagster as dg
import pytest

from dagster_project import build_record, doctor, published
from dagster_project.readiness import free_port
from tests.conftest import hub, hub_env, settings_of


def _by_name(checks):
    return {c.name: c for c in checks}


def test_doctor_on_a_built_warehouse_then_what_blocks(built_warehouse, monkeypatch):
    env = hub_env(built_warehouse.data_dir, HUB_SUPERSET_PORT=str(free_port()),
                  HUB_DAGSTER_PORT=str(free_port()))
    ok = hub(env, "doctor", check=False)
    assert ok.returncode == 0, ok.stdout
    for name in ("python", "packages", "disk", "memory", "port Superset", "port Dagster UI",
                 "working warehouse", "served warehouse", "operations file",
                 "HUB_PSEUDONYMISATION_KEY"):
        assert any(line.startswith(("  OK", "  WARN")) and f" {name}:" in line
                   for line in ok.stdout.splitlines()), (name, ok.stdout)

    # a port taken by another program, production without its secrets, a database down
    monkeypatch.setenv("HUB_DATA_DIR", str(built_warehouse.data_dir))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        closed = free_port()
        monkeypatch.setenv("HUB_SUPERSET_PORT", str(port))
        monkeypatch.setenv("HUB_DAGSTER_PORT", str(free_port()))
        monkeypatch.setenv("HUB_MODE", "production")
        monkeypatch.delenv("HUB_PSEUDONYMISATION_KEY", raising=False)
        monkeypatch.delenv("HUB_SUPERSET_ADMIN_PASSWORD", raising=False)
        monkeypatch.setenv("HUB_TEST_PG_URL", f"postgresql://hub:s3cretpw@127.0.0.1:{closed}/x")
        monkeypatch.setenv("DAGSTER_PG_HOST", "127.0.0.1")
        monkeypatch.setenv("DAGSTER_PG_PORT", str(closed))
        monkeypatch.setenv("DAGSTER_PG_PASSWORD", "pgs3cret")
        monkeypatch.setenv("HUB_SUPERSET_SECRET_KEY", "change-me")
        checks = doctor.run_checks(settings_of(built_warehouse.data_dir))
    found = _by_name(checks)
    assert found["port Superset"].status == "error"
    assert "HUB_SUPERSET_PORT" in found["port Superset"].fix
    assert found["HUB_PSEUDONYMISATION_KEY"].status == "error"
    assert found["HUB_SUPERSET_ADMIN_PASSWORD"].status == "warn"
    assert found["HUB_SUPERSET_SECRET_KEY"].status == "error"  # the .env.example placeholder
    assert found["DAGSTER_PG_*"].status == "error"
    assert found["HUB_TEST_PG_URL"].status == "error"
    assert f"127.0.0.1:{closed}" in found["HUB_TEST_PG_URL"].detail
    text = doctor.report(checks)
    assert "s3cret" not in text and "hub:" not in text.replace("hub doctor:", "")
    assert text.splitlines()[-1].startswith("hub doctor: 5 blocking")


def test_each_build_leaves_its_summary_as_json_and_as_dagster_metadata(built_warehouse,
                                                                     partners):
    logs = sorted(built_warehouse.data_dir.glob("logs/build-*.json"))
    assert logs, "the session's build wrote no summary"
    record = json.loads(logs[-1].read_text())
    assert record["success"] and record["trigger"] == "hub build"
    assert record["published_version"]
    seconds = record["seconds"]
    assert all(seconds[stage] > 0 for stage in ("load", "dbt", "publish"))
    assert seconds["total"] == pytest.approx(sum(v for k, v in seconds.items() if k != "total"),
                                             abs=0.05)
    sources = record["sources"]
    # every source the partners configure (the sample delivers each of them)
    assert {r["source"] for r in sources} == {s for p in partners.values() for s in p.sources}
    for key in ("rows_read", "rows_loaded", "rows_quarantined", "files"):
        assert record["totals"][key] == sum(r[key] for r in sources)
    assert record["totals"]["rows_loaded"] > 0
    _check_dbt_nodes(built_warehouse, record)
    # the same figures on the Dagster asset the UI shows
    os.environ["DAGSTER_HOME"] = str(built_warehouse.dagster_home)
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(["serving", "warehouse"]))
    meta = event.asset_materialization.metadata
    assert meta["stage_seconds"].value == seconds
    assert meta["dbt_nodes"].value == record["dbt_nodes"]
    assert meta["rows"].value == record["totals"]
    assert meta["summary_json"].value == str(logs[-1])
    assert "| partner | source |" in meta["quarantine_by_source"].value


def _check_dbt_nodes(settings, record: dict) -> None:
    """The record's dbt nodes are the nodes dbt's own log of the build counted, the longest
    first, and belong to that run only."""
    log = max(settings.data_dir.glob("logs/build-*.log"), key=lambda p: p.stat().st_mtime)
    totals = {int(n) for n in re.findall(r"^\S+ +\d+ of (\d+) START ", log.read_text(),
                                          re.MULTILINE)}
    assert len(totals) == 1, totals
    nodes = record["dbt_nodes"]
    assert nodes["count"] == totals.pop() > 100
    longest = [n["seconds"] for n in nodes["longest"]]
    assert len(longest) == build_record.LONGEST_NODES
    assert longest == sorted(longest, reverse=True) and longest[0] > 0
    assert nodes["seconds"] >= sum(longest)
    assert all(n["node"].split(" ")[0] in ("model", "test", "seed") for n in nodes["longest"])
    assert build_record.dbt_nodes(settings, record["run_id"]) == nodes
    # `hub build` ran dbt on the parse its load started ahead (dbt_in_process.parse_ahead)
    assert nodes["parsed_ahead"] is True
    # another run (a build with nothing new runs no dbt) is not given these nodes
    assert build_record.dbt_nodes(settings, "another-run") is None


def _publish_fake(serving, operations, tmp_path, n: int):
    """A publication as publish.py does it, with small files standing for DuckDB files."""
    new_s, new_o = tmp_path / f".s{n}.tmp", tmp_path / f".o{n}.tmp"
    new_s.write_text(f"marts {n}")
    new_o.write_text(f"operations {n}")
    partial = published.start_version(serving, operations, new_s, new_o)
    os.replace(new_o, operations)
    os.replace(new_s, serving)
    return published.finish_version(serving, partial)


def test_the_last_n_versions_are_kept_and_rollback_walks_back(tmp_path, monkeypatch):
    monkeypatch.setenv("HUB_KEEP_PUBLISHED", "2")
    serving, operations = tmp_path / "serving" / "warehouse.duckdb", tmp_path / "ops.duckdb"
    serving.parent.mkdir()
    serving.write_text("marts 0")  # served by a version of the hub that kept none
    operations.write_text("operations 0")
    (serving.parent / "published" / ".partial-killed").mkdir(parents=True)  # a killed one
    _publish_fake(serving, operations, tmp_path, 1)
    assert [v.serving.read_text() for v in published.versions(serving)] == ["marts 0", "marts 1"]
    assert not list((serving.parent / "published").glob(".partial-*"))
    _publish_fake(serving, operations, tmp_path, 2)
    _publish_fake(serving, operations, tmp_path, 3)
    kept = published.versions(serving)
    assert [v.serving.read_text() for v in kept] == ["marts 2", "marts 3"]
    assert os.path.samefile(kept[-1].serving, serving)  # a link, not a copy
    restored, replaced = published.rollback(serving, operations)
    assert (serving.read_text(), operations.read_text()) == ("marts 2", "operations 2")
    assert (restored.name, replaced.name) == (kept[0].name, kept[1].name)
    with pytest.raises(published.RollbackError, match="no earlier version is kept"):
        published.rollback(serving, operations)
    # a copy of the data folder (no hard links left, times kept) still knows what it serves
    copy = tmp_path / "copy"
    shutil.copytree(serving.parent, copy)
    assert published.current(copy / "warehouse.duckdb").name == restored.name
    # the next publication after a rollback: kept, served, the served one never pruned
    _publish_fake(serving, operations, tmp_path, 4)
    assert serving.read_text() == "marts 4"
    assert [v.serving.read_text() for v in published.versions(serving)] == ["marts 3", "marts 4"]
