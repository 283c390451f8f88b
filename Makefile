# Two commands do everything: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export WABI_DATA_DIR ?= $(CURDIR)/data
export DAGSTER_HOME  ?= $(WABI_DATA_DIR)/dagster_home

.PHONY: install demo test lint format dev lock clean bench-simulator bench-extract bench-report \
	screenshot bench

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	touch $(STAMP)

demo: install
	$(BIN)/wabi demo

test: lint
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The Dagster UI on http://127.0.0.1:3000 (asset graph, checks, schedule). Reads WABI_* from the environment.
dev: install
	$(BIN)/wabi dev

# Simulator speed and memory at 100 k and 1 M messages (a few minutes; prints its numbers).
bench-simulator: install
	$(BIN)/python -m benchmarks.simulator

# Extract speed at 100 k and 1 M messages: the API walk over loopback, the capture load, and DuckDB's
# own JSON reader on the same files for comparison (workspaces cached in data/bench/; minutes).
bench-extract: install
	$(BIN)/python -m benchmarks.extract

# The report's size and render time in headless Chromium (Debian's chromium), on the demo's file.
bench-report: install
	$(BIN)/python -m benchmarks.report

# The README's screenshot (docs/report.png): the Overview of the demo's last 14 days, compared
# with the 14 before, as headless Chromium draws it. Run `make demo` first.
screenshot: install
	$(BIN)/wabi report --days 14 --out $(WABI_DATA_DIR)/report-14-days.html \
		--screenshot docs/report.png

# The whole pipeline at 100k, 1M and 10M messages, stage by stage, against a hand-written DuckDB
# script and a pandas script, and the incremental path at 30 and 300 days of history; appends
# to benchmarks/RESULTS.md (the 10M workspace takes ~10 min to generate the first time; hours).
bench: install
	$(BIN)/wabi bench

# Re-pin every installed version after changing pyproject.toml's ranges.
lock: install
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^wabi' > requirements.lock

clean:
	rm -rf $(VENV) dbt_project/target dbt_project/logs
