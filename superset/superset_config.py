"""Superset configuration for Hub Warehouse (loaded through SUPERSET_CONFIG_PATH).

Everything comes from the environment, set by `hub serve` (dagster_project/dashboards) or by
docker-compose.yml (the production stack). Embedded default: HUB_SUPERSET_HOME holds the SQLite
metadata database and the secret key, generated once into a file there, readable only by its
owner; caches in memory. Production stack: HUB_SUPERSET_SECRET_KEY, HUB_SUPERSET_METADATA_URI
(PostgreSQL) and HUB_REDIS_URL (caches, query results, login rate limits) from the `.env` file.
Nothing secret is a constant here.
"""

import os
from pathlib import Path

_HOME = Path(os.environ.get("HUB_SUPERSET_HOME", "data/superset")).resolve()
_HOME.mkdir(parents=True, exist_ok=True)
_PRODUCTION = os.environ.get("HUB_MODE", "demo").strip().lower() == "production"

SECRET_KEY = os.environ.get("HUB_SUPERSET_SECRET_KEY") or Path(
    os.environ.get("HUB_SUPERSET_SECRET_KEY_FILE", _HOME / "secret_key")
).read_text(encoding="utf-8").strip()
SQLALCHEMY_DATABASE_URI = os.environ.get(
    "HUB_SUPERSET_METADATA_URI", f"sqlite:///{_HOME / 'superset.db'}?check_same_thread=false"
)

# No HTTPS redirect headers from Superset itself (locally there is no TLS; in production a
# TLS-terminating proxy is in front); CSRF stays on for forms.
TALISMAN_ENABLED = False
WTF_CSRF_ENABLED = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_HTTPONLY = True
if _PRODUCTION:
    # Session cookies only over HTTPS; the proxy's X-Forwarded-Proto/-For are trusted (the
    # server is published on 127.0.0.1 only, behind that proxy).
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    ENABLE_PROXY_FIX = True
    PREFERRED_URL_SCHEME = "https"

# Dashboards are granted to roles (HubBoard, Partner_<code>) rather than to whoever can read
# the datasets; native filters drive the month / partner selectors.
FEATURE_FLAGS = {
    "DASHBOARD_RBAC": True,
    "ENABLE_TEMPLATE_PROCESSING": False,
    "ALERT_REPORTS": False,
}

# A rebuild publishes a new warehouse file: chart results must not be served from a stale cache,
# so chart data is never cached (in production either: a cache keyed by the query alone would
# answer from the previous warehouse).
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
_REDIS_URL = os.environ.get("HUB_REDIS_URL")


def _cache(prefix: str, timeout: int) -> dict:
    """In Redis when HUB_REDIS_URL is set (shared by every worker), else in the process."""
    if not _REDIS_URL:
        return {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": timeout}
    return {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": _REDIS_URL,
            "CACHE_KEY_PREFIX": f"superset_{prefix}_", "CACHE_DEFAULT_TIMEOUT": timeout}


CACHE_CONFIG = _cache("metadata", 300)
FILTER_STATE_CACHE_CONFIG = _cache("filter_state", 86400)
EXPLORE_FORM_DATA_CACHE_CONFIG = _cache("explore_form_data", 86400)
if _REDIS_URL:
    import redis as _redis
    from cachelib.redis import RedisCache as _RedisCache

    # SQL Lab's stored results are keyed by query: a republished warehouse never reuses them.
    RESULTS_BACKEND = _RedisCache(host=_redis.Redis.from_url(_REDIS_URL),
                                  key_prefix="superset_results_", default_timeout=86400)
    # Logins limited per client (Superset's AUTH_RATE_LIMIT), counted in Redis for all workers.
    RATELIMIT_ENABLED = _PRODUCTION
    RATELIMIT_STORAGE_URI = _REDIS_URL

# Chart and SQL Lab queries on the served file share one DuckDB database per worker (a cursor
# each), opened again when a publication replaces the file; any other database keeps Superset's
# own connections (dagster_project/dashboards/served_connections.py).
from dagster_project.dashboards.served_connections import (  # noqa: E402
    mutator,
    remember_default_schemas,
    remember_reserved_words,
)

DB_CONNECTION_MUTATOR = mutator
remember_reserved_words()
remember_default_schemas()

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

# Superset's action log (its `logs` table), the same rows written once per request rather than
# at every event (dagster_project/dashboards/action_log.py).
from dagster_project.dashboards import action_log as _action_log  # noqa: E402

EVENT_LOGGER = _action_log.RequestActionLog()
FLASK_APP_MUTATOR = _action_log.register
