# The two commands of the README. Each bootstraps .venv and the packages on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test lint

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

dev: $(STAMP)  ## the whole stack: Temporal + UI, database, SMTP sink, inbound, worker, API
	$(BIN)/pledgeflow dev $(ARGS)

test: $(STAMP)  ## lint, type-check and the test suite against real servers
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest $(PYTEST_ARGS)
