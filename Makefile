# Two commands a newcomer runs: `make demo` and `make test`. Both install what they need.
PY ?= python3
# `python3 -m uv` works wherever pip put uv, even when its bin dir is not on PATH.
UV := $(shell command -v uv 2>/dev/null || echo "$(PY) -m uv")
export UV_PYTHON_DOWNLOADS := never

.PHONY: help uv sync postgres faketime test test-full lint demo bench clean

help:
	@echo "make test   - install everything and run the whole test suite"
	@echo "make test-full - the suite, then every date-sensitive test on every awkward day"
	@echo "make demo   - start the emulator and run meltano tap-quickbooks -> DuckDB"
	@echo "make bench  - print throughput, call-count and memory figures"
	@echo "make lint   - ruff"

uv:
	@command -v uv >/dev/null 2>&1 || $(PY) -m uv --version >/dev/null 2>&1 || \
		$(PY) -m pip install --quiet --disable-pip-version-check uv

# Bytecode compiled once at install: each run of the tap (the tests start hundreds) then skips
# compiling its imports, even where PYTHONDONTWRITEBYTECODE is set.
sync: uv
	$(UV) sync --frozen --quiet --compile-bytecode
	$(UV) run --frozen python -m compileall -q tap_quickbooks qbo_emulator scripts tests

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

test: sync postgres faketime
	$(UV) run --frozen pytest
	$(UV) run --frozen python -m tests.any_day

# Every date-sensitive test on every day of tests/any_day.py, and a few more days.
test-full: sync postgres faketime
	$(UV) run --frozen pytest
	$(UV) run --frozen python -m tests.any_day --full

lint: sync
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .

demo: sync
	$(UV) run --frozen python -m scripts.demo

bench: sync
	$(UV) run --frozen python -m scripts.bench

clean:
	rm -rf .venv .venv-meltano .venv-singer-tools .meltano output .pytest_cache .ruff_cache
