# The two front-door commands: `make run` serves the demo, `make test` runs every check.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# Seconds between catalog syncs when `make run` serves a team registry (REGISTRY_CENTRAL_URL
# and REGISTRY_CENTRAL_TOKEN set; docs/federation.md).
SYNC_EVERY ?= 300

.PHONY: run test venv lint layers check pytest pytest-postgres pytest-django6 fuzz-api clean

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is needed (found $$($(PYTHON) --version))."; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

venv: $(BIN)/.installed

# The server, the webhook worker and, for a team registry, the catalog sync: each job is a
# process of its own, and all of them stop together.
run: venv
	DEBUG=1 $(BIN)/python manage.py migrate --noinput
	DEBUG=1 $(BIN)/python manage.py seed_demo --url http://$(HOST):$(PORT)/
	@echo "Serving the demo at http://$(HOST):$(PORT)/ (admin at /admin/), with the webhook worker$${REGISTRY_CENTRAL_URL:+ and a catalog sync every $(SYNC_EVERY) s}. Stop with Ctrl-C."
	DEBUG=1 $(BIN)/python manage.py run_worker --interval 2 & jobs=$$!; \
	if [ -n "$$REGISTRY_CENTRAL_URL" ]; then \
		DEBUG=1 $(BIN)/python manage.py sync_catalog --every $(SYNC_EVERY) & jobs="$$jobs $$!"; \
	fi; \
	trap 'kill $$jobs 2>/dev/null' EXIT INT TERM; \
	DEBUG=1 $(BIN)/python manage.py runserver $(HOST):$(PORT)

lint: venv layers
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Imports point one way only (docs/architecture.md): the contracts in pyproject.toml.
layers: venv
	$(BIN)/lint-imports

check: venv
	DEBUG=1 $(BIN)/python manage.py check
	DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run

pytest: venv
	@test -x /usr/bin/chromium || echo "NOTE: /usr/bin/chromium is missing, so the browser tests (tests/browser) are skipped. Install it with: apt-get install chromium"
	$(BIN)/python -m pytest
	@test -x /usr/bin/chromium || echo "NOTE: the browser tests were skipped: chromium is not installed (apt-get install chromium)."

# Fuzz the live REST API against its OpenAPI schema (schemathesis); CI runs it.
fuzz-api: venv
	.ci/schemathesis.sh

test: lint check pytest

# The PostgreSQL leg of CI; needs a server on 127.0.0.1:5432 (see .ci/run).
pytest-postgres: venv
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres} $(BIN)/python -m pytest

# The Django 6 leg of CI: the whole suite on SQLite with the newest Django 6.x (the project
# admits Django 5.2 LTS and 6.x), in its own virtual environment with Python 3.13 from pyenv.
DJANGO6_VENV := .venv-django6
DJANGO6_BIN := $(DJANGO6_VENV)/bin
PYTHON313 ?= $(shell command -v pyenv >/dev/null 2>&1 && \
	v=$$(pyenv versions --bare | grep -E '^3\.13(\.[0-9]+)?$$' | tail -n1) && \
	test -n "$$v" && echo "$$(pyenv root)/versions/$$v/bin/python")

$(DJANGO6_BIN)/.installed: pyproject.toml
	@test -n "$(PYTHON313)" || \
		{ echo "The Django 6 leg needs Python 3.13 through pyenv (pyenv install 3.13)."; exit 1; }
	test -x $(DJANGO6_BIN)/python || $(PYTHON313) -m venv $(DJANGO6_VENV)
	$(DJANGO6_BIN)/python -m pip install -q --upgrade pip
	$(DJANGO6_BIN)/python -m pip install -q --upgrade -e '.[dev]' 'Django>=6,<7'
	touch $@

pytest-django6: $(DJANGO6_BIN)/.installed
	@$(DJANGO6_BIN)/python -c 'import django; print("Django", django.get_version())'
	env -u DATABASE_URL DEBUG=1 $(DJANGO6_BIN)/python manage.py check
	env -u DATABASE_URL DEBUG=1 $(DJANGO6_BIN)/python manage.py makemigrations --check --dry-run
	env -u DATABASE_URL $(DJANGO6_BIN)/python -m pytest

clean:
	rm -rf $(VENV) $(DJANGO6_VENV) var staticfiles .pytest_cache .ruff_cache .import_linter_cache
