"""Plan and record builds against the working warehouse file (plain Python, no Dagster):
opens the connection and calls `build_scope`, for the Dagster assets, `hub build` and the
benchmark."""

from __future__ import annotations

from dagster_project import duck
from dagster_project.build_scope import BuildPlan, current_plan, plan_build, record_built
from dagster_project.settings import Settings


def plan_for_dbt(settings: Settings, full_refresh: bool = False) -> BuildPlan:
    con = duck.connect(settings.work_db, data_dir=settings.data_dir)
    try:
        return plan_build(con, settings.home, full_refresh=full_refresh)
    finally:
        con.close()


def planned(settings: Settings) -> BuildPlan | None:
    """The plan of the latest build (None before any)."""
    if not settings.work_db.exists():
        return None
    con = duck.connect(settings.work_db, read_only=True, data_dir=settings.data_dir)
    try:
        return current_plan(con)
    finally:
        con.close()


def mark_published(settings: Settings) -> None:
    con = duck.connect(settings.work_db, data_dir=settings.data_dir)
    try:
        record_built(con, settings.home)
    finally:
        con.close()
