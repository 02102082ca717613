"""Asset checks, per source (telephony calls, CRM contacts): reconciliation, quarantine rate
and delivery freshness; reconciliation and quarantine rate of the service-standard sources
(voicemail, reception, web) and the direct-dial extract; and vanishing months over all
(marts.kpi_deliveries). A source's reconciliation and quarantine rate are two checks evaluated
in one step, from one reconciliation query."""

import contextlib
import datetime as dt
import os
from collections.abc import Callable, Iterator

import dagster as dg
import duckdb
from dagster_dbt import get_asset_key_for_model

from dagster_project import duck
from dagster_project.build_summary import max_quarantine_pct, vanishing_months
from dagster_project.orchestration.dbt_assets import hub_dbt_models
from dagster_project.orchestration.resources import WarehouseResource
from dagster_project.partners import OTHER_SOURCES
from dagster_project.quality import (
    Reconciliation,
    partners_missing_month,
    previous_month,
    reconcile_calls,
    reconcile_contacts,
    reconcile_source,
)
from dagster_project.source_models import SOURCE_MODELS
from dagster_project.stop_request import signals_kept_through_queries

MAX_QUARANTINE_PCT = max_quarantine_pct()


@contextlib.contextmanager
def _reading(warehouse: WarehouseResource) -> Iterator[duckdb.DuckDBPyConnection]:
    """The working file, read-only, for a check's queries; a SIGTERM or Ctrl-C during one of
    them stops the run (stop_request.signals_kept_through_queries)."""
    con = duck.connect_work(warehouse.settings().work_db, read_only=True)
    try:
        with signals_kept_through_queries():
            yield con
    finally:
        con.close()


def _reconciliation(warehouse: WarehouseResource,
                    reconcile: Callable[[duckdb.DuckDBPyConnection], list[Reconciliation]]):
    with _reading(warehouse) as con:
        return reconcile(con)


def _reconcile_result(rows: list[Reconciliation], asset: dg.AssetKey,
                      name: str) -> dg.AssetCheckResult:
    unbalanced = [r for r in rows if not r.balanced]
    table = "\n".join(
        f"| {r.partner_code} | {r.raw_rows:,} | {r.fact_rows:,} | {r.quarantined_rows:,} | "
        f"{r.excluded_rows:,} |" for r in rows)
    return dg.AssetCheckResult(
        asset_key=asset, check_name=name, passed=not unbalanced,
        metadata={"partners": len(rows), "unbalanced": [r.partner_code for r in unbalanced],
                  "reconciliation": dg.MetadataValue.md(
                      "| partner | raw | facts | quarantined | excluded |\n|---|---|---|---|---|\n"
                      + table)})


def _quarantine_rate_result(rows: list[Reconciliation], asset: dg.AssetKey,
                            name: str) -> dg.AssetCheckResult:
    over = {r.partner_code: round(r.quarantine_pct, 3) for r in rows
            if r.quarantine_pct > MAX_QUARANTINE_PCT}
    # `hub build --strict`: a partner over the threshold blocks publication (an ERROR fails a
    # blocking check); otherwise a warning, and the build's summary names the partner
    return dg.AssetCheckResult(
        asset_key=asset, check_name=name, passed=not over, severity=_strict_severity(),
        metadata={"quarantine_pct": {r.partner_code: round(r.quarantine_pct, 3) for r in rows},
                  "over_threshold": over})


def _freshness_result(warehouse: WarehouseResource, source: str) -> dg.AssetCheckResult:
    month = previous_month(dt.date.today())
    codes = [c for c, p in warehouse.partners().items()
             if p.expects_deliveries and source in p.sources]
    with _reading(warehouse) as con:
        missing = partners_missing_month(con, codes, source, month)
    return dg.AssetCheckResult(
        passed=not missing, severity=dg.AssetCheckSeverity.WARN,
        metadata={"month": month.isoformat(), "not_delivered": missing,
                  "partners": len(codes)})


def _strict_severity() -> dg.AssetCheckSeverity:
    """`hub build --strict`: a failing blocking check blocks publication (ERROR); otherwise a
    warning, and the build's summary names the problem."""
    strict = bool(os.environ.get("HUB_STRICT_LOAD"))
    return dg.AssetCheckSeverity.ERROR if strict else dg.AssetCheckSeverity.WARN


FCT_CALLS = get_asset_key_for_model([hub_dbt_models], "fct_calls")
KPI_DELIVERIES = get_asset_key_for_model([hub_dbt_models], "kpi_deliveries")
FCT_CONTACTS = get_asset_key_for_model([hub_dbt_models], "fct_contacts")
QUARANTINE_RATE = (f"stays at or below {MAX_QUARANTINE_PCT}% per partner "
                   f"(HUB_MAX_QUARANTINE_PCT).")


@dg.asset_check(asset=dg.AssetKey(["raw", "telephony_calls"]),
                description="Which partners (those expecting monthly deliveries) have not "
                            "delivered telephony data for last month.")
def telephony_freshness(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    return _freshness_result(warehouse, "telephony")


@dg.asset_check(asset=dg.AssetKey(["raw", "crm_contacts"]),
                description="Which partners with a CRM source (and expecting monthly "
                            "deliveries) have not delivered CRM data for last month.")
def crm_freshness(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    return _freshness_result(warehouse, "crm")


@dg.asset_check(asset=KPI_DELIVERIES, blocking=True,
                description="No vanishing month: a partner-source-month whose valid rows per "
                            "file fall below half of the previous month's (e.g. a new date "
                            "format, every row bad_timestamp), or files none of whose rows has "
                            "a known month. Blocks publication under `hub build --strict`.")
def deliveries_vanishing_months(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with _reading(warehouse) as con:
        months = vanishing_months(con)
    return dg.AssetCheckResult(
        passed=not months, severity=_strict_severity(),
        metadata={"vanishing": [f"{m.partner_code} {m.source} "
                                f"{m.month:%Y-%m}" if m.month else
                                f"{m.partner_code} {m.source} (no known month)"
                                for m in months]})


def _reconciliation_checks(source: str, fact: dg.AssetKey, rows: str,
                           reconcile: Callable[[duckdb.DuckDBPyConnection],
                                               list[Reconciliation]]) -> dg.AssetChecksDefinition:
    """`<source>_reconcile` and `<source>_quarantine_rate` on the source's fact, both blocking,
    evaluated in one step from one reconciliation query (the same figures feed both)."""
    specs = [
        dg.AssetCheckSpec(f"{source}_reconcile", asset=fact, blocking=True,
                          description=f"Every raw {rows} row is a fact, quarantined or "
                                      "excluded: none vanish and none are double counted."),
        dg.AssetCheckSpec(f"{source}_quarantine_rate", asset=fact, blocking=True,
                          description=f"Share of raw {rows} rows quarantined "
                                      + QUARANTINE_RATE
                                      + " Blocks publication under `hub build --strict`."),
    ]

    @dg.multi_asset_check(specs=specs, name=f"{source}_reconciliation")
    def reconciliation(warehouse: WarehouseResource):
        reconciled = _reconciliation(warehouse, reconcile)
        yield _reconcile_result(reconciled, fact, specs[0].name)
        yield _quarantine_rate_result(reconciled, fact, specs[1].name)

    return reconciliation


def _service_standard_checks(source: str) -> dg.AssetChecksDefinition:
    """Reconciliation and quarantine rate of a service-standard source (docs/architecture.md,
    "Service-standard sources"), on its fact, as for calls and contacts."""
    models = SOURCE_MODELS[source]
    fact = get_asset_key_for_model([hub_dbt_models], models.fact.split(".")[1])

    def reconcile(con: duckdb.DuckDBPyConnection) -> list[Reconciliation]:
        return reconcile_source(con, source)

    return _reconciliation_checks(source, fact, source, reconcile)


ASSET_CHECKS = [_reconciliation_checks("calls", FCT_CALLS, "call", reconcile_calls),
                telephony_freshness,
                _reconciliation_checks("contacts", FCT_CONTACTS, "CRM", reconcile_contacts),
                crm_freshness, deliveries_vanishing_months,
                *(_service_standard_checks(source) for source in OTHER_SOURCES)]
