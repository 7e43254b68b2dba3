# Two commands on a fresh machine with Python 3.10+: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1:8000

.PHONY: demo demo-wagtail test lint docs faults matrix messages clean

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "django-kling needs Python 3.10+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

# The same demo with a small Wagtail site: /cms/ (Wagtail's admin), its home page at /pages/
# (the shop stays at /).
demo-wagtail: $(BIN)/.installed
	KLING_WAGTAIL=1 $(BIN)/python example_project/manage.py migrate --noinput
	KLING_WAGTAIL=1 $(BIN)/python example_project/manage.py demo_setup
	@echo
	@echo "  Home page:      http://$(HOST)/pages/"
	@echo "  Demo shop:      http://$(HOST)/"
	@echo "  Wagtail admin:  http://$(HOST)/cms/   login: admin / admin"
	@echo
	KLING_WAGTAIL=1 $(BIN)/python example_project/manage.py runserver $(HOST)

demo: $(BIN)/.installed
	$(BIN)/python example_project/manage.py migrate --noinput
	$(BIN)/python example_project/manage.py demo_setup
	@echo
	@echo "  Demo shop:  http://$(HOST)/"
	@echo "  Admin:      http://$(HOST)/admin/   login: admin / admin"
	@echo
	$(BIN)/python example_project/manage.py runserver $(HOST)

# The Wagtail integration's tests run in their own settings, when Wagtail is installed (the
# [wagtail] extra is part of [dev]).
# Both suites run even when the first fails, and the last line says which failed.
test: $(BIN)/.installed
	@main=0; wagtail=0; \
	echo "$(BIN)/python -m pytest --durations=25"; \
	$(BIN)/python -m pytest --durations=25 || main=$$?; \
	if $(BIN)/python -c 'import wagtail' 2>/dev/null; then \
	  echo "$(BIN)/python -m pytest tests/wagtail --ds=tests.wagtail.settings"; \
	  $(BIN)/python -m pytest tests/wagtail --ds=tests.wagtail.settings || wagtail=$$?; \
	else echo "Wagtail is not installed: tests/wagtail skipped (pip install -e '.[wagtail]')"; fi; \
	if [ $$main -ne 0 ] || [ $$wagtail -ne 0 ]; then \
	  echo; \
	  [ $$main -eq 0 ] || echo "make test: FAILED the main suite (pytest exit $$main)"; \
	  [ $$wagtail -eq 0 ] || echo "make test: FAILED the Wagtail suite (pytest exit $$wagtail)"; \
	  exit 1; \
	fi

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
	rm -rf $(VENV) example_project/db.sqlite3 example_project/db.sqlite3-wal example_project/db.sqlite3-shm example_project/media
