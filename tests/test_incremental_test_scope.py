"""What the data tests check in an incremental build: the rows and files it redid.

The data tests of the contact-level facts check the contacts that build redid
(`where: "__in_scoped_contacts__"`, dbt/macros/incremental_scope.sql): those of the months with
changed rows and those of the customers merged or split. A new month relabels customers whose
contacts lie in every month, so scoping these tests by the months in scope checked every stored
contact.

On a copy of the session warehouse's working file, four contacts of `fct_contacts` in three
months are given customer ids `dim_customer` does not hold: one in a month with changed rows,
two in a month in scope only through customers (as a new month puts every month of the
customers it relabels in scope), one of a customer in scope (merged by this build). With the
plan marked incremental the relationship test counts the first and the last; with the plan
full, all four. Scoped by the months in scope, as before, it counted the first three.

The load files' and the contacts' reconciliations (dbt/tests/assert_load_files_reconcile.sql,
assert_contacts_reconcile.sql) check the files of the deliveries in scope: two CRM files are
given one line read more than they hold, one of a delivery in scope; each test counts that one
in the incremental build and both in the full one. In a third file, of no delivery in scope, one
contact is accounted for twice, one not at all, and one row that was never delivered is
accounted for: the full build's contacts' reconciliation counts each of the three, and the
file.
"""

from __future__ import annotations

import json

import pytest

from dagster_project import duck
from tests.conftest import working_file_copy
from tests.forked_hub import run_dbt

TEST = "relationships_fct_contacts_customer_id__customer_id__ref_dim_customer_"
RECONCILIATIONS = ("assert_load_files_reconcile", "assert_contacts_reconcile")
MISSING = "cus_not_a_customer"
MERGED = "cus_merged_away"  # not in dim_customer either


def _failures(settings, target, tmp, name: str) -> dict[str, tuple[int, str]]:
    """Each selected test's (failing rows, status)."""
    proc = run_dbt(settings, "test", "--select", TEST, *RECONCILIATIONS,
                   "--target-path", str(target), "--log-path", str(tmp / f"logs-{name}"))
    results = json.loads((target / "run_results.json").read_text())["results"]
    assert len(results) == 1 + len(RECONCILIATIONS), proc.stdout[-3000:]
    return {r["unique_id"].split(".")[2]: (r["failures"], r["status"]) for r in results}


@pytest.fixture(scope="module")
def scoped_tests(built_warehouse, tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("incremental_test_scope")
    settings, target = working_file_copy(built_warehouse, tmp)
    with duck.connect_work(settings.work_db) as con:
        # contacts with a customer in three months: one, two and one
        rows = con.execute(
            "select contact_id, partner_code, created_month from ("
            "  select *, row_number() over (partition by created_month order by contact_id) as n,"
            "    dense_rank() over (order by created_month) as month_number"
            "  from marts.fct_contacts where customer_id is not null)"
            " where month_number <= 3 and n <= 2 order by created_month, contact_id").fetchall()
        changed, touched, touched_too, merged = rows[0], rows[2], rows[3], rows[4]
        assert changed[2] < touched[2] == touched_too[2] < merged[2]
        for (contact_id, *_), customer_id in zip((changed, touched, touched_too, merged),
                                                 (MISSING, MISSING, MISSING, MERGED), strict=True):
            con.execute("update marts.fct_contacts set customer_id = ? where contact_id = ?",
                        [customer_id, contact_id])
        # the first month has changed rows; the second is in scope only through customers
        # (as the months of the customers a new month relabels); the third contact's customer
        # was merged by this build
        con.execute("delete from intermediate.int_build__scope_months")
        con.execute("insert into intermediate.int_build__scope_months by name "
                    "select * from (values (?, ?, true), (?, ?, false)) "
                    "as months(partner_code, month, has_changed_rows)",
                    [*changed[1:], *touched[1:]])
        con.execute("delete from intermediate.int_build__scope_customers")
        con.execute("insert into intermediate.int_build__scope_customers by name "
                    "select ? as customer_id", [MERGED])
        # two CRM files read one line more than they hold; the first one's delivery in scope
        files = con.execute("select partner_code, delivery_key, source_file from raw.load_files "
                            "where source = 'crm' order by partner_code, delivery_key "
                            "limit 3").fetchall()
        con.execute("delete from build.scope_deliveries")
        con.execute("insert into build.scope_deliveries values (?, 'crm', ?, 'replaced')",
                    list(files[0][:2]))
        con.execute("update raw.load_files set rows_read = rows_read + 1 "
                    "where source = 'crm' and source_file in (?, ?)",
                    [files[0][2], files[1][2]])
        # in a third file (no delivery in scope), three rows the contacts' reconciliation finds
        # one by one: a row accounted for twice, one not at all, one accounted for that was
        # never delivered; with them the file holds one line more than was read
        fine = [MISSING, MERGED]
        twice, gone = con.execute(
            "select contact_id from marts.fct_contacts where source_file = ? "
            "and customer_id not in (?, ?) order by contact_id limit 2",
            [files[2][2], *fine]).fetchall()
        for contact_id, row_number in ((twice[0], "source_row_number"),
                                       (gone[0], "1000000000")):
            con.execute(f"insert into marts.fct_contacts select * replace ("
                        f"contact_id || '_again' as contact_id, {row_number} as "
                        f"source_row_number) from marts.fct_contacts where contact_id = ?",
                        [contact_id])
        con.execute("delete from marts.fct_contacts where contact_id = ?", [gone[0]])
        con.execute("update build.plan set mode = 'incremental'")
    incremental = _failures(settings, target, tmp, "incremental")
    with duck.connect_work(settings.work_db) as con:
        con.execute("update build.plan set mode = 'full'")
    full = _failures(settings, target, tmp, "full")
    return {"incremental": incremental, "full": full}


def test_an_incremental_build_tests_the_contacts_it_redid(scoped_tests):
    # the contact of the changed month and the merged customer's, not the other two
    assert scoped_tests["incremental"][TEST] == (2, "fail")


def test_a_full_build_tests_every_contact(scoped_tests):
    assert scoped_tests["full"][TEST] == (4, "fail")


def test_an_incremental_build_reconciles_the_files_of_its_deliveries(scoped_tests):
    for test in RECONCILIATIONS:
        assert scoped_tests["incremental"][test] == (1, "fail"), test


def test_a_full_build_reconciles_every_file(scoped_tests):
    # the two files; for the contacts also the third file and its three rows
    assert scoped_tests["full"]["assert_load_files_reconcile"] == (2, "fail")
    assert scoped_tests["full"]["assert_contacts_reconcile"] == (6, "fail")
