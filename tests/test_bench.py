"""`hub bench` keeps working: every stage is timed and the floor is compared with the marts.

Only the command's shape is checked here; the figures themselves are recorded in
docs/benchmarks.md (speed is measured in benchmarks, never asserted in tests).
"""

from __future__ import annotations

import re

from tests.conftest import hub, hub_env


def test_bench_times_every_stage_against_the_floor(tmp_path):
    result = hub(hub_env(tmp_path / "unused"), "bench", "--scale", "0.02", "--months", "2")
    out = result.stdout
    for stage in ("generate", "load telephony (raw)", "load crm (raw, pseudonymised)",
                  "transform (dbt build)", "publish",
                  "floor: one DuckDB statement"):
        assert re.search(rf"^\| {re.escape(stage)} \|\s+[\d.]+ \|\s+[\d,]+ \|\s+[\d,]+ \|$", out,
                         re.MULTILINE), f"missing stage {stage!r} in:\n{out}"
    gap = re.search(r"max gap offered (\d+) calls, TSF ([\d.]+) pts", out)
    assert gap, out
    assert float(gap.group(2)) < 1.0
