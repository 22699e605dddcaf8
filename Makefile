# market-data: `make demo` runs the embedded default end to end, `make test` runs the tests.
# Both set up everything they need on a fresh machine (virtualenv, packages, PostgreSQL).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Test processes: one per core, at most 4 (each starts its own PostgreSQL and S3 servers).
WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$(( n < 4 ? n : 4 )))

.PHONY: install demo test test-fast bench soak ui screenshots snapshot stop clean

$(STAMP): pyproject.toml scripts/install-system-packages.sh
	./scripts/install-system-packages.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,local]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/market-data demo

# Chromium for the UI tests (only the tests need it), ruff (lint and format), then every test
# suite, slow ones included, in one process per core (pytest-xdist, a file's tests together):
# mypy and the quick benchmarks among them (test_tooling.py); the last line is the wall time.
test: install
	@start=$$(date +%s); \
	./scripts/install-system-packages.sh --browser && \
	$(BIN)/ruff check market_data market_data_local market_data_tests bench && \
	$(BIN)/ruff format --check market_data market_data_local market_data_tests bench && \
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadfile --no-loadscope-reorder; \
	status=$$?; took=$$(( $$(date +%s) - start )); \
	echo "make test: $$((took / 60)) min $$((took % 60)) s, exit $$status"; exit $$status

# The suites that start no daemon, UI, fresh virtualenv or long run (those are marked slow):
# under 2 minutes, for the edit-test loop.
test-fast: install
	@start=$$(date +%s); \
	$(BIN)/python -m pytest -m "not slow" -n $(WORKERS) --dist loadfile --no-loadscope-reorder -q; \
	status=$$?; took=$$(( $$(date +%s) - start )); \
	echo "make test-fast: $$((took / 60)) min $$((took % 60)) s, exit $$status"; exit $$status

# What the programs of the benchmarks and the soak keep between runs (matplotlib's font list,
# pip's cache) stays in the clone, as for the tests (market_data_tests/conftest.py).
XDG := $(CURDIR)/.market_data/xdg
bench soak: export XDG_CACHE_HOME := $(XDG)/cache
bench soak: export XDG_CONFIG_HOME := $(XDG)/config
bench soak: export XDG_DATA_HOME := $(XDG)/data
bench soak: export MPLCONFIGDIR := $(XDG)/config/matplotlib

# Every benchmark script (bench/all.py: run, run_cost, downloaded_day, read, options, large_watchlist), then one line
# per target, held or missed; exits 1 if any target was missed.
bench: install
	$(BIN)/python -W ignore bench/all.py

# Weeks of simulated trading days with faults, through the real daemon (docs/soak.md);
# SEED=N re-runs a seed's history, DAYS=N sets the sessions (30).
soak: install
	$(BIN)/python -W ignore bench/soak.py $(if $(SEED),--seed $(SEED)) $(if $(DAYS),--days $(DAYS))

ui: install
	$(BIN)/market-data ui

# README's pictures of the UI, from the demo's own state (the demo first if its days are not
# loaded): docs/ui-*.png and docs/screenshots.json, what they show (the captions' facts).
# Starts and stops its own UI; the embedded servers keep running, as after make demo.
screenshots: install
	./scripts/install-system-packages.sh --browser
	$(BIN)/python -W ignore -m market_data_local.screenshots

# Accept a change to the asset graph: rewrite market_data_tests/snapshots/definitions.txt.
snapshot: install
	$(BIN)/python -W ignore -m market_data_tests.graph_snapshot

# The embedded servers outlive demo and ui (the UI and the dagster CLI use them): stop them.
stop:
	if [ -x $(BIN)/market-data ]; then $(BIN)/market-data stop; fi

clean: stop
	rm -rf $(VENV) .market_data .pytest_cache .ruff_cache .mypy_cache artifacts
