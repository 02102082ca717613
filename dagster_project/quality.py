"""Warehouse health figures used by the Dagster asset checks and `hub build`'s report."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb


@dataclass(frozen=True)
class Reconciliation:
    partner_code: str
    raw_rows: int
    fact_rows: int
    quarantined_rows: int
    excluded_rows: int

    @property
    def balanced(self) -> bool:
        return self.raw_rows == self.fact_rows + self.quarantined_rows + self.excluded_rows

    @property
    def quarantine_pct(self) -> float:
        return 100.0 * self.quarantined_rows / self.raw_rows if self.raw_rows else 0.0


def _reconcile(con: duckdb.DuckDBPyConnection, raw: str, facts: str, quarantined: str,
               excluded: str | None = None) -> list[Reconciliation]:
    """Per partner: rows of the `raw` table against rows of the other tables (schema.table
    names from the callers below, never user input)."""
    excluded_rows = (f"select partner_code, count(*) as n from {excluded} group by all"
                     if excluded else "select null as partner_code, 0 as n where false")
    rows = con.execute(f"""
        with raw_rows as (select partner_code, count(*) as n from {raw} group by all),
        facts as (select partner_code, count(*) as n from {facts} group by all),
        quarantined as (select partner_code, count(*) as n from {quarantined} group by all),
        excluded as ({excluded_rows})
        select r.partner_code, r.n, coalesce(f.n, 0), coalesce(q.n, 0), coalesce(e.n, 0)
        from raw_rows r
        left join facts f using (partner_code)
        left join quarantined q using (partner_code)
        left join excluded e using (partner_code)
        order by 1
    """).fetchall()
    return [Reconciliation(*r) for r in rows]


def reconcile_source(con: duckdb.DuckDBPyConnection, source: str) -> list[Reconciliation]:
    """Per partner: the source's raw rows against facts + quarantined + excluded (models of
    source_models.SOURCE_MODELS)."""
    from dagster_project.ingest.raw_tables import raw_table
    from dagster_project.source_models import SOURCE_MODELS

    models = SOURCE_MODELS[source]
    return _reconcile(con, raw_table(source), models.fact, models.quarantine, models.excluded)


def reconcile_calls(con: duckdb.DuckDBPyConnection) -> list[Reconciliation]:
    """Per partner: raw call rows against facts + quarantined + excluded."""
    return reconcile_source(con, "telephony")


def reconcile_contacts(con: duckdb.DuckDBPyConnection) -> list[Reconciliation]:
    """Per partner: raw CRM rows against facts + quarantined + excluded (values the partner
    maps to `excluded`)."""
    return reconcile_source(con, "crm")


def previous_month(today: dt.date) -> dt.date:
    first = today.replace(day=1)
    return (first - dt.timedelta(days=1)).replace(day=1)


def partners_missing_month(con: duckdb.DuckDBPyConnection, partner_codes: list[str],
                           source: str, month: dt.date) -> list[str]:
    """Partners with no loaded delivery (file or rows) for `month` of `source`.

    A file named with its period counts for that month. A file without one counts through its
    calls in marts.fct_calls, once dbt has built it (before, on a first load, only named
    periods count: the check does not report every partner missing for want of the mart).
    """
    has_facts = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'marts' and table_name = 'fct_calls'").fetchone()[0] > 0
    by_calls = ("or (period_month is null and partner_code in ("
                "  select partner_code from marts.fct_calls where call_month = $month))"
                if has_facts else "")
    delivered = {r[0] for r in con.execute(
        "select distinct partner_code from raw.load_files where source = $source and "
        f"(period_month = $month {by_calls})",
        {"source": source, "month": month}).fetchall()}
    return [p for p in partner_codes if p not in delivered]


def rejection_messages(con: duckdb.DuckDBPyConnection, load_id: str,
                       status: str = "rejected") -> list[str]:
    """The messages of the files one load gave `status` (rejected, withdrawn, waiting or held:
    build.MESSAGE_STATUSES), in file order."""
    return [r[0] for r in con.execute(
        "select message from raw.load_events where load_id = ? and status = ? "
        "order by source_file", [load_id, status]).fetchall()]
