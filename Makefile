# The two commands of the README. Each bootstraps .venv and the packages on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# axe-core, which the browser tests inject into the pages (package.json, package-lock.json).
NODE_STAMP := node_modules/.installed

.PHONY: dev test lint faults bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

dev: $(STAMP)  ## the whole stack: Temporal + UI, database, SMTP sink, inbound, worker, API
	$(BIN)/pledgeflow dev $(ARGS)

test: $(STAMP) $(NODE_STAMP)  ## lint, type-check and the test suite against real servers
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest $(PYTEST_ARGS)

faults: $(STAMP)  ## the long fault run (docs/reliability.md); e.g. make faults ARGS="--seed 7 --pledges 150 --kills 10"
	$(BIN)/python -m tests.faults.run $(ARGS)

bench: $(STAMP)  ## every SPEC 9 figure to bench.json (docs/benchmark.md); ARGS="--quick" for the small run
	$(BIN)/pledgeflow bench $(ARGS)
