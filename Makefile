# Store CRM. `make run` starts the demo site; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
REQS_STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run run-debug test setup lint format messages pg-setup migrate clean

$(REQS_STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $@

setup: $(REQS_STAMP) messages

messages: $(REQS_STAMP)
	@$(BIN)/python manage.py compilemessages --ignore=.venv -v0

migrate: setup
	$(BIN)/python manage.py migrate --noinput -v0

run: migrate
	$(BIN)/python manage.py seed_demo
	@echo ""
	@echo "Store CRM is starting at http://$(HOST):$(PORT)/  (Ctrl+C stops it)"
	@# DEBUG off, so a 403/404/500 shows our own pages as in production; whitenoise serves the
	@# collected static files, and cookies work over plain HTTP on this machine.
	$(BIN)/python manage.py collectstatic --noinput -v0
	DEBUG=0 SECURE_COOKIES=0 $(BIN)/python manage.py runserver $(HOST):$(PORT)

# The same with DEBUG on: Django's debug pages (tracebacks, URL list) instead of ours.
run-debug: migrate
	$(BIN)/python manage.py seed_demo
	DEBUG=1 $(BIN)/python manage.py runserver $(HOST):$(PORT)

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(REQS_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(REQS_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

pg-setup:
	scripts/pg-setup

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-* staticfiles
