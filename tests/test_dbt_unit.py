"""dbt's unit tests (the `unit_tests:` blocks in dbt/models/**/_*__unit_tests.yml) all pass.

They check the SQL of the KPI formulas and of the models' edge cases on hand-made rows, not the
data, so `hub build` skips them (dagster_project.dbt_runner.BUILD_ARGS) and they run here, once:
`dbt test --select test_type:unit` on a copy of the session warehouse's working file (a unit
test needs its model's parents to exist), its results read from dbt's run_results.json.
"""

from __future__ import annotations

import dataclasses
import json
import shutil

import yaml

from dagster_project.dbt_runner import run_dbt


def declared_unit_tests(dbt_dir) -> set[str]:
    names = set()
    for path in (dbt_dir / "models").rglob("*.yml"):
        names.update(t["name"] for t in (yaml.safe_load(path.read_text()) or {}).get(
            "unit_tests") or [])
    return names


def test_every_dbt_unit_test_passes(built_warehouse, tmp_path):
    declared = declared_unit_tests(built_warehouse.dbt_project_dir)
    assert len(declared) >= 20, declared
    work_db = tmp_path / "work.duckdb"
    shutil.copyfile(built_warehouse.work_db, work_db)
    settings = dataclasses.replace(built_warehouse, data_dir=tmp_path, work_db=work_db)
    target = tmp_path / "target"
    partial = built_warehouse.dbt_project_dir / "target" / "partial_parse.msgpack"
    if partial.exists():  # saves a full parse; dbt re-parses if it no longer matches
        target.mkdir()
        shutil.copyfile(partial, target / partial.name)
    # run_dbt raises DbtError (with dbt's output) when any unit test fails
    run_dbt(settings, "test", "--select", "test_type:unit", "--target-path", str(target))
    results = json.loads((target / "run_results.json").read_text())["results"]
    statuses = {r["unique_id"].rsplit(".", 1)[-1]: r["status"] for r in results}
    assert all(r["unique_id"].startswith("unit_test.") for r in results)
    assert set(statuses) == declared
    assert {name for name, status in statuses.items() if status != "pass"} == set()
