"""Superset settings, read from the environment with defaults under the project's data folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dagster_project.settings import Settings

ADMIN_USER = "admin"


@dataclass(frozen=True)
class SupersetSettings:
    """Where Superset keeps its state and how it is reached. Build with `from_env(settings)`."""

    hub: Settings
    home: Path
    host: str
    port: int
    demo: bool

    @property
    def assets_dir(self) -> Path:
        """Dashboards as code: Superset's export format, under the repository's `superset/`."""
        return self.hub.home / "superset" / "assets"

    @property
    def config_file(self) -> Path:
        return self.hub.home / "superset" / "superset_config.py"

    @property
    def metadata_db(self) -> Path:
        return self.home / "superset.db"

    @property
    def secret_key_file(self) -> Path:
        return self.home / "secret_key"

    @property
    def admin_password_file(self) -> Path:
        return self.home / "admin_password"

    @property
    def demo_password_file(self) -> Path:
        return self.home / "demo_password"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.hub.data_dir / "logs" / "superset.log"

    @classmethod
    def from_env(cls, hub: Settings) -> SupersetSettings:
        home = os.environ.get("HUB_SUPERSET_HOME")
        return cls(
            hub=hub,
            home=Path(home).expanduser().resolve() if home else hub.data_dir / "superset",
            host=os.environ.get("HUB_BIND_HOST", "127.0.0.1"),
            port=int(os.environ.get("HUB_SUPERSET_PORT", "8088")),
            demo=os.environ.get("HUB_MODE", "demo").lower() != "production",
        )

    def process_env(self) -> dict[str, str]:
        """Environment for every Superset process (server and provisioning)."""
        return dict(
            os.environ,
            SUPERSET_CONFIG_PATH=str(self.config_file),
            HUB_SUPERSET_HOME=str(self.home),
            HUB_SUPERSET_SECRET_KEY_FILE=str(self.secret_key_file),
            HUB_SERVING_DB=str(self.hub.serving_db),
            HUB_PARTNERS_DIR=str(self.hub.partners_dir),
            HUB_REPORTS_DIR=str(self.hub.reports_dir),
            HUB_HOME=str(self.hub.home),
            FLASK_APP="superset.app:create_app()",
        )
