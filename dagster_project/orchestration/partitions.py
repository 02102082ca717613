"""Partner × month partitions of the raw load assets."""

from __future__ import annotations

import datetime as dt
import os

import dagster as dg

from dagster_project.partners import load_partners
from dagster_project.settings import Settings

FIRST_MONTH = os.environ.get("HUB_FIRST_MONTH", "2021-01-01")


def partner_codes() -> list[str]:
    return list(load_partners(Settings.from_env().partners_dir))


partner_partitions = dg.StaticPartitionsDefinition(partner_codes())
month_partitions = dg.MonthlyPartitionsDefinition(start_date=FIRST_MONTH)
partner_month_partitions = dg.MultiPartitionsDefinition(
    {"partner": partner_partitions, "month": month_partitions})


def to_scope(keys: list[str]) -> set[tuple[str, dt.date]]:
    """Multi-partition keys → {(partner_code, first day of month)}."""
    scope = set()
    for key in keys:
        dims = partner_month_partitions.get_partition_key_from_str(key).keys_by_dimension
        scope.add((dims["partner"], dt.date.fromisoformat(dims["month"])))
    return scope


def partition_key(partner: str, month: dt.date) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"partner": partner, "month": month.isoformat()})
