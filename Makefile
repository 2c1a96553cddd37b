# movierec: the two commands of a fresh machine are `make setup` and `make run`.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
UV_VERSION := 0.13.8
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: help setup setup-bench run test test-fast lint typecheck serve report bench dvc-repro clean

help:
	@echo "make setup      create .venv from uv.lock (Python 3.11)"
	@echo "make run        run the whole pipeline end to end on embedded defaults"
	@echo "make test       the full test suite (what CI runs)"
	@echo "make test-fast  unit + data tiers only"
	@echo "make lint       ruff + mypy"
	@echo "make serve      start the BentoML service on the champion model (viewer page at /)"
	@echo "make report     write the team dashboard reports/index.html"
	@echo "make bench      run the benchmarks into benchmarks/results/"

setup:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || \
		python3 -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV) sync --frozen --python 3.11 --compile-bytecode
	@echo "environment ready in $(VENV) ($$(du -sh $(VENV) | cut -f1))"

setup-bench:
	$(UV) sync --frozen --python 3.11 --group bench

run:
	$(BIN)/movierec run

test:
	$(BIN)/pytest $(PYTEST_ARGS)

test-fast:
	$(BIN)/pytest -m "unit or data" $(PYTEST_ARGS)

lint:
	$(BIN)/ruff check recsys movierec flows bentos tests benchmarks
	$(BIN)/mypy

typecheck:
	$(BIN)/mypy

serve:
	$(BIN)/movierec serve

report:
	$(BIN)/movierec report

bench: setup-bench
	$(BIN)/python benchmarks/accuracy.py
	$(BIN)/python benchmarks/shilling.py
	$(BIN)/python benchmarks/serving.py

dvc-repro:
	$(BIN)/dvc repro

clean:
	rm -rf .movierec mlruns mlartifacts mlflow.db reports
