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
import time
from pathlib import Path
from typing import Any

import yaml

from dagster_project.dashboards import security
from dagster_project.dashboards.bundle import build_bundle
from dagster_project.partners import load_partners

RLS_PREFIX = "hub: "
# Asset folders of the bundle and the Superset models they import into (deleted in this
# order: dashboards before charts before datasets).
ASSET_MODELS = {
    "dashboards": "superset.models.dashboard.Dashboard",
    "charts": "superset.models.slice.Slice",
    "datasets": "superset.connectors.sqla.models.SqlaTable",
}


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
    from superset import db, security_manager
    from superset.connectors.sqla.models import RowLevelSecurityFilter
    from superset.utils.core import RowLevelSecurityFilterType

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


def _apply_dashboard_roles(specs: list[security.RoleSpec], uuids: set[str]) -> None:
    """Grant the provisioned dashboards to roles; dashboards made in the UI are left alone."""
    from superset import db, security_manager
    from superset.models.dashboard import Dashboard

    for dashboard in db.session.query(Dashboard).all():
        if str(dashboard.uuid) not in uuids:
            continue
        dashboard.roles = [security_manager.find_role(spec.name) for spec in specs
                           if dashboard.slug in spec.dashboards]
    db.session.flush()


def _bundle_uuids(contents: dict[str, str]) -> dict[str, list[str]]:
    uuids: dict[str, list[str]] = {kind: [] for kind in ASSET_MODELS}
    for relative, text in contents.items():
        kind = relative.split("/", 1)[0]
        if kind in uuids:
            uuids[kind].append(str(yaml.safe_load(text)["uuid"]))
    return uuids


def _remove_stale_assets(state_file: Path, current: dict[str, list[str]]) -> int:
    """Delete what an earlier provisioning imported and the files no longer hold.

    Import never deletes; assets made by users in the UI are never in the state file.
    """
    from superset import db

    previous = json.loads(state_file.read_text()) if state_file.exists() else {}
    removed = 0
    for kind, model_path in ASSET_MODELS.items():
        gone = set(previous.get(kind, [])) - set(current[kind])
        if not gone:
            continue
        module_name, class_name = model_path.rsplit(".", 1)
        model = getattr(importlib.import_module(module_name), class_name)
        for obj in db.session.query(model).all():
            if str(obj.uuid) in gone:
                db.session.delete(obj)
                removed += 1
    db.session.flush()
    return removed


def _retire_roles(specs: list[security.RoleSpec]) -> None:
    """Partner roles of partners no longer configured lose everything (their filter too)."""
    from superset import db, security_manager

    wanted = {spec.name for spec in specs}
    for role in security_manager.get_all_roles():
        if role.name.startswith(security.PARTNER_ROLE_PREFIX) and role.name not in wanted:
            for user in list(role.user):
                user.roles = [r for r in user.roles if r.name != role.name]
                user.active = bool(user.roles)
            db.session.delete(role)
    db.session.flush()


def _deactivate_demo_users(usernames: list[str]) -> int:
    """Production mode: demo users (known, shared password) must not be able to log in."""
    from superset import security_manager

    count = 0
    for username in usernames:
        user = security_manager.find_user(username=username)
        if user is not None and user.active:
            user.active = False
            count += 1
    return count


def provision(demo: bool) -> None:
    from superset.app import create_app

    home = Path(os.environ["HUB_SUPERSET_HOME"])
    repo = Path(os.environ["HUB_HOME"])
    app = create_app()
    with app.app_context():
        from superset import db
        from superset.connectors.sqla.models import SqlaTable

        _migrate_and_init(home / "bootstrap.json")
        started = time.monotonic()
        admin = _ensure_user("admin", ["Admin"], "Hub", "Admin",
                             os.environ["HUB_SUPERSET_ADMIN_PASSWORD"])
        serving_db = Path(os.environ["HUB_SERVING_DB"])
        contents: dict[str, str] = {}
        uuids: dict[str, list[str]] | None = None
        removed = 0
        if serving_db.exists():
            contents = build_bundle(repo / "superset" / "assets",
                                    repo / "dbt" / "target" / "manifest.json", serving_db)
            _import_assets(admin, contents)
            uuids = _bundle_uuids(contents)
            removed = _remove_stale_assets(home / "provisioned.json", uuids)
        else:  # production stack before its first build: metadata, roles and admin only
            _log(f"no serving warehouse at {serving_db} yet: dashboards, datasets and row-level "
                 "security are provisioned by the next run after the first build")
        partners = load_partners(Path(os.environ["HUB_PARTNERS_DIR"]))
        specs = security.role_specs(list(partners))
        _retire_roles(specs)
        tables = db.session.query(SqlaTable).all()
        _apply_roles(specs, tables)
        filtered = _apply_rls(specs, tables)
        if uuids is not None:
            _apply_dashboard_roles(specs, set(uuids["dashboards"]))
        users = security.demo_users(list(partners))
        if demo:
            password = os.environ["HUB_DEMO_PASSWORD"]
            for user in users:
                _ensure_user(user.username, [user.role], user.first_name, user.last_name,
                             password)
            demo_note = f"{len(users)} demo users"
        else:
            demo_note = (f"production mode, {_deactivate_demo_users([u.username for u in users])}"
                         " demo users deactivated")
        db.session.commit()
        if uuids is not None:
            (home / "provisioned.json").write_text(json.dumps(uuids, indent=1))
        _log(f"{len(contents)} asset files ({removed} stale removed), {len(specs)} roles, "
             f"row-level security on {filtered} datasets, {demo_note} "
             f"({time.monotonic() - started:.0f}s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--demo", action="store_true", help="create the demo users")
    args = parser.parse_args(argv)
    provision(demo=args.demo)
    return 0


if __name__ == "__main__":
    from dagster_project.process_exit import run_and_end

    run_and_end(main)
