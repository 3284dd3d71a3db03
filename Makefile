# fleetdeck developer commands. `make run` and `make test` work on a fresh Debian machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SUM    := $(shell cksum pyproject.toml | cut -d' ' -f1)
# `make run` installs what the server needs; the test tools (Playwright, mypy, ...) only come
# with the targets that use them.
RUN_STAMP := $(VENV)/.installed-run-$(SUM)
STAMP     := $(VENV)/.installed-test-$(SUM)

.PHONY: run test lint typecheck pytest bench system-deps clean

$(RUN_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	rm -f $(VENV)/.installed-run-*
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(BIN)/python -m pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-test-*
	touch $(STAMP)

run: $(RUN_STAMP)
	$(BIN)/fleetdeck server

system-deps:
	@scripts/install-system-deps.sh

lint: $(STAMP)
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/ruff check src tests bench scripts

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) system-deps
	$(BIN)/pytest

test: lint typecheck pytest

bench: $(STAMP) system-deps
	$(BIN)/python -m pip install -q -e '.[bench]'
	@scripts/install-system-deps.sh --bench
	$(BIN)/python bench/collector_overhead.py
	$(BIN)/python bench/stream_fanout.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/history_query.py
	$(BIN)/python bench/page_load.py
	$(BIN)/python bench/alert_eval.py
	$(BIN)/python bench/agent_overhead.py
	$(BIN)/python bench/fleet.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
