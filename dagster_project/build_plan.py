"""Plan and record builds against the working warehouse file (plain Python, no Dagster):
opens the connection and calls `build_scope`, for the Dagster assets, `hub build` and the
benchmark."""

from __future__ import annotations

from dagster_project import duck
from dagster_project.build_scope import BuildPlan, current_plan, plan_build, record_built
from dagster_project.settings import Settings


def plan_for_dbt(settings: Settings, full_refresh: bool = False) -> BuildPlan:
    con = duck.connect_work(settings.work_db, data_dir=settings.data_dir)
    try:
        drop_marts_left_in_work_file(con)
        return plan_build(con, settings.home, full_refresh=full_refresh)
    finally:
        con.close()


def drop_marts_left_in_work_file(con) -> None:
    """The marts live in their own file (duck.marts_db_of); a `marts` schema an older version
    left in the working file would hide them from `marts.<table>`: drop it (the next build is
    a full one, as the dbt project changed with it)."""
    work = con.execute("select current_database()").fetchone()[0]
    if con.execute("select count(*) from duckdb_schemas() where database_name = ? "
                   "and schema_name = 'marts'", [work]).fetchone()[0]:
        con.execute(f"drop schema {work}.marts cascade")


def planned(settings: Settings) -> BuildPlan | None:
    """The plan of the latest build (None before any)."""
    if not settings.work_db.exists():
        return None
    con = duck.connect_work(settings.work_db, read_only=True, data_dir=settings.data_dir)
    try:
        return current_plan(con)
    finally:
        con.close()


def mark_published(settings: Settings) -> None:
    con = duck.connect_work(settings.work_db, data_dir=settings.data_dir)
    try:
        record_built(con, settings.home)
    finally:
        con.close()
