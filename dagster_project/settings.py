"""Paths and settings, read from the environment with defaults relative to the repository."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HUB_NAME = "Customer Service Hub"


@contextmanager
def environment_with(values: Mapping[str, str]) -> Iterator[None]:
    """os.environ with `values` inside the block, as it was (each variable set or unset)
    after it."""
    before = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _path(var: str, default: Path) -> Path:
    value = os.environ.get(var)
    return Path(value).expanduser().resolve() if value else default


@dataclass(frozen=True)
class Settings:
    """Where everything lives. Build one with `Settings.from_env()`."""

    home: Path
    data_dir: Path
    landing_dir: Path
    work_db: Path
    serving_db: Path
    operations_db: Path
    partners_dir: Path
    dagster_home: Path

    @property
    def marts_db(self) -> Path:
        """The file dbt builds the marts into, beside the working warehouse."""
        from dagster_project.duck import marts_db_of

        return marts_db_of(self.work_db)

    @property
    def reference_dir(self) -> Path:
        """The reference seeds (service lines, channels, ...) partner code targets must name."""
        return self.home / "seeds" / "reference"

    @property
    def dbt_project_dir(self) -> Path:
        return self.home / "dbt"

    @property
    def dbt_target_dir(self) -> Path:
        """dbt's target folder for builds of this data folder. One per data folder, kept between
        builds, so dbt re-parses only what changed (its partial parse file is only valid for
        the profile it was made with, and the profile names this data folder's warehouse)."""
        return self.data_dir / "tmp" / "dbt"

    @property
    def reports_dir(self) -> Path:
        """Where `hub report` and the `reports/board_pack` asset write the monthly board packs
        (`<reports_dir>/YYYY-MM/`): HUB_REPORTS_DIR, default data/reports."""
        return _path("HUB_REPORTS_DIR", self.data_dir / "reports")

    @property
    def hub_name(self) -> str:
        """The hub's name on the board packs: HUB_NAME."""
        return os.environ.get("HUB_NAME", "").strip() or DEFAULT_HUB_NAME

    @property
    def realdata_dir(self) -> Path:
        return self.partners_dir.parent / "realdata"

    @classmethod
    def from_env(cls) -> Settings:
        home = _path("HUB_HOME", REPO_ROOT)
        data_dir = _path("HUB_DATA_DIR", home / "data")
        return cls(
            home=home,
            data_dir=data_dir,
            landing_dir=_path("HUB_LANDING_DIR", data_dir / "landing"),
            work_db=_path("HUB_WORK_DB", data_dir / "work" / "warehouse.duckdb"),
            serving_db=_path("HUB_SERVING_DB", data_dir / "serving" / "warehouse.duckdb"),
            operations_db=_path("HUB_OPERATIONS_DB",
                                data_dir / "serving" / "operations.duckdb"),
            partners_dir=_path("HUB_PARTNERS_DIR", home / "seeds" / "partners"),
            dagster_home=_path("DAGSTER_HOME", data_dir / "dagster_home"),
        )

    def ensure_dirs(self) -> None:
        for path in (self.landing_dir, self.work_db.parent, self.serving_db.parent,
                     self.operations_db.parent,
                     self.dagster_home):
            path.mkdir(parents=True, exist_ok=True)
