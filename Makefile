# AIMonitor: the two set-up commands are `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
# The virtual environment lives outside the clone, keyed by a hash of the requirement files, so a
# fresh clone reuses an environment that an earlier clone with the same pins already built.
# `make test VENV=/path/to/venv` uses (and completes, never deletes) an existing environment.
VENV_ROOT ?= $(HOME)/.cache/aimonitor
REQ_HASH := $(shell cat requirements/*.txt scripts/bootstrap_env.sh | sha256sum | cut -c1-16)
VENV ?= $(VENV_ROOT)/venv-$(REQ_HASH)
PY := $(VENV)/bin/python
PORT ?= 8000
HOST ?= 0.0.0.0
export YOLO_OFFLINE := 1
export YOLO_AUTOINSTALL := 0

.PHONY: run test env lint bench clean-venv

# The marker names the hash: an environment is (re)completed once per set of pins, not per clone.
$(VENV)/.ready-$(REQ_HASH):
	bash scripts/bootstrap_env.sh "$(VENV)" "$(PYTHON)"
	touch $@

env: $(VENV)/.ready-$(REQ_HASH)
	ln -sfn "$(VENV)" .venv

## make run: install everything, migrate, seed, and serve HTTP + WebSocket on 0.0.0.0:$(PORT)
run: env
	AIMONITOR_DEV=$${AIMONITOR_DEV:-1} HOST="$(HOST)" bash scripts/run_embedded.sh "$(PORT)"

## make test: the whole test suite (SQLite by default; PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set)
test: env
	AIMONITOR_DEV=1 LOG_TO_FILES=0 $(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

lint: env
	$(VENV)/bin/ruff check .

## make bench: every benchmark under bench/ at its quick size (figures in the README)
bench: env
	@set -e; for script in bench/*.py; do echo "== $$script"; $(PY) "$$script" --quick; done

clean-venv:
	rm -rf "$(VENV)" .venv
