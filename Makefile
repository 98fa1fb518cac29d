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
## Two pytest-xdist workers (one per core; a test file stays on one worker, so its module fixtures
## start once); the run prints its wall time and the 25 slowest tests (docs/development.md).
TEST_WORKERS ?= 2
test: venv lint services
	@start=$$(date +%s); \
	$(PY) -m pytest -p no:cacheprovider -q -rfE --durations=25 -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder tests; rc=$$?; \
	echo "make test: tests took $$(( $$(date +%s) - start )) s of wall time"; exit $$rc

bench: venv
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b --quick || exit 1; done

clean:
	rm -rf .venv artifacts .pytest_cache .mypy_cache .ruff_cache
