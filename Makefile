# Two commands a newcomer runs: `make demo` and `make test`. Both install what they need.
PY ?= python3
# uv, in order: on PATH, importable by $(PY) (pip put it there), or our own copy in .venv-uv.
# The last is made with `python -m venv`, never `pip install` into the system Python: Debian's
# and Ubuntu's refuse that (PEP 668, "externally-managed-environment").
UV_VENV := .venv-uv
UV := $(or $(shell command -v uv 2>/dev/null),$(shell $(PY) -m uv --version >/dev/null 2>&1 && echo "$(PY) -m uv"),$(UV_VENV)/bin/uv)
export UV_PYTHON_DOWNLOADS := never

.PHONY: help uv sync postgres faketime test test-full lint demo query bench orchestrate clean

help:
	@echo "make test   - install everything and run the whole test suite"
	@echo "make test-full - the suite, then every date-sensitive test on every awkward day"
	@echo "make demo   - start the emulator and run meltano tap-quickbooks -> DuckDB"
	@echo "make query  - query the demo's DuckDB warehouse (SQL=\"select ...\"; default: revenue by month)"
	@echo "make bench  - print throughput, call-count, memory and Meltano catalog figures"
	@echo "make lint   - ruff and mypy"
	@echo "make orchestrate - Dagster's UI (port 3000) syncing 36 emulated companies"

uv:
	@if [ "$(UV)" = "$(UV_VENV)/bin/uv" ] && [ ! -x "$(UV_VENV)/bin/uv" ]; then \
		echo "Installing uv into $(UV_VENV) (a virtual environment of its own)"; \
		$(PY) -m venv $(UV_VENV) || { \
			echo "Could not make a virtual environment with $(PY) -m venv."; \
			echo "On Debian/Ubuntu: apt-get install python3-venv (or install uv: https://docs.astral.sh/uv/)."; \
			exit 1; }; \
		$(UV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv; \
	fi
	@$(UV) python find '>=3.11' >/dev/null 2>&1 || { \
		echo "tap-quickbooks needs Python 3.11 or newer, and none was found ($(PY) is $$($(PY) -V 2>&1))."; \
		echo "Install one (e.g. apt-get install python3.11, or uv python install 3.12) and rerun."; \
		exit 1; }

# Bytecode compiled once at install: each run of the tap (the tests start hundreds) then skips
# compiling its imports, even where PYTHONDONTWRITEBYTECODE is set.
sync: uv
	$(UV) sync --frozen --quiet --compile-bytecode
	$(UV) run --frozen python -m compileall -q tap_quickbooks packages scripts tests

# The pipeline tests start a private PostgreSQL server with Debian's initdb and pg_ctl.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		echo "Installing Debian's postgresql for the pipeline tests"; \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			$$sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null; \
	} || echo "Could not install postgresql: the PostgreSQL pipeline tests will be skipped"

# The date-sensitive tests run again as if today were each of several awkward days
# (tests/any_day.py): Debian's libfaketime shifts the clock of every process they start.
faketime:
	@ls /usr/lib/*/faketime/libfaketimeMT.so.1 >/dev/null 2>&1 || { \
		echo "Installing Debian's faketime for the any-day tests"; \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			$$sudo apt-get install -y -qq --no-install-recommends faketime >/dev/null; \
	} || echo "Could not install faketime: the any-day tests cannot run"

# -X faulthandler: a crash of the test process itself prints every thread's stack.
test: sync postgres faketime
	$(UV) run --frozen python -X faulthandler -m pytest -m "not full"
	$(UV) run --frozen python -m tests.any_day

# Every date-sensitive test on every day of tests/any_day.py, and a few more days.
test-full: sync postgres faketime
	$(UV) run --frozen python -X faulthandler -m pytest
	$(UV) run --frozen python -m tests.any_day --full

lint: sync
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy

demo: sync
	$(UV) run --frozen python -m scripts.demo

# The duckdb that wrote the warehouse (target-duckdb's environment) reads it: nothing to install.
DEMO_DUCKDB := .meltano/loaders/target-duckdb/venv/bin/python
query:
	@[ -x $(DEMO_DUCKDB) ] || { echo "Run make demo first: it installs target-duckdb and loads the warehouse."; exit 1; }
	@SQL='$(SQL)' $(DEMO_DUCKDB) scripts/query.py

bench: sync
	$(UV) run --frozen python -m scripts.bench
	$(UV) run --frozen python -m scripts.bench_backfill
	$(UV) run --frozen python -m scripts.bench_catalog
	$(UV) run --frozen python -m scripts.bench_webhooks
	$(UV) run --frozen python -m scripts.bench_scale

# Many companies on Dagster (quickbooks_orchestrator): the UI on the bundled emulator, offline.
orchestrate: sync
	$(UV) run --frozen python -m quickbooks_orchestrator.dev

clean:
	rm -rf .quickbooks_orchestrator .venv .venv-uv .venv-meltano .venv-singer-tools .meltano output .pytest_cache .ruff_cache .mypy_cache
