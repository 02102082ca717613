"""A re-delivered partner-month replaces its rows and gives what a build from scratch gives
(docs/architecture.md, "Incremental builds"). On a copy of the session warehouse, eastbrook's
March is delivered again with different rows (calls dropped, outcomes changed, a call moved
into April, a duplicated call id; contacts dropped and residents merged through a shared phone
number): the new rows replace the old ones (never old + new), the CRM marts equal an
independent recomputation from the landing files (tests/reference_crm.py), and every marts
table and contact's customer id equal `hub build --full-refresh` of the same folder.

A module of its own, so that xdist can run it beside tests/test_incremental.py.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

import tests.test_crm_kpis_recomputed as crm_recomputed
from tests.conftest import hub, hub_env
from tests.marts_compare import differences, marts_rows
from tests.test_incremental import _copy_warehouse, _customers, _ops, _rewrite


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


def _crm_rows(data: Path, partner: str) -> tuple[int, int]:
    """(raw rows, fct_contacts rows) of a partner in the published operations file."""
    con = duckdb.connect(str(data / "serving" / "operations.duckdb"), read_only=True)
    try:
        return con.execute(
            "select (select count(*) from raw.crm_contacts where partner_code = $1), "
            "(select count(*) from marts.fct_contacts where partner_code = $1)",
            [partner]).fetchone()
    finally:
        con.close()


def _check_against_recomputation(data: Path, partners_dir: Path) -> None:
    """The CRM marts of the published files equal an independent recomputation from the landing
    folder: row accounting, scorecard, contact monthly."""
    ref = crm_recomputed.compute(data / "landing", partners_dir)
    serving = data / "serving"
    with (duckdb.connect(str(serving / "warehouse.duckdb"), read_only=True) as marts,
          duckdb.connect(str(serving / "operations.duckdb"), read_only=True) as operations):
        crm_recomputed.test_crm_row_accounting(operations, marts, ref)
        crm_recomputed.test_crm_scorecard_rows_are_the_same(marts, ref)
        crm_recomputed.test_crm_scorecard_matches_recomputation(marts, ref)
        crm_recomputed.test_contact_monthly_matches_recomputation(marts, ref)


def test_a_redelivered_month_equals_a_build_from_scratch(built_warehouse, tmp_path):
    data = _copy_warehouse(built_warehouse, tmp_path)
    env = hub_env(data)
    landing = data / "landing"
    rows_before = _crm_rows(data, "eastbrook")
    _rewrite(landing / "eastbrook" / "telephony" / "EB_Telephony_202403.csv", _redeliver_calls)
    _rewrite(landing / "eastbrook" / "crm" / "eastbrook_crm_2024_03.csv", _redeliver_contacts)
    redelivered = hub(env, "build")
    assert "deliveries 2 replaced" in redelivered.stdout, redelivered.stdout
    rows_after = _crm_rows(data, "eastbrook")
    assert rows_after[0] < rows_before[0] and rows_after[1] < rows_before[1], (
        f"eastbrook rows {rows_before} -> {rows_after}")
    _check_against_recomputation(data, built_warehouse.partners_dir)
    incremental, incremental_customers = _ops(data), _customers(data)
    assert incremental != marts_rows(built_warehouse.operations_db)

    scratch = hub(env, "build", "--full-refresh")
    assert "dbt: full build (--full-refresh)" in scratch.stdout
    assert _customers(data) == incremental_customers
    assert differences(incremental, _ops(data)) == []
