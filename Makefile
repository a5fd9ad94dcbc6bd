# One Makefile: `make run` serves the gateway (SQLite, in-process jobs), `make test` runs the
# whole suite on the local PostgreSQL and Redis, `make bench` measures, `make lint` checks style.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export FLASK_APP := wsgi

.PHONY: run test lint bench clean deps

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

deps: $(STAMP)

run: $(STAMP)
	$(BIN)/flask db upgrade
	PORT=$${PORT:-5000} HOST=127.0.0.1 WEB_CONCURRENCY=1 $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	bash bench/run.sh

clean:
	rm -rf $(VENV) instance .pytest_cache
