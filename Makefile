# The two set-up commands of the README: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
SCHEDULER := $(VENV)/bin/scheduler

.PHONY: run test install install-test lint checks pytest bench

# A test run starts many Python processes (xdist workers, daemons, CLI runs), each of which
# would compile the project and the tests anew where the environment turns off writing
# bytecode caches (`__pycache__/` is ignored by git).
unexport PYTHONDONTWRITEBYTECODE

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

lint: install-test checks

checks:
	$(VENV)/bin/ruff check scheduler tests bench
	$(VENV)/bin/ruff format --check scheduler tests bench
	$(VENV)/bin/mypy scheduler

# The checks run beside the tests (each prints when done): the tests mostly wait on daemons,
# leases and pinned times, so mypy's CPU time fits in beside them. The tests run on two
# workers more than there are cores (pytest-xdist), which fill those waits: on two cores,
# `make pytest` took 151 s with three workers, 135 s with four and 140 s with five
# (2026-12-04, quiet machine, bytecode cached). Whole modules are kept together where they
# share one expensive fixture (`xdist_group`). The test that restarts PostgreSQL restarts a
# server of its own, so it runs among the others.
WORKERS ?= $(shell echo $$(( $$(nproc) + 2 )))

test: install-test
	$(MAKE) --no-print-directory -j2 --output-sync=target checks pytest

pytest:
	$(PY) -m pytest -q -n $(WORKERS) --dist loadgroup

bench: install-test
	for b in bench/[!_]*.py; do $(PY) $$b || exit 1; done
