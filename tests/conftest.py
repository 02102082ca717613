"""Shared fixtures: an isolated data folder per test, and the repository's partner configs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dagster_project.partners import load_partners
from dagster_project.settings import REPO_ROOT, Settings

PARTNERS_DIR = REPO_ROOT / "seeds" / "partners"
REALDATA_DIR = REPO_ROOT / "seeds" / "realdata"


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    """Settings pointing at a fresh data folder under tmp_path (partners from the repo)."""
    data = tmp_path / "data"
    monkeypatch.setenv("HUB_DATA_DIR", str(data))
    for var in ("HUB_LANDING_DIR", "HUB_WORK_DB", "HUB_SERVING_DB", "DAGSTER_HOME"):
        monkeypatch.delenv(var, raising=False)
    s = Settings.from_env()
    s.ensure_dirs()
    return s


@pytest.fixture(scope="session")
def partners():
    return load_partners(PARTNERS_DIR, REPO_ROOT / "dbt")


def copy_realdata(landing: Path) -> None:
    shutil.copytree(REALDATA_DIR, landing, dirs_exist_ok=True)
