"""Jobs: the whole build (raw → dbt → serving) as one asset job."""

from __future__ import annotations

import dagster as dg

build_warehouse_job = dg.define_asset_job(
    "build_warehouse",
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("reports"),
    description="Load partner configuration and landing files, dbt build, publish the serving "
                "file (the board packs follow, by their own sensor: orchestration/reports.py).",
)
