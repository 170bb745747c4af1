# mlstack — the front door. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
UV_VERSION := 0.13.9
BIN := $(VENV)/bin
export AIRFLOW_HOME ?= $(CURDIR)/data/airflow
export AIRFLOW__CORE__DAGS_FOLDER ?= $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES ?= False
export AIRFLOW__CORE__UNIT_TEST_MODE ?= False

.PHONY: help venv demo demo-reset test test-unit test-integration lint fmt typecheck bench bench-demo lock new-usecase ui-vendor

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# The example plugin package goes in too: the tests use its plugins, as an installed package
EXAMPLE_PLUGIN := examples/plugins/mlstack-plugin-example

$(VENV)/.installed: $(BIN)/uv requirements.lock pyproject.toml $(EXAMPLE_PLUGIN)/pyproject.toml
	$(BIN)/uv pip sync --compile-bytecode --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python --no-deps -e . -e $(EXAMPLE_PLUGIN)
	touch $@

venv: $(VENV)/.installed ## create .venv from the lock file (reproducible)

lock: $(BIN)/uv ## re-resolve requirements.lock from pyproject.toml
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 \
	  --python-platform x86_64-unknown-linux-gnu --generate-hashes --no-header -o requirements.lock

demo: venv ## run the demo use case on embedded backends (no Docker)
	$(BIN)/mlstack demo $(ARGS)

demo-reset: venv ## forget the demo's data and start over
	$(BIN)/mlstack demo --reset-only

# `make test` runs on every core (pytest-xdist): a test file at a time per worker, so a file's
# module fixtures start once; files in collection order (integration's long ones before the
# many short unit files, which fill the end); TEST_WORKERS=0 runs it in this one process
TEST_WORKERS ?= auto
TESTS ?= tests
test: venv ## run the whole test suite (unit, DAG integrity, integration), on every core; TESTS=path for a part
	$(BIN)/pytest $(TESTS) --ignore=tests/e2e -n $(TEST_WORKERS) --dist loadfile \
	  --no-loadscope-reorder $(ARGS)

test-unit: venv ## unit and DAG tests only (fast)
	$(BIN)/pytest tests/unit tests/dags $(ARGS)

lint: venv ## ruff lint + format check, mypy on include/
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: venv ## format the code
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: venv ## run the benchmarks and rewrite their result tables
	$(BIN)/python bench/bench_ingest.py
	$(BIN)/python bench/bench_parse.py
	$(BIN)/python bench/bench_train.py
	$(BIN)/python bench/bench_monitor.py
	$(BIN)/python bench/bench_fsync.py
	$(BIN)/python bench/bench_gateway.py

bench-demo: venv ## time `mlstack demo` (wall + CPU) against the baseline 7835cca; ARGS for the script
	$(BIN)/python bench/bench_demo.py $(ARGS)

UI_VENDOR := include/mlstack/ui/static/vendor
ui-vendor: ## refresh the pages' charting library (uPlot, pinned in infra/ui/package-lock.json)
	npm ci --prefix infra/ui --no-audit --no-fund
	cp infra/ui/node_modules/uplot/dist/uPlot.iife.min.js infra/ui/node_modules/uplot/dist/uPlot.min.css $(UI_VENDOR)/
	cp infra/ui/node_modules/uplot/LICENSE $(UI_VENDOR)/uPlot.LICENSE

new-usecase: venv ## scaffold include/usecases/$(name) [from=FILE: schema inferred from a CSV/Parquet file]
	$(BIN)/mlstack usecases new $(name) $(if $(from),--from $(from))

# The compose stack (make up/down/status/logs/clean/e2e) lives in its own file.
-include infra/stack.mk
