# Two commands set everything up: `make run` serves the desk, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
HOST ?= 127.0.0.1

.PHONY: run test test-fast lint format install install-dev clean bench outage

# Two installs into one virtualenv: what serving needs (pyproject's dependencies: `make run`),
# and on top of it the tools of tests, lint and benchmarks (its `dev` extra: `make test`,
# `make lint`, `make bench`). Each is redone when pyproject.toml changes.
$(VENV)/.runtime: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

# Embedded default: SQLite + in-memory channel layer unless DATABASE_URL / REDIS_URL are set.
# seed_demo ends with the addresses to open, on this HOST and PORT.
run: install
	DEBUG=$${DEBUG:-1} $(PY) manage.py migrate --noinput
	DEBUG=$${DEBUG:-1} $(PY) manage.py seed_demo --host $(HOST) --port $(PORT)
	DEBUG=$${DEBUG:-1} $(PY) -m daphne -b $(HOST) -p $(PORT) supportdesk.asgi:application

# The whole suite: unit, consumer, browser and fault tests, on both cores.
test: export SECRET_KEY ?= insecure-key-for-tests-only
test: install-dev
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

# Everything but the browser and fault tests.
test-fast: export SECRET_KEY ?= insecure-key-for-tests-only
test-fast: install-dev
	$(PY) -m pytest -m "not browser and not faults" $(PYTEST_ARGS)

# The load benchmark on PostgreSQL and Redis (bench/load.py; docs/PERFORMANCE.md has figures).
# Options through BENCH_ARGS, e.g. make bench BENCH_ARGS="--conversations 200 --duration 20".
bench: install-dev
	$(PY) bench/load.py $(BENCH_ARGS)

# PostgreSQL (a private one) stopped for OUTAGE_SECONDS (75) under a serving desk: how soon the
# desk serves again (docs/OPERATIONS.md "Database outages"). Needs DATABASE_URL and REDIS_URL as
# for `make test` (the test database holds nothing of it; the desk runs on the private one).
outage: export SECRET_KEY ?= insecure-key-for-tests-only
outage: install-dev
	OUTAGE_SECONDS=$${OUTAGE_SECONDS:-75} $(PY) -m pytest -s -q -p no:randomly \
		tests/browser/test_database_outage.py -k serves_again

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) *.egg-info
