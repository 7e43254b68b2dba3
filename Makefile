# Two commands on a fresh machine with Python 3.10+: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1:8000

.PHONY: demo test lint docs faults matrix messages clean

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "django-kling needs Python 3.10+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

demo: $(BIN)/.installed
	$(BIN)/python example_project/manage.py migrate --noinput
	$(BIN)/python example_project/manage.py demo_setup
	@echo
	@echo "  Demo shop:  http://$(HOST)/"
	@echo "  Admin:      http://$(HOST)/admin/   login: admin / admin"
	@echo
	$(BIN)/python example_project/manage.py runserver $(HOST)

test: $(BIN)/.installed
	$(BIN)/python -m pytest

# The version matrix (noxfile.py): newest and oldest stacks, Django 6.0, RabbitMQ, packaging.
matrix: $(BIN)/.installed
	$(BIN)/nox

faults: $(BIN)/.installed
	$(BIN)/python -m pytest -m faults

docs: $(BIN)/.installed
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

messages: $(BIN)/.installed
	cd django_kling && ../$(BIN)/django-admin makemessages -l zh_Hans && ../$(BIN)/django-admin compilemessages

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/python -m django makemigrations --check --dry-run --settings=tests.settings

clean:
	rm -rf $(VENV) example_project/db.sqlite3 example_project/media
