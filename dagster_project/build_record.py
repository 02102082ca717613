"""Each build's summary as JSON beside the build logs: `<data>/logs/build-<time>-<run>.json`.

What it holds: the run (id, trigger, success, failures), the seconds of each stage (load, dbt,
checks, publish: from the run's step events), the dbt nodes the run ran with their longest
(`dbt_nodes`: where a build's dbt time went, without dbt's debug log), the build plan, the
published version, and per partner and source the files and rows read, loaded, rejected,
excluded and quarantined with the top reasons (the table `hub build` prints,
dagster_project/build_summary.py). Written by
the `serving/warehouse` asset when a run publishes (its materialization shows the same as
metadata) and by `hub build` when its run published nothing (nothing new, or it failed).
Counts and reasons only: never a row's values. No Dagster imports.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import duckdb

from dagster_project import duck
from dagster_project.build_summary import source_lines
from dagster_project.settings import Settings

STAGES = ("load", "dbt", "checks", "publish")

# the dbt step's node times, for the record of the same run (dbt's target folder)
NODE_SECONDS_FILE = "node_seconds.json"
LONGEST_NODES = 10


def stage_of(step_key: str) -> str:
    """The stage a step of the build job belongs to."""
    if step_key.startswith("raw"):
        return "load"
    if step_key.startswith("hub_dbt_models"):
        return "dbt"
    if step_key.startswith("serving"):
        return "publish"
    return "checks"


def stage_seconds(steps: list[tuple[str, str, float]]) -> dict[str, float]:
    """Seconds per stage from (step key, "start" | "end", timestamp) events of one run."""
    started: dict[str, float] = {}
    seconds = dict.fromkeys(STAGES, 0.0)
    for key, kind, when in sorted(steps, key=lambda s: s[2]):
        if kind == "start":
            started[key] = when
        elif key in started:
            seconds[stage_of(key)] += when - started.pop(key)
    return {stage: round(value, 2) for stage, value in seconds.items()}


def node_seconds(event: dict) -> tuple[str, float] | None:
    """("<resource type> <name>", seconds) of a dbt result event (a dict as dbt's JSON log
    writes it: `LogModelResult`, `LogTestResult`, ...); None for an event without both."""
    data = event.get("data") or {}
    node = data.get("node_info") or {}
    name, seconds = node.get("node_name"), data.get("execution_time")
    if not name or seconds is None:
        return None
    return f"{node.get('resource_type') or 'node'} {name}", round(float(seconds), 2)


def write_node_seconds(settings: Settings, run_id: str,
                       nodes: list[tuple[str, float]], parsed_ahead: bool = False) -> None:
    """Keep the dbt step's node times for the build record of the same run, and whether dbt
    ran on the parse its load started ahead (dagster_project/dbt_in_process.py)."""
    path = settings.dbt_target_dir / NODE_SECONDS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"run_id": run_id, "nodes": nodes,
                                "parsed_ahead": parsed_ahead}), encoding="utf-8")


def dbt_nodes(settings: Settings, run_id: str | None) -> dict | None:
    """How many dbt nodes the run ran, their summed seconds, the longest, and whether dbt ran
    on the parse started ahead of it (None when the run ran no dbt: nothing new, or it failed
    before dbt)."""
    path = settings.dbt_target_dir / NODE_SECONDS_FILE
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not run_id or kept.get("run_id") != run_id:
        return None
    nodes = [(str(name), float(seconds)) for name, seconds in kept.get("nodes", [])]
    longest = sorted(nodes, key=lambda n: (-n[1], n[0]))[:LONGEST_NODES]
    return {"count": len(nodes), "seconds": round(sum(s for _, s in nodes), 2),
            "longest": [{"node": name, "seconds": seconds} for name, seconds in longest],
            "parsed_ahead": bool(kept.get("parsed_ahead", False))}


def rows_by_source(settings: Settings) -> list[dict] | None:
    """The per partner and source figures of the working warehouse (None before any marts)."""
    if not settings.work_db.exists():
        return None
    try:
        con = duck.connect_work(settings.work_db, read_only=True, data_dir=settings.data_dir)
    except duckdb.Error:
        return None
    try:
        lines = source_lines(con)
    except duckdb.Error:
        return None
    finally:
        con.close()
    out = []
    for line in lines:
        row = {f.name: getattr(line, f.name) for f in dataclasses.fields(line)
               if f.name not in ("top_reasons", "vanishing")}
        row["quarantine_pct"] = round(line.quarantine_pct, 2)
        row["top_reasons"] = {reason: n for reason, n in line.top_reasons}
        row["vanishing_months"] = [v.month.isoformat() if v.month else None
                                   for v in line.vanishing]
        out.append(row)
    return out


def build_record(settings: Settings, *, run_id: str | None, trigger: str, success: bool,
                 seconds: dict[str, float], plan: str = "", published: str | None = None,
                 failures: list[str] | None = None) -> dict:
    rows = rows_by_source(settings)
    totals = None
    if rows is not None:
        totals = {key: sum(r[key] for r in rows) for key in (
            "files", "rows_read", "rows_loaded", "rows_rejected", "rows_excluded",
            "rows_quarantined")}
    return {
        "written_at": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "run_id": run_id, "trigger": trigger, "success": success,
        "failures": failures or [], "published_version": published, "plan": plan,
        "seconds": {**seconds, "total": round(sum(seconds.values()), 2)},
        "dbt_nodes": dbt_nodes(settings, run_id),
        "totals": totals, "sources": rows,
    }


def records_dir(data_dir: Path) -> Path:
    """Where a data folder's build records are (beside the build logs)."""
    return data_dir / "logs"


def write_record(settings: Settings, record: dict) -> Path:
    folder = records_dir(settings.data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    run = (record.get("run_id") or "norun")[:8]
    path = folder / f"build-{dt.datetime.now():%Y%m%d-%H%M%S}-{run}.json"
    path.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def record_written_since(data_dir: Path, start: float) -> dict | None:
    """The newest build record written in `data_dir` since `start` (a time.time()), read back;
    None when there is none (or it cannot be read)."""
    written = {p: p.stat().st_mtime for p in records_dir(data_dir).glob("build-*.json")}
    recent = [p for p, mtime in written.items() if mtime >= start]
    if not recent:
        return None
    try:
        return json.loads(max(recent, key=written.get).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
