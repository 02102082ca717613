"""Issue 11's row-level rules, through real `hub build`s of two hand-made partners
(tests/ingest_rows_landing.py; docs/architecture.md, "Delivery rules"):

1. re-sent rows: January sent again in a second file (another name, so another delivery)
   are excluded as `already_delivered`, not quarantined; the one row of it with other values
   is a `duplicate_call_id` conflict, both sides shown in `quality.conflicting_calls` (the
   same for CRM enquiries, whose free text has its control characters replaced by spaces);
2. a wait of 10^9 s and a talk time over the partner's configured bound are quarantined as
   `implausible_duration` (a duration on the bound is valid);
10. a NUL inside a queue name quarantines the row as `control_character`: no such queue
    reaches `marts.dim_queue`;
11. a partner switching its date format sends a month of 100 % `bad_timestamp`: an ERROR line
    for the vanishing month, and `hub build --strict` fails (publishing nothing) even with the
    quarantine threshold out of the way.

The first build loads January and February of both partners (with tests/test_onboarding.py's
two partners: one build for both modules, tests/conftest.py `small_partners`); on a copy of it,
the second adds the re-sent file and the switched month (an incremental build); the strict
build redoes everything from scratch (`--full-refresh`), and its working file must hold the
same row statuses as the incremental one served.

The same sequence carries two end-to-end checks of other delivery rules, so that the suite
builds these small warehouses once: then a shrinking re-delivery (case 9) beside a file still
settling (case 6): `hub build --strict` fails on the held file, publishing nothing, and
`hub build --accept-shrink` applies it (`hub status` then lists the file still waiting);
and an e-mail address, a phone number and a postcode typed into an enquiry's free text
(case 8) never reach the served files (tests/test_privacy_free_text.py has the unit-level cases).
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections import Counter

import duckdb
import pytest

from tests.conftest import copy_data_dir, hub, hub_env
from tests.ingest_rows_landing import (
    CRM_HEADER,
    CRM_RESENT,
    NUL_QUEUE,
    RESENT,
    SETTLE,
    SWITCHED_FORMAT,
    calls,
    delivered,
    enquiries,
    write,
)
from tests.test_privacy_free_text import CLEAR, SCRUBBED
from tests.test_privacy_serving import scan_bytes, scan_patterns


@pytest.fixture(scope="module")
def built(small_partners, tmp_path_factory):
    """The sequence on a copy of the shared first build (tests/conftest.py, `small_partners`:
    these partners' January and February, with tests/test_onboarding.py's two partners)."""
    root = tmp_path_factory.mktemp("ingest_rows")
    data = copy_data_dir(small_partners.data, root / "data")
    landing = data / "landing"
    env = hub_env(data, HUB_PARTNERS_DIR=str(small_partners.partners), HUB_SETTLE_SECONDS=SETTLE)
    first = small_partners.build
    assert "ERROR" not in first.stderr, first.stderr
    resender, switcher = landing / "resender" / "telephony", landing / "switcher" / "telephony"
    crm = landing / "resender" / "crm"
    # January re-sent under another name; March in the partner's new date format
    delivered(resender / "calls_2024_01_resent.csv", RESENT)
    delivered(crm / "crm_2024_01_resent.csv", CRM_RESENT, CRM_HEADER)
    delivered(switcher / "switcher_2024_03.csv", calls("S3", 3, 30, SWITCHED_FORMAT))
    second = hub(env, "build")
    assert "incremental build" in second.stdout, second.stdout
    con = duckdb.connect(str(data / "serving" / "operations.duckdb"), read_only=True)
    # the from-scratch build under --strict: the vanishing month fails it
    served = data / "serving" / "warehouse.duckdb"
    before = served.stat().st_mtime_ns
    strict = hub(dict(env, HUB_MAX_QUARANTINE_PCT="50"),  # 33 %: under, only the month fails
                 "build", "--strict", "--full-refresh", check=False)
    strict_served_untouched = served.stat().st_mtime_ns == before
    from dagster_project import duck

    work = duck.connect_work(data / "work" / "warehouse.duckdb", read_only=True)
    try:
        scratch_statuses = _statuses(work)
    finally:
        work.close()
    # the switcher's February re-delivered with 10 of its 30 calls, and a CRM file still being
    # copied: `--strict` refuses the held file before anything else runs, publishing nothing
    delivered(switcher / "switcher_2024_02.csv", calls("S2", 2, 10))
    write(crm / "crm_2024_03.csv", enquiries("H", 3, 10), CRM_HEADER)
    held = hub(env, "build", "--strict", check=False)
    held_served_untouched = served.stat().st_mtime_ns == before
    # the held re-delivery applied on request; the CRM file is still settling
    accepted = hub(env, "build", "--accept-shrink")
    status = hub(env, "status").stdout
    # a copy: DuckDB would hand this process's open instance of the path (`con`) back
    after = shutil.copy(data / "serving" / "operations.duckdb", root / "after_accept.duckdb")
    yield {"con": con, "build": second, "env": env, "data": data, "strict": strict,
           "strict_served_untouched": strict_served_untouched,
           "scratch_statuses": scratch_statuses, "held": held,
           "held_served_untouched": held_served_untouched, "accepted": accepted,
           "status": status, "after_accept": after}
    con.close()


def _reasons(con, view: str, column: str, partner: str) -> Counter:
    return Counter(dict(con.execute(
        f"select {column}, count(*) from {view} where partner_code = ? group by 1",
        [partner]).fetchall()))


def _summary_line(proc, partner: str, source: str = "telephony") -> str:
    return next(line for line in proc.stdout.splitlines()
                if line.startswith(partner + " ") and line.split()[1] == source)


def test_resent_rows_are_excluded_as_already_delivered_not_quarantined(built):
    con = built["con"]
    assert _reasons(con, "quality.excluded_calls", "exclusion_reason", "resender") == \
        Counter(already_delivered=39)
    quarantined = _reasons(con, "quality.quarantine_calls", "quarantine_reason", "resender")
    assert quarantined["duplicate_call_id"] == 1
    # each excluded row names the January row that is kept
    pairs = con.execute("""
        select source_file, source_row_number, duplicate_of_call_row_id
        from quality.excluded_calls where partner_code = 'resender'""").fetchall()
    january = "resender/telephony/calls_2024_01.csv"
    assert len(pairs) == 39
    assert all(f == "resender/telephony/calls_2024_01_resent.csv"
               and kept == f"resender:{january}:{n}" for f, n, kept in pairs)
    kept = con.execute("select count(*) from marts.fct_calls where partner_code = 'resender' "
                       "and source_call_id like 'R%'").fetchone()[0]
    assert kept == 40
    # the conflict: both rows shown, the kept one and the quarantined one
    sides = con.execute("""
        select conflict_role, source_file, source_row_number, talk_text, record_status
        from quality.conflicting_calls where partner_code = 'resender'
        order by conflict_role""").fetchall()
    assert sides == [
        ("kept", "resender/telephony/calls_2024_01.csv", 3, "102", "valid"),
        ("quarantined", "resender/telephony/calls_2024_01_resent.csv", 3, "999", "quarantined")]
    january = con.execute("""
        select files, rows_read, rows_valid, rows_excluded, rows_quarantined, is_vanishing
        from marts.kpi_deliveries
        where partner_code = 'resender' and source = 'telephony'
          and month = date '2024-01-01'""").fetchone()
    assert january == (2, 80, 40, 39, 1, False)
    offered = con.execute("""
        select offered from marts.kpi_telephony_monthly
        where partner_code = 'resender' and month = date '2024-01-01'""").fetchone()[0]
    assert offered == 40  # counted once
    # the summary: 39 excluded, 4 quarantined of 280 (1.4 %, under the threshold)
    line = _summary_line(built["build"], "resender")
    assert line.split()[:8] == ["resender", "telephony", "3", "280", "280", "0", "39", "4"]
    assert "ERROR resender" not in built["build"].stderr


def test_resent_enquiries_are_excluded_and_control_characters_handled(built):
    con = built["con"]
    assert _reasons(con, "quality.excluded_contacts", "exclusion_reason", "resender") == \
        Counter(already_delivered=19)
    assert _reasons(con, "quality.quarantine_contacts", "quarantine_reason", "resender") == \
        Counter(duplicate_enquiry_id=1, control_character=1)
    sides = con.execute("""
        select conflict_role, enquiry_id, source_file, source_row_number
        from quality.conflicting_contacts where partner_code = 'resender'
        order by conflict_role""").fetchall()
    assert sides == [("kept", "E003", "resender/crm/crm_2024_01.csv", 3),
                     ("quarantined", "E003", "resender/crm/crm_2024_01_resent.csv", 3)]
    assert con.execute("select count(*) from marts.fct_contacts where partner_code = "
                       "'resender'").fetchone()[0] == 20 + 99
    # free text: the control characters became one space; a coded field's NUL quarantines
    assert con.execute("select enquiry_type from marts.fct_contacts where partner_code = "
                       "'resender' and enquiry_id = 'G005'").fetchone() == ("Bins missed",)
    assert con.execute("select enquiry_id_text from quality.quarantine_contacts where "
                       "quarantine_reason = 'control_character'").fetchall() == [("G006",)]
    # personal fields never reach the quality views
    columns = {r[0] for r in con.execute(
        "select column_name from information_schema.columns "
        "where table_schema = 'quality' and table_name = 'conflicting_contacts'").fetchall()}
    assert columns and not columns & {"customer_name_key", "phone_key", "email_key",
                                      "postcode_key", "uprn_key", "name_postcode_key"}


def test_implausible_durations_are_quarantined_with_a_configurable_bound(built):
    con = built["con"]
    rows = con.execute("""
        select call_id_text, wait_text, talk_text from quality.quarantine_calls
        where partner_code = 'resender' and quarantine_reason = 'implausible_duration'
        order by 1""").fetchall()
    assert rows == [("F010", "1000000000", "109"), ("F011", "20", "7201")]
    on_bound = con.execute("select talk_seconds from marts.fct_calls "
                           "where partner_code = 'resender' and source_call_id = 'F013'"
                           ).fetchone()
    assert on_bound == (7200,)
    asa = con.execute("""
        select asa_seconds, answered from marts.kpi_telephony_monthly
        where partner_code = 'resender' and month = date '2024-02-01'""").fetchone()
    assert asa[1] == 197 and 10 <= asa[0] <= 40  # the billion seconds are not in the ASA
    assert "implausible_duration 2" in _summary_line(built["build"], "resender")


def test_a_nul_in_a_queue_name_is_quarantined_and_never_a_queue(built):
    con = built["con"]
    rows = con.execute("""
        select call_id_text, queue_name from quality.quarantine_calls
        where partner_code = 'resender' and quarantine_reason = 'control_character'""").fetchall()
    assert rows == [("F012", NUL_QUEUE)]
    queues = {r[0] for r in con.execute(
        "select queue_name from marts.dim_queue where partner_code = 'resender'").fetchall()}
    assert queues == {"Council Tax"}
    served = duckdb.connect(str(built["data"] / "serving" / "warehouse.duckdb"), read_only=True)
    try:
        assert served.execute("select count(*) from marts.dim_queue where queue_name like ?",
                              ["%\x00%"]).fetchone()[0] == 0
        assert served.execute("select count(*) from marts.fct_calls where partner_code = "
                              "'resender' and source_call_id = 'F012'").fetchone()[0] == 0
    finally:
        served.close()


VANISHING = ("ERROR switcher telephony 2024-03: a vanishing month: 0 valid of 30 rows read "
             "(0 a file), under half of 2024-02's 30 a file: top reasons bad_timestamp 30; "
             "see quality.quarantine_calls or `hub check switcher`")


def test_a_month_that_vanishes_is_an_error(built):
    con = built["con"]
    march = con.execute("""
        select rows_read, rows_valid, rows_quarantined, previous_month, is_vanishing
        from marts.kpi_deliveries
        where partner_code = 'switcher' and month = date '2024-03-01'""").fetchone()
    assert march == (30, 0, 30, dt.date(2024, 2, 1), True)
    assert _reasons(con, "quality.quarantine_calls", "quarantine_reason", "switcher") == \
        Counter(bad_timestamp=30)
    vanishing = con.execute("select partner_code, source, month from marts.kpi_deliveries "
                            "where is_vanishing").fetchall()
    assert vanishing == [("switcher", "telephony", dt.date(2024, 3, 1))]
    stderr = built["build"].stderr
    assert VANISHING in stderr.splitlines()
    assert "deliveries_vanishing_months" in stderr  # the check warns (not strict)
    # the message never quotes the file's content
    assert "/03/2024" not in stderr + built["build"].stdout


def _statuses(con) -> set[tuple]:
    return set(con.execute("""
        select call_row_id, 'quarantined', quarantine_reason from quality.quarantine_calls
        union all
        select call_row_id, 'excluded', exclusion_reason from quality.excluded_calls
        union all
        select call_id, 'valid', null from marts.fct_calls
        union all
        select contact_row_id, 'quarantined', quarantine_reason from quality.quarantine_contacts
        union all
        select contact_row_id, 'excluded', exclusion_reason from quality.excluded_contacts
        union all
        select contact_id, 'valid', null from marts.fct_contacts""").fetchall())


def test_strict_fails_on_a_vanishing_month_alone_and_incremental_equals_full(built):
    proc = built["strict"]
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert VANISHING in proc.stderr.splitlines()
    assert "deliveries_vanishing_months" in proc.stderr
    assert "calls_quarantine_rate" not in proc.stderr
    assert built["strict_served_untouched"]  # the last good warehouse keeps serving
    # the from-scratch build (left in the working file) agrees row for row with the served
    # incremental one
    assert "dbt: full build (--full-refresh)" in proc.stdout
    assert built["scratch_statuses"] == _statuses(built["con"])
    # every call and enquiry row: these partners', then the onboarding partners' in the same
    # warehouse (tests/onboarding_landing.py)
    assert len(built["scratch_statuses"]) == 370 + 140 + 520 + 600


HELD = ("switcher/telephony/switcher_2024_02.csv: held: 10 rows would replace a delivery of "
        "30 rows (fewer than half); the previous delivery is kept")
WAITING = "resender/crm/crm_2024_03.csv: waiting: modified"


def test_a_shrinking_redelivery_is_held_until_accepted_and_a_settling_file_waits(built):
    """Cases 6 and 9 through the CLI: `--strict` fails on the held file and publishes
    nothing; `--accept-shrink` applies it while the settling file keeps waiting."""
    held = built["held"]
    assert held.returncode == 1, held.stdout + held.stderr
    assert HELD in held.stderr, held.stderr
    assert WAITING in held.stdout, held.stdout
    assert built["held_served_untouched"]
    accepted = built["accepted"]
    assert "1 replaced" in accepted.stdout and "1 waiting" in accepted.stdout, accepted.stdout
    assert "hub build: published" in accepted.stdout
    con = duckdb.connect(str(built["after_accept"]), read_only=True)
    try:
        assert con.execute("""
            select rows_read from marts.kpi_deliveries
            where partner_code = 'switcher' and month = date '2024-02-01'""").fetchone() == (10,)
        assert con.execute("select count(*) from marts.fct_contacts where partner_code = "
                           "'resender' and enquiry_id like 'H%'").fetchone() == (0,)
    finally:
        con.close()
    # `hub status` reads the published files: the file left waiting, with its reason
    assert "The last load left waiting (not settled yet) 1 file(s):" in built["status"]
    assert WAITING in built["status"]


def test_free_text_personal_data_never_reaches_the_served_files(built):
    """Case 8 end to end: the loader's markers are what the marts serve; every published file
    and the working file hold no e-mail- or phone-shaped text and not the typed address."""
    con = built["con"]
    assert con.execute("select enquiry_type from marts.fct_contacts where partner_code = "
                       "'resender' and enquiry_id = 'E001'").fetchall() == [(SCRUBBED,)]
    # the January row and its re-sent copy (excluded as already delivered) were both scrubbed
    assert con.execute("select period_month, row_count from marts.kpi_data_quality "
                       "where partner_code = 'resender' and reason = 'free_text_scrubbed'"
                       ).fetchall() == [(dt.date(2024, 1, 1), 2)]
    data = built["data"]
    for path in (data / "serving" / "warehouse.duckdb", data / "serving" / "operations.duckdb",
                 data / "work" / "warehouse.duckdb"):
        assert scan_patterns(path) == [], path
        assert scan_bytes(path, set(CLEAR)) == [], path
