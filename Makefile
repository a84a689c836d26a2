# Two commands matter: `make demo` and `make test`. Both install what is missing.
SHELL := /bin/bash
VENV := .venv
STAMP := $(VENV)/.installed
PY := $(VENV)/bin/python

.PHONY: demo test stop venv sysdeps lint bench clean

$(STAMP): pyproject.toml
	@scripts/sysdeps.sh python3-venv curl
	@$(PY) -m pip --version >/dev/null 2>&1 || { rm -rf $(VENV); python3 -m venv $(VENV); }
	@$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install -q --disable-pip-version-check -e '.[dev,services]'
	@touch $(STAMP)

venv: $(STAMP)

sysdeps:
	@scripts/sysdeps.sh

demo: sysdeps venv
	@scripts/services.sh start demo
	@scripts/with-env.sh demo tenderhall db upgrade
	@scripts/with-env.sh demo tenderhall demo-pki
	@scripts/platform.sh start demo 8000
	@scripts/with-env.sh demo tenderhall demo --url http://127.0.0.1:8000
	@echo "Stop everything with: make stop"

stop:
	@scripts/platform.sh stop demo
	@scripts/services.sh stop demo

test: sysdeps venv
	@$(VENV)/bin/ruff check --quiet . && $(VENV)/bin/mypy --no-error-summary
	@mkdir -p var && $(VENV)/bin/lint-imports --no-cache --no-logo >var/lint-imports.log || { cat var/lint-imports.log; exit 1; }
	@scripts/services.sh start test --fresh
	@set -o pipefail; status=0; \
	  scripts/with-env.sh test $(PY) -m pytest $(PYTEST_ARGS) || status=$$?; \
	  scripts/services.sh stop test; exit $$status

lint: venv
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/mypy
	@$(VENV)/bin/lint-imports --no-cache

bench: venv
	@scripts/services.sh start test
	@scripts/sysdeps.sh wrk
	@scripts/with-env.sh test $(PY) bench/api.py

clean: stop
	rm -rf var
