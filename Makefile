# AlphaRL: `make run` sets up and runs the main job; `make test` sets up and runs the checks.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := run

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Small models on few cores: extra BLAS/torch threads only contend (see README).
export OMP_NUM_THREADS ?= 1
export OPENBLAS_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1
export TOKENIZERS_PARALLELISM ?= false
export HF_HUB_OFFLINE ?= 1
# pip's machine-wide find-links may name folders that do not exist; those warnings are noise.
PIP_QUIET := { grep -v "^WARNING: Location 'file:" || true; }

.PHONY: setup run test lint typecheck pytest test-slow bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch is pinned and installed first, so no other requirement pulls a CUDA build.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip 2>&1 | $(PIP_QUIET)
	$(BIN)/python -m pip install -q torch==2.13.0 2>&1 | $(PIP_QUIET)
	$(BIN)/python -m pip install -q -e '.[dev,bench]' 2>&1 | $(PIP_QUIET)
	# VADER's sdist holds the tweets' ratings: tests/streams rebuilds the shipped tweets from it.
	$(BIN)/python -m pip download -q --no-deps --no-binary :all: vaderSentiment==3.3.2 \
		-d $(VENV)/sdist 2>&1 | $(PIP_QUIET)
	touch $@

setup: $(VENV)/.installed

# The main job: enrich the shipped tweets (summary; cached) and compare seven agents in MLflow.
run: setup
	$(BIN)/alpharl enrich
	$(BIN)/alpharl compare

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

pytest: setup
	$(BIN)/pytest -m "not slow" -q

test: lint typecheck pytest

test-slow: setup
	$(BIN)/pytest -m slow -q

bench: setup
	for b in experiments/perf/bench_*.py; do $(BIN)/python $$b; done

clean:
	rm -rf $(VENV) runs outputs multirun .mypy_cache .ruff_cache .pytest_cache
