"""The Superset dashboards as external assets downstream of the served warehouse (lineage)."""

import dagster as dg

from dagster_project.dashboards.catalog import dashboards
from dagster_project.settings import REPO_ROOT


def dashboard_specs() -> list[dg.AssetSpec]:
    return [
        dg.AssetSpec(
            key=["superset", info.slug],
            deps=[dg.AssetKey(["serving", "warehouse"])],
            description=f"{info.title}: Superset dashboard provisioned from "
                        f"superset/assets (reads {', '.join(info.tables)})",
            group_name="dashboards",
            kinds={"superset"},
            metadata={"tables": list(info.tables), "slug": info.slug},
        )
        for info in dashboards(REPO_ROOT / "superset" / "assets")
    ]
