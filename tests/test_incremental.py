"""Incremental builds give what a build from scratch gives, row for row (docs/architecture.md,
"Incremental builds"): a month withdrawn, then delivered again with a contact that merges two
stored customers, then as it was (they split), against the session's build from scratch; a
build with nothing new. Every table of the marts schema is compared, lineage columns naming a
load aside, and every contact's customer id. The helpers here serve
tests/test_incremental_redelivery.py too.
"""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import duckdb

from tests.conftest import hub, hub_env, settings_of
from tests.marts_compare import differences, marts_rows

LAST_MONTH = re.compile(r"2024[-_]?04|04-2024")


def _copy_warehouse(built_warehouse, tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(built_warehouse.data_dir, data, ignore=shutil.ignore_patterns("logs"))
    return data


def _rewrite(path: Path, change) -> None:
    """Rewrite a ';'-delimited file in place through change(header, rows) -> rows."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh, delimiter=";"))
    header, body = rows[0], rows[1:]
    body = change(header, body)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=";", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(body)


def _april_calls(serving: Path) -> int:
    con = duckdb.connect(str(serving / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute("select count(*) from marts.fct_calls "
                           "where call_month = date '2024-04-01'").fetchone()[0]
    finally:
        con.close()


def _ops(data: Path):
    return marts_rows(data / "serving" / "operations.duckdb")


def test_a_new_month_equals_a_build_from_scratch(built_warehouse, tmp_path):
    """A month withdrawn, then delivered again with a contact that merges two stored customers,
    then delivered as it was (the customers split): as built from scratch (the session
    warehouse), every marts table and every contact's customer id.

    1. April withdrawn (every partner's files of the month removed from the landing folder);
    2. April delivered again, with one extra eastbrook contact sharing a phone with one stored
       January customer and an email with another: the two customers merge (the later one
       takes the earlier one's id and records its previous id);
    3. April's original CRM file again (the bridging contact withdrawn): the customers split,
       and the warehouse equals the session's build from scratch of the same files.
    """
    data = _copy_warehouse(built_warehouse, tmp_path)
    env = hub_env(data)
    landing, held = data / "landing", tmp_path / "held"
    with_phone, with_email = _two_separate_customers(data)
    before = _customers(data)
    first, second = before[f"eastbrook:{with_phone}"], before[f"eastbrook:{with_email}"]
    assert first != second
    last_month = [p for p in landing.rglob("*") if p.is_file() and LAST_MONTH.search(p.name)]
    assert len(last_month) > 10
    for path in last_month:
        target = held / path.relative_to(landing)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)

    # 1. withdrawn
    withdrawn = hub(env, "build")
    assert "withdrawn: the file is no longer in the landing folder" in withdrawn.stdout
    assert "dbt: incremental build: deliveries" in withdrawn.stdout, withdrawn.stdout
    # April's calls are gone, but for a few a March file holds (UTC times: local April 1st)
    assert _april_calls(data / "serving") < _april_calls(built_warehouse.serving_db.parent) / 100

    # 2. delivered again, with a contact that merges two stored customers
    shutil.copytree(held, landing, dirs_exist_ok=True)
    april = landing / "eastbrook" / "crm" / "eastbrook_crm_2024_04.csv"
    original_april = april.read_bytes()
    _rewrite(april, _bridging_contact(april, with_phone, with_email))
    added = hub(env, "build")
    assert f"deliveries {len(last_month)} new" in added.stdout, added.stdout
    merged = _customers(data)
    assert merged[f"eastbrook:{with_phone}"] == merged[f"eastbrook:{with_email}"]
    assert merged[f"eastbrook:{with_phone}"] in (first, second)
    later = second if merged[f"eastbrook:{with_phone}"] == first else first
    assert {c for c, customer in before.items() if customer == later} <= {
        c for c, customer in _relabelled(data).items() if customer == later}

    # 3. as delivered: the customers split, and everything is as built from scratch
    april.write_bytes(original_april)
    split = hub(env, "build")
    assert "deliveries 1 replaced" in split.stdout, split.stdout
    assert _customers(data) == before
    assert differences(_ops(data), marts_rows(built_warehouse.operations_db)) == []


def test_nothing_new_does_no_dbt_work_and_leaves_the_served_files(built_warehouse, tmp_path):
    data = _copy_warehouse(built_warehouse, tmp_path)
    served = [data / "serving" / "warehouse.duckdb", data / "serving" / "operations.duckdb"]
    before = [(p.stat().st_mtime_ns, p.stat().st_size) for p in served]
    result = hub(hub_env(data), "build")
    assert "dbt: nothing new since the last published build" in result.stdout
    assert "left untouched" in result.stdout
    assert [(p.stat().st_mtime_ns, p.stat().st_size) for p in served] == before


def _customers(data: Path) -> dict[str, str | None]:
    """contact_id -> customer_id of int_customers__resolved in the working file."""
    con = duckdb.connect(str(settings_of(data).work_db), read_only=True)
    try:
        return dict(con.execute("select contact_id, customer_id "
                                "from intermediate.int_customers__resolved").fetchall())
    finally:
        con.close()


def _relabelled(data: Path) -> dict[str, str]:
    """contact_id -> previous_customer_id of the contacts the last build moved to another
    customer."""
    con = duckdb.connect(str(settings_of(data).work_db), read_only=True)
    try:
        return dict(con.execute("""
            select contact_id, previous_customer_id
            from intermediate.int_customers__resolved
            where changed_build_id = (select build_id from build.plan)
                and previous_customer_id is not null
        """).fetchall())
    finally:
        con.close()


def _two_separate_customers(data: Path) -> tuple[str, str]:
    """Two eastbrook January enquiries (one with a phone, one with an email) of two customers
    that have no contact in eastbrook's April delivery."""
    con = duckdb.connect(str(settings_of(data).work_db), read_only=True)
    try:
        rows = con.execute("""
            select contacts.enquiry_id, contacts.phone_key, contacts.email_key,
                resolved.customer_id
            from intermediate.int_contacts__validated as contacts
            inner join intermediate.int_customers__resolved as resolved
                on contacts.contact_id = resolved.contact_id
            where contacts.partner_code = 'eastbrook' and contacts.delivery_key = '2024-01'
                and resolved.customer_id not in (
                    select april.customer_id
                    from intermediate.int_customers__resolved as april
                    inner join intermediate.int_contacts__validated as april_contacts
                        on april.contact_id = april_contacts.contact_id
                    where april_contacts.partner_code = 'eastbrook'
                        and april_contacts.delivery_key = '2024-04'
                        and april.customer_id is not null)
            order by contacts.enquiry_id
        """).fetchall()
    finally:
        con.close()
    with_phone = next(r for r in rows if r[1] is not None)
    with_email = next(r for r in rows if r[2] is not None and r[3] != with_phone[3])
    return with_phone[0], with_email[0]


def _bridging_contact(april: Path, with_phone: str, with_email: str):
    """A change for _rewrite: one more April contact with the phone of January enquiry
    `with_phone` and the email of January enquiry `with_email` (no name, postcode or UPRN)."""

    def change(header: list[str], rows: list[list[str]]) -> list[list[str]]:
        ref, phone, email, name, postcode, uprn = (header.index(c) for c in (
            "Case Ref", "Telephone", "Email", "Customer Name", "Postcode", "UPRN"))
        with (april.parent / "eastbrook_crm_2024_01.csv").open(encoding="utf-8") as fh:
            january = {row[ref]: row for row in csv.reader(fh, delimiter=";")}
        bridge = list(rows[0])
        bridge[ref] = "EB-CAS-9999999"
        bridge[name] = bridge[postcode] = bridge[uprn] = ""
        bridge[phone] = january[with_phone][phone]
        bridge[email] = january[with_email][email]
        return [*rows, bridge]

    return change
