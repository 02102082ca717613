"""What the provisioned dashboards are and which marts they read, from `superset/assets/`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class DashboardInfo:
    slug: str
    title: str
    description: str
    tables: tuple[str, ...]


# libyaml's safe loader when PyYAML has it: the same documents, read about 10 times faster
# (every `hub` command that loads the Dagster definitions reads these 51 files: 2 CPU-seconds
# with the pure-Python loader)
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load(folder: Path) -> list[dict]:
    return [yaml.load(p.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
            for p in sorted(folder.rglob("*.yaml"))]


def dashboards(assets_dir: Path) -> list[DashboardInfo]:
    """Every dashboard file, with the `schema.table` of each dataset its charts read."""
    tables = {str(d["uuid"]): f"{d['schema']}.{d['table_name']}"
              for d in _load(assets_dir / "datasets")}
    chart_tables = {str(c["uuid"]): tables[str(c["dataset_uuid"])]
                    for c in _load(assets_dir / "charts")}
    found = []
    for dashboard in _load(assets_dir / "dashboards"):
        used = {chart_tables[str(node["meta"]["uuid"])]
                for node in dashboard["position"].values()
                if isinstance(node, dict) and node.get("type") == "CHART"}
        found.append(DashboardInfo(dashboard["slug"], dashboard["dashboard_title"],
                                   dashboard.get("description") or "", tuple(sorted(used))))
    return found
