"""Jobs: the whole build (raw → dbt → serving) as one asset job."""

from __future__ import annotations

import dagster as dg

build_warehouse_job = dg.define_asset_job(
    "build_warehouse",
    selection=dg.AssetSelection.all(),
    description="Load partner configuration and landing files, dbt build, publish the serving "
                "file. Run over a partition range it loads all selected partner-months in one "
                "run.",
)
