# Two commands on a fresh machine: `make quickstart` (set up, run the main job) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup quickstart demo test lint bench

$(BIN)/gridlab: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

setup: $(BIN)/gridlab

quickstart: setup
	$(BIN)/gridlab quickstart --output runs/quickstart

demo: setup
	$(BIN)/gridlab demo --plot runs/demo/plan.png

lint: setup
	$(BIN)/ruff check gridlab tests benchmarks scripts

test: lint
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/bench_solver.py
	$(BIN)/python benchmarks/bench_env.py
	$(BIN)/python benchmarks/bench_vec_env.py
	$(BIN)/python benchmarks/bench_bank.py
	$(BIN)/python benchmarks/bench_models.py
	$(BIN)/python benchmarks/bench_training.py
	$(BIN)/python benchmarks/bench_interp.py
