"""dbt's unit tests (the `unit_tests:` blocks in dbt/models/**/_*__unit_tests.yml) all pass, and
the project's own generic data test `not_null_columns` fails on nulls.

The unit tests check the SQL of the KPI formulas and of the models' edge cases on hand-made
rows, not the data, so `hub build` skips them (dagster_project.dbt_runner.BUILD_ARGS) and they
run here, once: `dbt test` on a copy of the session warehouse's working file (a unit test needs
its model's parents to exist), its results read from dbt's run_results.json. The same dbt run
tests `dim_partner`'s required columns after two of them were nulled in one row of the copy.
"""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
import yaml

from dagster_project import duck
from dagster_project.dbt_runner import dbt_process

NULLED = ("partner_name", "is_expecting_deliveries")  # required columns of marts.dim_partner


def declared_unit_tests(dbt_dir) -> set[str]:
    names = set()
    for path in (dbt_dir / "models").rglob("*.yml"):
        names.update(t["name"] for t in (yaml.safe_load(path.read_text()) or {}).get(
            "unit_tests") or [])
    return names


@pytest.fixture(scope="module")
def dbt_results(built_warehouse, tmp_path_factory) -> dict[str, dict]:
    """unique_id -> result of one `dbt test` run: every unit test, and dim_partner's
    not_null_columns test on a copy where one partner has two required columns nulled."""
    tmp = tmp_path_factory.mktemp("dbt_unit")
    work_db = tmp / "work.duckdb"
    shutil.copyfile(built_warehouse.work_db, work_db)
    shutil.copyfile(built_warehouse.marts_db, duck.marts_db_of(work_db))
    with duck.connect_work(work_db) as con:
        con.execute(f"update marts.dim_partner set {', '.join(f'{c} = null' for c in NULLED)} "
                    "where partner_code = (select min(partner_code) from marts.dim_partner)")
    settings = dataclasses.replace(built_warehouse, data_dir=tmp, work_db=work_db)
    target = tmp / "target"
    partial = built_warehouse.dbt_target_dir / "partial_parse.msgpack"
    if partial.exists():  # saves a full parse; dbt re-parses if it no longer matches
        target.mkdir()
        shutil.copyfile(partial, target / partial.name)
    proc = dbt_process(settings, "test", "--select", "test_type:unit",
                       "dim_partner,test_name:not_null_columns", "--target-path", str(target))
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]  # the nulls fail
    results = json.loads((target / "run_results.json").read_text())["results"]
    return {r["unique_id"]: r for r in results}


def test_every_dbt_unit_test_passes(built_warehouse, dbt_results):
    declared = declared_unit_tests(built_warehouse.dbt_project_dir)
    assert len(declared) >= 20, declared
    statuses = {uid.rsplit(".", 1)[-1]: r["status"] for uid, r in dbt_results.items()
                if uid.startswith("unit_test.")}
    assert set(statuses) == declared
    assert {name for name, status in statuses.items() if status != "pass"} == set()


def test_not_null_columns_fails_once_per_column_holding_nulls(dbt_results):
    data_tests = [r for uid, r in dbt_results.items() if not uid.startswith("unit_test.")]
    assert [r["unique_id"].split(".")[2] for r in data_tests] == [
        "not_null_columns_dim_partner_partner_code__partner_name__is_expecting_deliveries"]
    assert data_tests[0]["status"] == "fail"
    assert data_tests[0]["failures"] == len(NULLED)  # one row per column with nulls
