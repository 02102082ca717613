"""Provision Superset inside its own app: migrations, roles, admin, assets, security, users.

Run as `python -m dagster_project.dashboards.provision` with the environment of
`SupersetSettings.process_env()` plus HUB_SUPERSET_ADMIN_PASSWORD (and HUB_DEMO_PASSWORD in demo
mode). Every step is idempotent: the first run bootstraps an empty metadata database, later
runs re-apply the provisioned assets, roles, row-level security and users.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from dagster_project.dashboards import security
from dagster_project.dashboards.bundle import build_bundle
from dagster_project.partners import load_partners

RLS_PREFIX = "hub: "


def _log(message: str) -> None:
    print(f"superset provision: {message}", flush=True)


def _migrate_and_init(state_file: Path) -> None:
    """Schema migrations and Superset's own roles, only when Superset's version changed."""
    from flask_migrate import upgrade

    from superset import appbuilder, security_manager

    version = importlib.metadata.version("apache-superset")
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    if state.get("superset_version") == version:
        return
    started = time.monotonic()
    upgrade()
    appbuilder.add_permissions(update_perms=True)
    security_manager.sync_role_definitions()
    state_file.write_text(json.dumps({"superset_version": version}))
    _log(f"metadata database migrated and initialised in {time.monotonic() - started:.0f}s")


def _ensure_user(username: str, role_names: list[str], first: str, last: str,
                 password: str) -> Any:
    from superset import security_manager

    roles = [security_manager.find_role(name) for name in role_names]
    user = security_manager.find_user(username=username)
    if user is None:
        user = security_manager.add_user(username, first, last, f"{username}@hub.invalid",
                                         roles, password)
        if not user:
            raise RuntimeError(f"could not create Superset user {username}")
    else:
        user.roles = roles
        user.active = True
        security_manager.reset_password(user.id, password)
    return user


def _import_assets(admin: Any, contents: dict[str, str]) -> None:
    from flask import g
    from superset.commands.importers.v1.assets import ImportAssetsCommand

    g.user = admin
    ImportAssetsCommand(contents).run()


def _permission(name: str, view: str) -> Any:
    from superset import security_manager

    return security_manager.add_permission_view_menu(name, view)


def _apply_roles(specs: list[security.RoleSpec], tables: list[Any]) -> None:
    """Each role = Gamma's permissions + its data access (+ SQL Lab's for Explorer)."""
    from superset import db, security_manager

    gamma = list(security_manager.find_role("Gamma").permissions)
    sql_lab = list(security_manager.find_role("sql_lab").permissions)
    for spec in specs:
        role = security_manager.find_role(spec.name) or security_manager.add_role(spec.name)
        permissions = list(gamma)
        if spec.sql_lab:
            permissions += sql_lab
        for table in tables:
            if spec.all_datasets or table.schema in spec.schemas:
                permissions.append(_permission("datasource_access", table.perm))
        for schema in spec.schemas:
            perms = {t.schema_perm for t in tables if t.schema == schema}
            permissions += [_permission("schema_access", perm) for perm in perms]
        unique = {p.id: p for p in permissions if p is not None}
        role.permissions = list(unique.values())
    db.session.flush()


def _apply_rls(specs: list[security.RoleSpec], tables: list[Any]) -> int:
    from superset.connectors.sqla.models import RowLevelSecurityFilter
    from superset.utils.core import RowLevelSecurityFilterType

    from superset import db, security_manager

    partner_tables = [t for t in tables
                      if any(c.column_name == security.PARTNER_COLUMN for c in t.columns)]
    for old in db.session.query(RowLevelSecurityFilter).filter(
            RowLevelSecurityFilter.name.like(f"{RLS_PREFIX}%")):
        db.session.delete(old)
    db.session.flush()
    for spec in specs:
        if spec.partner_code is None:
            continue
        db.session.add(RowLevelSecurityFilter(
            name=f"{RLS_PREFIX}{spec.name}",
            description=f"Only rows of partner {spec.partner_code}",
            filter_type=RowLevelSecurityFilterType.REGULAR,
            tables=partner_tables,
            roles=[security_manager.find_role(spec.name)],
            clause=security.rls_clause(spec.partner_code),
        ))
    db.session.flush()
    return len(partner_tables)


def _apply_dashboard_roles(specs: list[security.RoleSpec]) -> None:
    from superset.models.dashboard import Dashboard

    from superset import db, security_manager

    for dashboard in db.session.query(Dashboard).all():
        dashboard.roles = [security_manager.find_role(spec.name) for spec in specs
                           if dashboard.slug in spec.dashboards]
    db.session.flush()


def provision(demo: bool) -> None:
    from superset.app import create_app

    home = Path(os.environ["HUB_SUPERSET_HOME"])
    repo = Path(os.environ["HUB_HOME"])
    app = create_app()
    with app.app_context():
        from superset.connectors.sqla.models import SqlaTable

        from superset import db

        _migrate_and_init(home / "bootstrap.json")
        started = time.monotonic()
        admin = _ensure_user("admin", ["Admin"], "Hub", "Admin",
                             os.environ["HUB_SUPERSET_ADMIN_PASSWORD"])
        contents = build_bundle(repo / "superset" / "assets",
                                repo / "dbt" / "target" / "manifest.json",
                                Path(os.environ["HUB_SERVING_DB"]))
        _import_assets(admin, contents)
        partners = load_partners(Path(os.environ["HUB_PARTNERS_DIR"]))
        specs = security.role_specs(list(partners))
        tables = db.session.query(SqlaTable).all()
        _apply_roles(specs, tables)
        filtered = _apply_rls(specs, tables)
        _apply_dashboard_roles(specs)
        if demo:
            password = os.environ["HUB_DEMO_PASSWORD"]
            for user in security.demo_users(list(partners)):
                _ensure_user(user.username, [user.role], user.first_name, user.last_name,
                             password)
        db.session.commit()
        _log(f"{len(contents)} asset files, {len(specs)} roles, row-level security on "
             f"{filtered} datasets, demo users {'on' if demo else 'off'} "
             f"({time.monotonic() - started:.0f}s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--demo", action="store_true", help="create the demo users")
    args = parser.parse_args(argv)
    provision(demo=args.demo)
    return 0


if __name__ == "__main__":
    sys.exit(main())
