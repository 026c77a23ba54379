# Two commands on a fresh machine: `make demo` and `make test` (each sets itself up).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export TIERFLOW_HOME ?= $(CURDIR)/.tierflow

# Data Docs' front-end files, from pinned npm packages (Node.js + npm; no CDN at view time)
ASSETS := plugins/tierflow/ui/static/vendor/manifest.json

.PHONY: install assets demo demo-ui demo-stop test test-fast lint format bench clean db-stop up down

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

$(ASSETS): plugins/tierflow/ui/assets.json plugins/tierflow/ui/assets.py
	$(PYTHON) plugins/tierflow/ui/assets.py
	touch $@

assets: $(ASSETS)

install: $(STAMP) $(ASSETS)

## The main job on sample data: embedded PostgreSQL unless TIERFLOW_DATABASE_URL is set.
demo: $(STAMP) $(ASSETS)
	$(BIN)/tierflow demo --scale $${DEMO_SCALE:-20000}

## The same demo as it runs under Airflow (the local stack on the embedded PostgreSQL; needs
## Redis and curl, as `make up`): DAG runs, Assets and the console left up; `make demo-stop`.
demo-ui: $(STAMP) $(ASSETS)
	$(BIN)/tierflow demo --ui --scale $${DEMO_SCALE:-500}

## Stops what demo-ui started (Airflow's processes, then the embedded PostgreSQL); idempotent.
demo-stop:
	test ! -x $(BIN)/tierflow || $(BIN)/tierflow demo --stop

## The whole test suite, as CI runs it: lint and format check first, then every test.
test: $(STAMP) $(ASSETS)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

test-fast: $(STAMP) $(ASSETS)
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m bench

## The distributed stack as local processes: api-server, scheduler, dag-processor, triggerer, 2 Celery workers.
up: $(STAMP) $(ASSETS)
	deploy/local/stack.sh start

down:
	deploy/local/stack.sh stop

db-stop: $(STAMP)
	$(BIN)/tierflow db stop

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache plugins/tierflow/ui/static/vendor
