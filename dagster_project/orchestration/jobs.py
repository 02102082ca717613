"""Jobs: the whole build (raw → dbt → serving) as one asset job."""

from __future__ import annotations

import dagster as dg

# Every step writes or reads the same DuckDB working file, which one process at a time may open
# for writing: the steps run one after the other in the run's own process (as `hub build`'s
# execute_in_process does), never as parallel subprocesses (Dagster's default executor), where
# the telephony and CRM loads failed with DuckDB's lock error.
build_warehouse_job = dg.define_asset_job(
    "build_warehouse",
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("reports"),
    executor_def=dg.in_process_executor,
    description="Load partner configuration and landing files, dbt build, publish the serving "
                "file (the board packs follow, by their own sensor: orchestration/reports.py).",
)
