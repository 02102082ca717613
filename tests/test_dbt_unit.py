"""dbt's unit tests (the `unit_tests:` blocks in dbt/models/**/_*__unit_tests.yml) all pass, and
the project's own generic data test `column_checks` (dbt/tests/generic/column_checks.sql) fails
on each kind of check it runs, naming the check, the columns and how many rows fail, and passes
on clean data.

The unit tests check the SQL of the KPI formulas and of the models' edge cases on hand-made
rows, not the data, so `hub build` skips them (dagster_project.dbt_runner.BUILD_ARGS) and they
run here, once: `dbt test` on a copy of the session warehouse's working file (a unit test needs
its model's parents to exist), its results read from dbt's run_results.json. The same dbt run
tests, with `--store-failures`, the column checks of two marts spoilt in the copy (nulls,
repeated keys, a value not accepted, values out of range) and of two left as built, and the
identity audit (`assert_customers_converged`) after one contact of the copy was given another
customer: every key it shares with other contacts is reported, with two customer ids. The audit
runs again as an incremental build runs it, the spoilt contact the only one that build
labelled (it then checks only that contact's keys), and reports the same keys.
"""

from __future__ import annotations

import json

import pytest
import yaml

from dagster_project import duck
from tests.conftest import working_file_copy
from tests.forked_hub import run_dbt

BENCHMARK_KEY = "partner_code, month, kpi_code"  # the unique combination of kpi_benchmarks

# What the spoilt copy's column_checks must return: (check_name, column_names, failing_rows).
EXPECTED_FAILURES = {
    "dim_partner": {
        ("not_null", "partner_name", 1),
        ("not_null", "is_expecting_deliveries", 1),
        ("unique", "partner_code", 2),  # one partner three times: two rows repeat its key
        ("not_null", "partner_code", 2),  # two keys nulled: no repeat (nulls are left out)
    },
    "kpi_benchmarks": {
        ("not_null", "peers_count", 5),
        ("unique", BENCHMARK_KEY, 2),  # two rows copied once each
        ("accepted_values", "measurement_status", 3),
        ("accepted_range", "partner_quartile", 4),  # 1-4
    },
}
# Left as built: between them every kind of check (not_null, unique key and combination,
# accepted_values with quote: false, accepted_range).
CLEAN = ("dim_date", "stg_partner_config__complaint_policy")
AUDIT = "assert_customers_converged"


def declared_unit_tests(dbt_dir) -> set[str]:
    names = set()
    for path in (dbt_dir / "models").rglob("*.yml"):
        names.update(t["name"] for t in (yaml.safe_load(path.read_text()) or {}).get(
            "unit_tests") or [])
    return names


def spoil_identity(con) -> tuple[str, set[tuple]]:
    """One contact sharing a key with others is given a customer of its own; that contact, and
    the audit's rows this must give: (key_kind, key_value, customer_ids,
    contacts_without_customer) of every key the contact shares."""
    keys = "intermediate.int_customers__keys"
    [(contact_id,)] = con.execute(
        f"select min(contact_id) from {keys} where (key_kind, key_value) in "
        f"(select key_kind, key_value from {keys} group by all having count(*) > 1)").fetchall()
    shared = con.execute(
        f"select key_kind, key_value from {keys} where (key_kind, key_value) in "
        f"(select key_kind, key_value from {keys} where contact_id = ?) "
        "group by all having count(*) > 1", [contact_id]).fetchall()
    assert shared and contact_id is not None
    con.execute("update intermediate.int_customers__resolved set customer_id = 'cus_spoilt' "
                "where contact_id = ?", [contact_id])
    return contact_id, {(kind, value, 2, 0) for kind, value in shared}


def label_as_this_builds(con, contact_id: str) -> None:
    """Make the copy's plan an incremental build's that labelled this contact alone: the audit
    then checks only the keys of that contact (and every contact sharing them)."""
    [(build_id,)] = con.execute("select build_id from build.plan").fetchall()
    con.execute("update build.plan set mode = 'incremental'")
    con.execute("update intermediate.int_customers__resolved set changed_build_id = "
                "case when contact_id = ? then ? else 'an earlier build' end",
                [contact_id, build_id])


def stored_rows(con, result: dict) -> None:
    """The columns and rows a data test stored (--store-failures), into its result."""
    stored = con.execute(f"select * from {result['relation_name']}")
    result["columns"] = [d[0] for d in stored.description]
    result["rows"] = set(stored.fetchall())


def spoil(con) -> None:
    """Nulls (keys among them), repeated keys and values outside the accepted ones in two marts
    of the copy."""
    con.execute("update marts.dim_partner set partner_name = null, is_expecting_deliveries = null "
                "where partner_code = (select min(partner_code) from marts.dim_partner)")
    last_partner = ("select * from marts.dim_partner "
                    "where partner_code = (select max(partner_code) from marts.dim_partner)")
    con.execute(f"insert into marts.dim_partner {last_partner} union all {last_partner}")
    # two partners between the first and the last lose their key: a null is no repeated key
    con.execute("update marts.dim_partner set partner_code = null where partner_code in ("
                "select partner_code from marts.dim_partner where partner_code > "
                "(select min(partner_code) from marts.dim_partner) and partner_code < "
                "(select max(partner_code) from marts.dim_partner) order by partner_code limit 2)")
    # the updates take the last rows by key, the copies the first two: no row is both
    last = (f"({BENCHMARK_KEY}) in (select {BENCHMARK_KEY} from marts.kpi_benchmarks "
            "where partner_quartile is not null and peers_count is not null "
            f"order by {BENCHMARK_KEY} desc limit {{}})")
    assert con.execute("select count(*) from marts.kpi_benchmarks where partner_quartile "
                       "is not null and peers_count is not null").fetchone()[0] >= 10
    con.execute(f"update marts.kpi_benchmarks set peers_count = null where {last.format(5)}")
    con.execute("update marts.kpi_benchmarks set measurement_status = 'unheard_of' "
                f"where {last.format(3)}")
    con.execute(f"update marts.kpi_benchmarks set partner_quartile = 5 where {last.format(4)}")
    con.execute("insert into marts.kpi_benchmarks select * from marts.kpi_benchmarks "
                f"order by {BENCHMARK_KEY} limit 2")


@pytest.fixture(scope="module")
def dbt_results(built_warehouse, tmp_path_factory) -> dict[str, dict]:
    """unique_id -> result of one `dbt test` run: every unit test, and the column_checks of
    the spoilt and the clean models, each data test's result with its stored failing rows
    (`rows`: (check_name, column_names, failing_rows) tuples)."""
    settings, target = working_file_copy(built_warehouse, tmp_path_factory.mktemp("dbt_unit"))
    work_db = settings.work_db
    with duck.connect_work(work_db) as con:
        spoil(con)
        spoilt_contact, audit_rows = spoil_identity(con)
    column_checks = [f"{model},test_name:column_checks" for model in [*EXPECTED_FAILURES, *CLEAN]]
    proc = run_dbt(settings, "test", "--store-failures", "--select", "test_type:unit",
                   *column_checks, AUDIT, "--target-path", str(target))
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]  # the spoilt fail
    results = {r["unique_id"]: r for r in
               json.loads((target / "run_results.json").read_text())["results"]}
    manifest = json.loads((target / "manifest.json").read_text())
    with duck.connect_work(work_db, read_only=True) as con:
        for uid, result in results.items():
            if uid.startswith("test."):
                node = manifest["nodes"][uid]
                attached = node.get("attached_node")  # none for a singular test
                result["model"] = manifest["nodes"][attached]["name"] if attached else node["name"]
                stored_rows(con, result)
                if result["model"] == AUDIT:
                    result["expected_rows"] = audit_rows
    # the audit again, as an incremental build that labelled the spoilt contact runs it
    with duck.connect_work(work_db) as con:
        label_as_this_builds(con, spoilt_contact)
    proc = run_dbt(settings, "test", "--store-failures", "--select", AUDIT,
                   "--target-path", str(target))
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    [result] = json.loads((target / "run_results.json").read_text())["results"]
    with duck.connect_work(work_db, read_only=True) as con:
        stored_rows(con, result)
    results["incremental_audit"] = {**result, "expected_rows": audit_rows}
    return results


def test_every_dbt_unit_test_passes(built_warehouse, dbt_results):
    declared = declared_unit_tests(built_warehouse.dbt_project_dir)
    assert len(declared) >= 20, declared
    statuses = {uid.rsplit(".", 1)[-1]: r["status"] for uid, r in dbt_results.items()
                if uid.startswith("unit_test.")}
    assert set(statuses) == declared
    assert {name for name, status in statuses.items() if status != "pass"} == set()


def test_column_checks_fail_once_per_failing_check_with_its_rows(dbt_results):
    data_tests = {r["model"]: r for uid, r in dbt_results.items()
                  if uid.startswith("test.") and r["model"] != AUDIT}
    assert set(data_tests) == {*EXPECTED_FAILURES, *CLEAN}  # one column_checks node each
    for model, expected in EXPECTED_FAILURES.items():
        result = data_tests[model]
        assert result["status"] == "fail", model
        assert result["failures"] == len(expected), model  # one row per failing check
        assert result["columns"] == ["check_name", "column_names", "failing_rows"]  # no values
        assert result["rows"] == expected, model


def test_the_identity_audit_reports_every_key_of_a_contact_given_another_customer(dbt_results):
    """In a full build's audit (every key) and in an incremental build's (the keys of the
    contacts it labelled: here the spoilt contact alone)."""
    [audit] = [r for uid, r in dbt_results.items()
               if uid.startswith("test.") and r["model"] == AUDIT]
    for result in (audit, dbt_results["incremental_audit"]):
        assert result["status"] == "fail"
        assert result["columns"] == ["key_kind", "key_value", "customer_ids",
                                     "contacts_without_customer"]
        assert result["rows"] == result["expected_rows"]


def test_column_checks_pass_on_clean_data(dbt_results):
    clean = {r["model"]: r for uid, r in dbt_results.items()
             if uid.startswith("test.") and r["model"] in CLEAN}
    assert {model: (r["status"], r["failures"], r["rows"]) for model, r in clean.items()} == {
        model: ("pass", 0, set()) for model in CLEAN}
