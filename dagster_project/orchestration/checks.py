"""Asset checks: reconciliation, quarantine rate and delivery freshness."""

import datetime as dt
import os

import dagster as dg
import duckdb
from dagster_dbt import get_asset_key_for_model

from dagster_project.orchestration.dbt_assets import hub_dbt_models
from dagster_project.orchestration.resources import WarehouseResource
from dagster_project.quality import partners_missing_month, previous_month, reconcile_calls

FCT_CALLS = get_asset_key_for_model([hub_dbt_models], "fct_calls")
MAX_QUARANTINE_PCT = float(os.environ.get("HUB_MAX_QUARANTINE_PCT", "2.0"))


def _read_only(warehouse: WarehouseResource) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(warehouse.settings().work_db), read_only=True)


def _reconciliation(warehouse: WarehouseResource):
    con = _read_only(warehouse)
    try:
        return reconcile_calls(con)
    finally:
        con.close()


@dg.asset_check(asset=FCT_CALLS, blocking=True,
                description="Every raw call row is a fact, quarantined or excluded: none vanish "
                            "and none are double counted.")
def calls_reconcile(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    rows = _reconciliation(warehouse)
    unbalanced = [r for r in rows if not r.balanced]
    table = "\n".join(
        f"| {r.partner_code} | {r.raw_rows:,} | {r.fact_rows:,} | {r.quarantined_rows:,} | "
        f"{r.excluded_rows:,} |" for r in rows)
    return dg.AssetCheckResult(
        passed=not unbalanced,
        metadata={"partners": len(rows), "unbalanced": [r.partner_code for r in unbalanced],
                  "reconciliation": dg.MetadataValue.md(
                      "| partner | raw | facts | quarantined | excluded |\n|---|---|---|---|---|\n"
                      + table)})


@dg.asset_check(asset=FCT_CALLS,
                description=f"Share of raw call rows quarantined per partner stays at or below "
                            f"{MAX_QUARANTINE_PCT}% (HUB_MAX_QUARANTINE_PCT).")
def calls_quarantine_rate(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    rows = _reconciliation(warehouse)
    over = {r.partner_code: round(r.quarantine_pct, 3) for r in rows
            if r.quarantine_pct > MAX_QUARANTINE_PCT}
    return dg.AssetCheckResult(
        passed=not over, severity=dg.AssetCheckSeverity.WARN,
        metadata={"quarantine_pct": {r.partner_code: round(r.quarantine_pct, 3) for r in rows},
                  "over_threshold": over})


@dg.asset_check(asset=dg.AssetKey(["raw", "telephony_calls"]),
                description="Which partners (those expecting monthly deliveries) have not "
                            "delivered telephony data for last month.")
def telephony_freshness(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    month = previous_month(dt.date.today())
    con = _read_only(warehouse)
    try:
        codes = [c for c, p in warehouse.partners().items() if p.expects_deliveries]
        missing = partners_missing_month(con, codes, "telephony", month)
    finally:
        con.close()
    return dg.AssetCheckResult(
        passed=not missing, severity=dg.AssetCheckSeverity.WARN,
        metadata={"month": month.isoformat(), "not_delivered": missing,
                  "partners": len(codes)})
