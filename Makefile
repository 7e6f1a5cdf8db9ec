# The two set-up commands of the README: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
SCHEDULER := $(VENV)/bin/scheduler

.PHONY: run test install install-test lint bench

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

install: $(PY)
	$(PY) -m pip install --quiet -e .

install-test: $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	sh scripts/test-services.sh

# Installs, checks the shipped config, queues two example posts and starts the daemon.
run: install
	$(SCHEDULER) --config config.toml check
	sh scripts/first-run.sh $(SCHEDULER)
	$(SCHEDULER) --config config.toml run

lint: install-test
	$(VENV)/bin/ruff check scheduler tests bench
	$(VENV)/bin/ruff format --check scheduler tests bench
	$(VENV)/bin/mypy scheduler

# The one test that restarts PostgreSQL runs alone first (it would break the PostgreSQL tests
# of every other worker); the rest runs on one worker per core (pytest-xdist), whole
# modules kept together where they share one expensive fixture (`xdist_group`).
test: lint
	$(PY) -m pytest -q -m pg_restart
	$(PY) -m pytest -q -n auto --dist loadgroup -m "not pg_restart"

bench: install-test
	for b in bench/[!_]*.py; do $(PY) $$b || exit 1; done
