# The two commands of the README. Both install what they need on a fresh machine.
.PHONY: demo test lint bench venv services clean

PY := .venv/bin/python

venv:
	@bash scripts/bootstrap.sh

services:
	@bash scripts/services.sh

## The whole pipeline on embedded defaults, fed by the sample sessions.
demo: venv
	@$(PY) -m alliance_monitor.cli demo

## Lint and types (docs/development.md): ruff over the whole tree, mypy over the packages.
lint: venv
	@$(PY) -m ruff check .
	@$(PY) -m mypy

## The test suite: real broker, real SQLite and PostgreSQL, real tiny model, real Chromium. Lint first.
test: venv lint services
	@$(PY) -m pytest -p no:cacheprovider -q -rfE --durations=15 tests

bench: venv
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b --quick || exit 1; done

clean:
	rm -rf .venv artifacts .pytest_cache .mypy_cache .ruff_cache
