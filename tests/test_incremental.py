"""Incremental builds give what a build from scratch gives, row for row (docs/architecture.md,
"Incremental builds"). One sequence on a copy of the session warehouse: a month withdrawn, then
delivered again with a contact that merges two stored customers; then one partner-month
re-delivered with different rows (calls dropped, outcomes changed, a call moved into the next
month, a duplicated call id; contacts dropped and residents merged through a shared phone
number; voicemails, reception tickets and web rows changed, dropped, moved and repeated), the
merging contact withdrawn (the customers split) and another partner's YAML changed (its name:
a model reading only configuration is rebuilt), checked against independent recomputations of
the CRM and service-standard figures and against `hub build --full-refresh`. Every table of
the marts schema is compared, lineage columns naming a load aside, and every contact's
customer id.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import shutil
from pathlib import Path

import duckdb

import tests.test_crm_kpis_recomputed as crm_recomputed
import tests.test_service_standards_recomputed as standards_recomputed
from dagster_project import duck
from tests.conftest import hub, hub_env, settings_of
from tests.marts_compare import differences, marts_rows
from tests.reference_service_standards import compute as compute_standards

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


def _redeliver_calls(header: list[str], rows: list[list[str]]) -> list[list[str]]:
    ref, start, result = (header.index(c) for c in ("Call Ref", "Call Start", "Result"))
    answered = [r for r in rows if r[result] == "A"]
    for r in answered[:25]:
        r[result] = "AB"  # answered calls now abandoned
    answered[30][start] = "01/04/2024 00:30:00"  # a call moved into April
    rows.append(list(answered[40]))
    rows[-1][ref] = rows[0][ref]  # a second row with an existing call id
    return [r for i, r in enumerate(rows) if i % 17 != 5]  # about 6 % of the calls dropped


def _redeliver_contacts(header: list[str], rows: list[list[str]]) -> list[list[str]]:
    phone = header.index("Telephone")
    with_phone = [r for r in rows if r[phone]]
    # two residents now share a phone number: their customers merge, across months
    for r in with_phone[1:4]:
        r[phone] = with_phone[0][phone]
    return [r for i, r in enumerate(rows) if i % 23 != 7]


def _redeliver_voicemails(header: list[str], rows: list[list[str]]) -> list[list[str]]:
    ref, left, back = (header.index(c) for c in ("Message Ref", "Received", "Call Back"))
    for r in rows[:5]:
        r[back] = ""  # never responded after all
    rows[6][left] = "01/04/2024 08:15:00"  # a message moved into April
    rows[6][back] = ""
    rows.append(list(rows[8]))
    rows[-1][ref] = rows[0][ref]  # a second row with an existing message id
    return [r for i, r in enumerate(rows) if i % 11 != 3]


def _redeliver_tickets(header: list[str], rows: list[list[str]]) -> list[list[str]]:
    called, finished = header.index("Called"), header.index("Finished")
    for r in rows[:20]:
        r[called] = ""  # walk-outs
        r[finished] = ""
    return [r for i, r in enumerate(rows) if i % 13 != 2]


def _redeliver_web(header: list[str], rows: list[list[str]]) -> list[list[str]]:
    visits = header.index("Visits")
    for r in rows[:30]:
        r[visits] = str(int(r[visits]) * 2) if r[visits].isdigit() else r[visits]
    return [r for i, r in enumerate(rows) if i % 7 != 1]


def _april_calls(serving: Path) -> int:
    con = duckdb.connect(str(serving / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute("select count(*) from marts.fct_calls "
                           "where call_month = date '2024-04-01'").fetchone()[0]
    finally:
        con.close()


def _eastbrook_weeks(data: Path) -> dict[dt.date, bool]:
    """Monday -> is_complete of eastbrook's weeks in the served kpi_telephony_weekly."""
    with duckdb.connect(str(data / "serving" / "warehouse.duckdb"), read_only=True) as con:
        return dict(con.execute("select week_start_date, is_complete "
                                "from marts.kpi_telephony_weekly "
                                "where partner_code = 'eastbrook'").fetchall())


def _ops(data: Path):
    return marts_rows(data / "serving" / "operations.duckdb")


def _crm_rows(data: Path, partner: str) -> tuple[int, int]:
    """(raw rows, fct_contacts rows) of a partner in the working file."""
    con = duck.connect_work(data / "work" / "warehouse.duckdb", read_only=True)
    try:
        return con.execute(
            "select (select count(*) from raw.crm_contacts where partner_code = $1), "
            "(select count(*) from marts.fct_contacts where partner_code = $1)",
            [partner]).fetchone()
    finally:
        con.close()


def _check_against_recomputation(data: Path, partners_dir: Path) -> None:
    """The CRM marts of the published files equal an independent recomputation from the landing
    folder (tests/reference_crm.py): row accounting, scorecard, contact monthly."""
    ref = crm_recomputed.compute(data / "landing", partners_dir)
    serving = data / "serving"
    with (duckdb.connect(str(serving / "warehouse.duckdb"), read_only=True) as marts,
          duckdb.connect(str(serving / "operations.duckdb"), read_only=True) as operations):
        crm_recomputed.test_crm_row_accounting(operations, marts, ref)
        crm_recomputed.test_crm_scorecard_rows_are_the_same(marts, ref)
        crm_recomputed.test_crm_scorecard_matches_recomputation(marts, ref)
        crm_recomputed.test_contact_monthly_matches_recomputation(marts, ref)
        standards = compute_standards(data / "landing", partners_dir)
        standards_recomputed.check_row_fates(standards, operations)
    standards_recomputed.check_kpis(standards, serving / "warehouse.duckdb")


def test_incremental_builds_equal_builds_from_scratch(built_warehouse, tmp_path):
    """One sequence of incremental builds on a copy of the session warehouse:

    1. April withdrawn (every partner's files of the month removed from the landing folder);
    2. April delivered again, with one extra eastbrook contact sharing a phone with one stored
       January customer and an email with another: the two customers merge (the later one
       takes the earlier one's id and records its previous id);
    3. eastbrook's March re-delivered with changes (calls dropped, outcomes changed, a call
       moved into April, a duplicated call id; contacts dropped and residents merged through a
       shared phone; voicemails unanswered, dropped, moved into April and a repeated id;
       reception walk-outs and dropped tickets; web visits changed and rows dropped) and
       April's original CRM file again (the bridging contact withdrawn: the
       two customers split), and westvale's YAML renamed: the re-delivered rows replace the old
       ones (never old + new), the new name is served and the CRM and service-standard marts
       equal independent recomputations;
    4. `hub build --full-refresh` of the same landing folder: every marts table (the weekly
       figures, the benchmarks and the service standards included) and every contact's
       customer id equal what the incremental builds left.

    Along the way, the ISO weeks touching April turn partial when it is withdrawn and complete
    again when it is delivered (a week touching a changed month is redone).
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
    # weeks reaching into April (no longer delivered) are partial, March's whole weeks complete
    weeks = _eastbrook_weeks(data)
    assert weeks[dt.date(2024, 3, 25)] is True
    assert not any(complete for monday, complete in weeks.items()
                   if monday >= dt.date(2024, 4, 1))

    # 2. delivered again, with a contact that merges two stored customers
    shutil.copytree(held, landing, dirs_exist_ok=True)
    april = landing / "eastbrook" / "crm" / "eastbrook_crm_2024_04.csv"
    original_april = april.read_bytes()
    bridge = _bridging_contact(april, with_phone, with_email)
    _rewrite(april, bridge)
    added = hub(env, "build")
    assert f"deliveries {len(last_month)} new" in added.stdout, added.stdout
    # the weeks touching April were redone: complete again, but for the one reaching into May
    weeks = _eastbrook_weeks(data)
    assert weeks[dt.date(2024, 4, 1)] is True and weeks[dt.date(2024, 4, 29)] is False
    merged = _customers(data)
    assert merged[f"eastbrook:{with_phone}"] == merged[f"eastbrook:{with_email}"]
    assert merged[f"eastbrook:{with_phone}"] in (first, second)
    later = second if merged[f"eastbrook:{with_phone}"] == first else first
    assert {c for c, customer in before.items() if customer == later} <= {
        c for c, customer in _relabelled(data).items() if customer == later}

    # 3. a re-delivered month and the bridging contact withdrawn (the customers split)
    rows_before = _crm_rows(data, "eastbrook")
    _rewrite(landing / "eastbrook" / "telephony" / "EB_Telephony_202403.csv", _redeliver_calls)
    _rewrite(landing / "eastbrook" / "crm" / "eastbrook_crm_2024_03.csv", _redeliver_contacts)
    for folder, name, change in (("voicemail", "EB_Voicemail_202403.csv", _redeliver_voicemails),
                                 ("reception", "EB_Reception_202403.csv", _redeliver_tickets),
                                 ("web", "EB_Web_202403.csv", _redeliver_web)):
        _rewrite(landing / "eastbrook" / folder / name, change)
    april.write_bytes(original_april)
    env = hub_env(data, HUB_PARTNERS_DIR=str(_renamed(built_warehouse.partners_dir, tmp_path)))
    redelivered = hub(env, "build")
    assert "deliveries 6 replaced" in redelivered.stdout, redelivered.stdout
    assert "configuration changed: westvale" in redelivered.stdout, redelivered.stdout
    assert _partner_names(data)["westvale"] == RENAMED
    rows_after = _crm_rows(data, "eastbrook")
    assert rows_after[0] < rows_before[0] and rows_after[1] < rows_before[1], (
        f"eastbrook rows {rows_before} -> {rows_after}")
    split = _customers(data)
    assert split[f"eastbrook:{with_phone}"] != split[f"eastbrook:{with_email}"]
    _check_against_recomputation(data, built_warehouse.partners_dir)
    incremental, incremental_customers = _ops(data), split
    assert incremental != marts_rows(built_warehouse.operations_db)

    # 4. from scratch
    scratch = hub(env, "build", "--full-refresh")
    assert "dbt: full build (--full-refresh)" in scratch.stdout
    assert _customers(data) == incremental_customers
    assert differences(incremental, _ops(data)) == []


RENAMED = "Westvale Borough Council (renamed)"


def _renamed(partners_dir: Path, tmp_path: Path) -> Path:
    """A copy of the partner folder with westvale's name changed (its configuration only)."""
    renamed = tmp_path / "partners"
    shutil.copytree(partners_dir, renamed)
    path = renamed / "westvale.yml"
    text = path.read_text(encoding="utf-8")
    assert text.count("name: Westvale Borough Council\n") == 1
    path.write_text(text.replace("name: Westvale Borough Council\n", f"name: {RENAMED}\n"),
                    encoding="utf-8")
    return renamed


def _partner_names(data: Path) -> dict[str, str]:
    with duckdb.connect(str(data / "serving" / "warehouse.duckdb"), read_only=True) as con:
        return dict(con.execute("select partner_code, partner_name from marts.dim_partner")
                    .fetchall())


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
