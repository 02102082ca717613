"""Superset configuration for Hub Warehouse (loaded through SUPERSET_CONFIG_PATH).

Everything comes from the environment that `hub serve` (dagster_project/dashboards) sets:
HUB_SUPERSET_HOME holds the SQLite metadata database; the secret key is generated once into a
file there, readable only by its owner. Nothing secret is a constant here.
"""

import os
from pathlib import Path

_HOME = Path(os.environ.get("HUB_SUPERSET_HOME", "data/superset")).resolve()
_HOME.mkdir(parents=True, exist_ok=True)

SECRET_KEY = Path(os.environ.get("HUB_SUPERSET_SECRET_KEY_FILE", _HOME / "secret_key")).read_text(
    encoding="utf-8"
).strip()
SQLALCHEMY_DATABASE_URI = os.environ.get(
    "HUB_SUPERSET_METADATA_URI", f"sqlite:///{_HOME / 'superset.db'}?check_same_thread=false"
)

# Local, loopback-only server: no HTTPS redirect headers; CSRF stays on for forms.
TALISMAN_ENABLED = False
WTF_CSRF_ENABLED = True
SESSION_COOKIE_SAMESITE = "Lax"

# Dashboards are granted to roles (HubBoard, Partner_<code>) rather than to whoever can read
# the datasets; native filters drive the month / partner selectors.
FEATURE_FLAGS = {
    "DASHBOARD_RBAC": True,
    "ENABLE_TEMPLATE_PROCESSING": False,
    "ALERT_REPORTS": False,
}

# A rebuild publishes a new warehouse file: chart results must not be served from a stale cache.
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 300}
FILTER_STATE_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 86400}
EXPLORE_FORM_DATA_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 86400}

# No telemetry or outside requests from a machine that may not reach the internet.
SCARF_ANALYTICS = False
PREVENT_UNSAFE_DB_CONNECTIONS = True
SQLLAB_CTAS_NO_LIMIT = False
ROW_LIMIT = 50000
SQL_MAX_ROW = 100000

# The web UI embeds a telemetry pixel (apachesuperset.gateway.scarf.sh) that SCARF_ANALYTICS does
# not switch off in the prebuilt frontend: browsers may load images from this server only.
OVERRIDE_HTTP_HEADERS = {"Content-Security-Policy": "img-src 'self' data: blob:"}

# The month's board packs (`hub report`), read-only on this server's own route /hub-reports/
# (dagster_project/dashboards/reports_route.py): partner users see their own partner's packs.
from dagster_project.dashboards.reports_route import blueprint as _reports_blueprint  # noqa: E402

BLUEPRINTS = [_reports_blueprint]
