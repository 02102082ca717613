"""The board packs on Superset's own server: `/hub-reports/` (read-only, GET only), registered
by superset/superset_config.py through Superset's BLUEPRINTS setting.

- `/hub-reports/` lists the months and the packs the signed-in user may read, newest first;
- `/hub-reports/<YYYY-MM>/<file>` sends one pack (HTML or PDF).

Who reads what: the Admin and HubBoard roles every pack; a `Partner_<code>` role only its own
partner's packs (`partner-<code>-YYYY-MM.*`), never the hub board's pack, which compares every
partner. Anyone not signed in is sent to the login page. Names are matched against the packs'
own patterns and files are served with `send_from_directory`, so nothing outside the reports
folder can be named. The folder is HUB_REPORTS_DIR (default data/reports, as `hub report`)."""

from __future__ import annotations

import html
import re
from pathlib import Path

from flask import Blueprint, abort, redirect, request, send_from_directory, url_for

from dagster_project.dashboards.security import BOARD_ROLE, PARTNER_ROLE_PREFIX
from dagster_project.settings import Settings

ROUTE = "/hub-reports"
MONTH = re.compile(r"^\d{4}-\d{2}$")
PACK = re.compile(r"^(hub-board|partner-(?P<partner>[a-z0-9_]+))-\d{4}-\d{2}\.(html|pdf)$")
READ_ALL_ROLES = {"Admin", BOARD_ROLE}

blueprint = Blueprint("hub_reports", __name__, url_prefix=ROUTE)


def reports_dir() -> Path:
    return Settings.from_env().reports_dir


def may_read(role_names: set[str], filename: str) -> bool:
    match = PACK.match(filename)
    if match is None:
        return False
    if role_names & READ_ALL_ROLES:
        return True
    partner = match.group("partner")
    return partner is not None and f"{PARTNER_ROLE_PREFIX}{partner}" in role_names


def _roles() -> set[str] | None:
    """The signed-in user's role names; None when nobody is signed in."""
    from flask_login import current_user

    if not current_user or not current_user.is_authenticated:
        return None
    return {role.name for role in current_user.roles}


@blueprint.get("/")
def index():
    roles = _roles()
    if roles is None:
        return redirect(url_for("AuthDBView.login", next=request.path))
    root = reports_dir()
    months = sorted((p for p in root.iterdir() if p.is_dir() and MONTH.match(p.name)),
                    reverse=True) if root.is_dir() else []
    items = []
    for folder in months:
        files = sorted(f.name for f in folder.iterdir()
                       if f.is_file() and may_read(roles, f.name))
        if files:
            links = " · ".join(f'<a href="{ROUTE}/{folder.name}/{html.escape(name)}">'
                               f"{html.escape(name)}</a>" for name in files)
            items.append(f"<li><strong>{folder.name}</strong>: {links}</li>")
    body = "<ul>" + "".join(items) + "</ul>" if items else "<p>No board pack yet.</p>"
    return (f"<!doctype html><html lang='en-GB'><head><meta charset='utf-8'><title>Board packs"
            f"</title></head><body><h1>Board packs</h1>{body}</body></html>")


@blueprint.get("/<month>/<filename>")
def pack(month: str, filename: str):
    roles = _roles()
    if roles is None:
        return redirect(url_for("AuthDBView.login", next=request.path))
    if not MONTH.match(month) or not may_read(roles, filename):
        abort(404)
    return send_from_directory(reports_dir() / month, filename, max_age=0)
