# Hub Warehouse. Two commands on a fresh machine (Python 3.11 + make):
#   make demo   install, generate sample data if absent, build the warehouse, start the UIs
#   make test   install, lint (ruff, sqlfluff) and run the whole test suite
# The browser tests, `make screenshots` and the board packs' PDF use Debian's Chromium; the
# board-pack tests read the PDF with poppler-utils (pdftotext, pdftoppm). `make browser` installs
# them with apt-get (as root, or through sudo) when missing.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)
export UV_PYTHON_DOWNLOADS := never
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
LINT_DB := $(CURDIR)/data/lint/lint.duckdb
CHROMIUM ?= $(or $(HUB_CHROMIUM),/usr/bin/chromium)
BROWSER_PACKAGES := chromium fonts-dejavu-core poppler-utils

.PHONY: install demo build generate serve test lint pytest browser servers test-production \
	screenshots bench clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# Bytecode is compiled at install: with PYTHONDONTWRITEBYTECODE set, every `hub` command would
# otherwise compile Dagster, dbt and Superset again (about 6 s per command on 2 cores), and the
# project's own modules (installed editable, so not compiled by uv: about 0.1 s per process).
# A module edited since is compiled again in memory, as without this.
$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	$(BIN)/python -m compileall -q dagster_project superset
	touch $@

install: $(VENV)/.installed

generate: install
	@if [ -d data/landing ] && [ -n "$$(ls -A data/landing 2>/dev/null)" ]; then \
		echo "data/landing already has files: not regenerating (make clean to start over)"; \
	else $(BIN)/hub generate; fi

# The sample files `hub generate` writes are whole (written, then renamed): no settle interval
# for them (HUB_SETTLE_SECONDS, docs/architecture.md "Delivery rules"), unless set.
# Then the latest complete month's board packs (data/reports/YYYY-MM/): PDF with Chromium, the
# HTML alone without it.
build: generate
	HUB_SETTLE_SECONDS=$${HUB_SETTLE_SECONDS:-0} $(BIN)/hub build
	@if [ -x "$(CHROMIUM)" ]; then $(BIN)/hub report; else \
		echo "no Chromium at $(CHROMIUM) (make browser): board packs as HTML only"; \
		$(BIN)/hub report --html-only; fi

demo: build
	$(BIN)/hub serve

serve: install
	$(BIN)/hub serve

# sqlfluff's dbt templater parses into its own target folder: in dbt/target its parse (made
# with the lint profile) would replace the one every build's target is seeded with
# (dagster_project/dbt_runner.py, seed_partial_parse). One process: each further one compiles
# the dbt project again (10-25 CPU-seconds more), and the lint runs beside the tests, which
# keep both cores busy (docs/benchmarks-journal.md).
# The lint's warehouse holds the build schema's empty tables (as before a first build), which
# templates read when they compile. sqlfluff only warns when dbt cannot compile a model or test
# and skips it: any skip of a file that is not a macro fails the lint (whatever sqlfluff gives as
# the reason), so no model or test goes unlinted. (Macro files are skipped by design: the dbt
# templater lints what the models and tests compile to.)
# The terminal leaves out nanobind's "leaked" report that DuckDB's Python binding prints when
# sqlfluff's process exits with its dbt connection open (harmless; kept in the log).
lint: install
	$(BIN)/ruff check .
	mkdir -p $(dir $(LINT_DB))
	$(BIN)/python -c "import sys, dagster_project.build_scope as b, duckdb; \
		b.ensure_build_schema(duckdb.connect(sys.argv[1]))" $(LINT_DB)
	@set -o pipefail; HUB_WORK_DB=$(LINT_DB) HUB_MARTS_DB=$(LINT_DB:.duckdb=.marts.duckdb) \
		DBT_TARGET_PATH=$(dir $(LINT_DB))dbt-target \
		$(BIN)/sqlfluff lint --processes 1 dbt/models dbt/tests dbt/macros 2>&1 \
		| tee $(dir $(LINT_DB))sqlfluff.log \
		| sed -e '/^nanobind: /d' -e '/^ - leaked /d' -e '/^ - \.\.\. skipped remainder/d' \
			-e '/nanobind\.readthedocs\.io/d'; status=$$?; \
	if grep "Skipped file" $(dir $(LINT_DB))sqlfluff.log | grep -qv "because it is a macro"; then \
		echo "make lint: sqlfluff skipped the file(s) above for another reason than being a" \
			"macro (dbt could not compile them?), so they were not linted" >&2; \
		exit 1; fi; \
	exit $$status

# Chromium for the browser tests and screenshots (never Playwright's own browser downloads).
browser:
	@if [ -x "$(CHROMIUM)" ] && command -v pdftotext >/dev/null; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
		echo "make browser: no $(CHROMIUM) and no apt-get: install Chromium and set HUB_CHROMIUM" \
			"to its path" >&2; exit 1; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; else \
		echo "make browser: Chromium or pdftotext is missing and installing them needs root; as root run:" \
			"apt-get update && apt-get install -y --no-install-recommends $(BROWSER_PACKAGES)" >&2; \
		exit 1; fi; \
	echo "make browser: installing $(BROWSER_PACKAGES) with apt-get"; \
	$$SUDO apt-get update -qq && \
	$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		$(BROWSER_PACKAGES) || { echo "make browser: apt-get could not install" \
		"$(BROWSER_PACKAGES); install them as root, or set HUB_CHROMIUM" >&2; exit 1; }; \
	[ -x "$(CHROMIUM)" ] || { echo "make browser: still no $(CHROMIUM) after apt-get" >&2; exit 1; }; \
	command -v pdftotext >/dev/null || { echo "make browser: still no pdftotext after apt-get" >&2; exit 1; }

# PostgreSQL and Redis for the production test (tests/test_production.py runs the services of
# docker-compose.yml from the virtual environment, no Docker): Debian's packages, installed with
# apt-get (as root, or through sudo) when missing. The test starts its own clusters on free
# loopback ports in a temporary folder; the packages' own services are not needed.
SERVER_PACKAGES := postgresql redis-server
servers:
	@if ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && command -v redis-server >/dev/null; \
		then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
		echo "make servers: PostgreSQL or Redis is missing and there is no apt-get: install" \
			"$(SERVER_PACKAGES) (the test looks in /usr/lib/postgresql/*/bin and PATH)" >&2; exit 1; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; else \
		echo "make servers: PostgreSQL or Redis is missing and installing them needs root; as root run:" \
			"apt-get update && apt-get install -y --no-install-recommends $(SERVER_PACKAGES)" >&2; \
		exit 1; fi; \
	echo "make servers: installing $(SERVER_PACKAGES) with apt-get"; \
	$$SUDO apt-get update -qq && \
	$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		$(SERVER_PACKAGES) || { echo "make servers: apt-get could not install" \
		"$(SERVER_PACKAGES); install them as root" >&2; exit 1; }; \
	ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { echo "make servers: still no pg_ctl" \
		"in /usr/lib/postgresql/*/bin after apt-get" >&2; exit 1; }; \
	command -v redis-server >/dev/null || { echo "make servers: still no redis-server after" \
		"apt-get" >&2; exit 1; }

# The production stack (docker-compose.yml) run without Docker; also part of `make pytest`.
test-production: install servers
	$(BIN)/pytest -p no:xdist tests/test_production.py

# Two pytest-xdist workers; tests/conftest.py groups the tests (one Superset server, one session
# warehouse for both). PYTEST_WORKERS=0 runs everything in one process.
# The tests' temporary folders (about 1.7 GB) go to tmpfs when /dev/shm has 8 GiB free, and are
# removed afterwards: about 5 % faster (docs/benchmarks-journal.md). TEST_TMPFS=0 keeps them on
# disk, under pytest's own temporary folder (kept for a look after a failure).
PYTEST_WORKERS ?= 2
TEST_TMPFS ?= 1
pytest: install browser servers
	@tmp=; if [ "$(TEST_TMPFS)" = 1 ] && [ -d /dev/shm ] && \
		[ "$$(df -Pk /dev/shm | awk 'NR == 2 {print $$4}')" -ge 8388608 ]; then \
		tmp=$$(mktemp -d /dev/shm/hub-tests.XXXXXX); \
		echo "make pytest: temporary folders in $$tmp (tmpfs; TEST_TMPFS=0 for the disk)"; fi; \
	trap '[ -z "$$tmp" ] || rm -rf "$$tmp"' EXIT; trap 'exit 130' INT TERM; \
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadscope --no-loadscope-reorder --durations=25 \
		$${tmp:+--basetemp "$$tmp/pytest"}

# The lint runs beside the tests (the suite leaves about a sixth of the two cores idle, waiting
# on servers and browsers); `make test` fails if either fails.
test: install browser servers
	@$(MAKE) --no-print-directory -j2 lint pytest

# docs/img/<slug>.png of every dashboard, from a private Superset over the serving warehouse.
screenshots: install browser
	$(BIN)/hub screenshots

bench: install
	$(BIN)/hub bench --scale $(or $(SCALE),1)

clean:
	rm -rf data dbt/target dbt/logs
