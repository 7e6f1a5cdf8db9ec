# The two set-up commands of the README: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
SCHEDULER := $(VENV)/bin/scheduler

.PHONY: run test install install-test lint checks pg-restart-test bench

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

# The one test that restarts PostgreSQL runs before the others (it would break the
# PostgreSQL tests of every other worker), beside the checks: it mostly waits on daemons and
# the server, so mypy's CPU time fits in beside it. Each prints when done. The rest runs on
# one worker more than there are cores (pytest-xdist): the daemon and fault tests spend much
# of their time waiting (leases, pinned times, start-up), which a third worker on two cores
# fills (213 s -> 152-185 s; four were slower before). Whole modules are kept together where
# they share one expensive fixture (`xdist_group`).
WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))

test: install-test
	$(MAKE) --no-print-directory -j2 --output-sync=target checks pg-restart-test
	$(PY) -m pytest -q -n $(WORKERS) --dist loadgroup -m "not pg_restart"

pg-restart-test:
	$(PY) -m pytest -q -m pg_restart

bench: install-test
	for b in bench/[!_]*.py; do $(PY) $$b || exit 1; done
