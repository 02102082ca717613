"""Secrets that are never constants: taken from the environment or generated once into files
under the Superset home, readable only by their owner (mode 0600)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from dagster_project.dashboards.settings import SupersetSettings


def _read_or_create(path: Path, nbytes: int) -> str:
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value


def _from_env_or_file(var: str, path: Path) -> str:
    value = os.environ.get(var)
    if value:
        return value
    return _read_or_create(path, 12)


def secret_key(ss: SupersetSettings) -> str:
    """Flask's SECRET_KEY (signs sessions, encrypts stored credentials):
    `HUB_SUPERSET_SECRET_KEY` (the production stack), else generated once into a 0600 file."""
    return os.environ.get("HUB_SUPERSET_SECRET_KEY") or _read_or_create(ss.secret_key_file, 42)


def admin_password(ss: SupersetSettings) -> str:
    """`HUB_SUPERSET_ADMIN_PASSWORD`, else a password generated once into a 0600 file."""
    return _from_env_or_file("HUB_SUPERSET_ADMIN_PASSWORD", ss.admin_password_file)


def demo_password(ss: SupersetSettings) -> str:
    """`HUB_DEMO_PASSWORD` for the demo users, else generated once into a 0600 file."""
    return _from_env_or_file("HUB_DEMO_PASSWORD", ss.demo_password_file)
