# syntax=docker/dockerfile:1
# The Hub Warehouse image of the production stack (docker-compose.yml, README "Production"):
# one image for the Dagster code server, webserver and daemon, Superset and its `init`.
# Build stage: the locked environment (uv.lock, no dev dependencies) and the parsed dbt project.
# Runtime stage: the same Python, the environment and the project, Chromium for the board packs'
# PDF; no compiler, no uv or pip; runs as the unprivileged user `hub`.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG UV_VERSION=0.13.8
ENV UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false
RUN pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"
WORKDIR /app
# Dependencies first (a layer that changes only with uv.lock), then the project itself.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project --python /usr/local/bin/python3.11
COPY . .
RUN uv sync --frozen --no-dev --no-editable --python /usr/local/bin/python3.11 \
 && rm -rf dbt/target dbt/logs data \
 && HUB_DATA_DIR=/tmp/hub-build .venv/bin/python -c \
    "from dagster_project.dbt_runner import ensure_manifest; \
from dagster_project.settings import Settings; ensure_manifest(Settings.from_env())" \
 && rm -rf /tmp/hub-build dbt/logs

FROM ${PYTHON_IMAGE} AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    chromium fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/* \
 && python -m pip uninstall --yes --quiet pip setuptools wheel || true
RUN groupadd --system --gid 10001 hub \
 && useradd --system --uid 10001 --gid hub --create-home --home-dir /home/hub hub \
 && mkdir -p /srv/hub/landing /srv/hub/data /srv/hub/reports /srv/hub/dagster /srv/hub/superset \
 && chown -R hub:hub /srv/hub
COPY --from=build /app /app
# dbt writes its partial-parse state beside the project: the only part of /app `hub` may write.
RUN chown -R hub:hub /app/dbt
ENV PATH=/app/.venv/bin:$PATH \
    HUB_HOME=/app \
    HUB_CHROMIUM=/usr/bin/chromium \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    PYTHONUNBUFFERED=1
USER hub
WORKDIR /app
# Volumes are named in docker-compose.yml; new ones start owned by `hub` (the folders above).
EXPOSE 3000 4000 8088
CMD ["hub", "--help"]
