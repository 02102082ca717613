# Hub Warehouse. Two commands on a fresh machine (Python 3.11 + make):
#   make demo   install, generate sample data if absent, build the warehouse, start the UIs
#   make test   install, lint (ruff, sqlfluff) and run the whole test suite
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

.PHONY: install demo build generate serve test lint pytest bench clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

install: $(VENV)/.installed

generate: install
	@if [ -d data/landing ] && [ -n "$$(ls -A data/landing 2>/dev/null)" ]; then \
		echo "data/landing already has files: not regenerating (make clean to start over)"; \
	else $(BIN)/hub generate; fi

build: generate
	$(BIN)/hub build

demo: build
	$(BIN)/hub serve

serve: install
	$(BIN)/hub serve

lint: install
	$(BIN)/ruff check .
	mkdir -p $(dir $(LINT_DB))
	HUB_WORK_DB=$(LINT_DB) $(BIN)/sqlfluff lint dbt/models dbt/tests dbt/macros

pytest: install
	$(BIN)/pytest

test: lint pytest

bench: install
	$(BIN)/hub bench --scale $(or $(SCALE),1)

clean:
	rm -rf data dbt/target dbt/logs
