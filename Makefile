# Two commands a newcomer runs: `make demo` and `make test`. Both install what they need.
PY ?= python3
# `python3 -m uv` works wherever pip put uv, even when its bin dir is not on PATH.
UV := $(shell command -v uv 2>/dev/null || echo "$(PY) -m uv")
export UV_PYTHON_DOWNLOADS := never

.PHONY: help uv sync test test-fast lint demo bench clean

help:
	@echo "make test   - install everything and run the whole test suite"
	@echo "make demo   - start the emulator and run meltano tap-quickbooks -> DuckDB"
	@echo "make bench  - print throughput, call-count and memory figures"
	@echo "make lint   - ruff"

uv:
	@command -v uv >/dev/null 2>&1 || $(PY) -m uv --version >/dev/null 2>&1 || \
		$(PY) -m pip install --quiet --disable-pip-version-check uv

sync: uv
	$(UV) sync --frozen --quiet

test: sync
	$(UV) run --frozen pytest

lint: sync
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .

demo: sync
	$(UV) run --frozen python -m scripts.demo

bench: sync
	$(UV) run --frozen python -m scripts.bench

clean:
	rm -rf .venv .venv-meltano .meltano output .pytest_cache .ruff_cache
