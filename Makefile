# Quick start: `make demo` (set up, demo data, serve) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: install
	DEBUG=true $(BIN)/python manage.py demo

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	DEBUG=true $(BIN)/mypy loyalty members rewards campaigns

.PHONY: install demo test lint
