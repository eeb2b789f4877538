# Two commands on a fresh machine: `make quickstart` (set up, run the main job) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup quickstart demo test test-slow lint typecheck bench

# gridlab in editable mode with the dev extra: pytest, ruff, mypy, import-linter, and the
# notebook extra (JupyterLab and what executes notebooks).
$(BIN)/gridlab: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

setup: $(BIN)/gridlab

quickstart: setup
	$(BIN)/gridlab quickstart --output runs/quickstart

demo: setup
	$(BIN)/gridlab demo --plot runs/demo/plan.png

# Style and bugs (ruff reads the notebooks too), then the one-way layers (pyproject's
# [tool.importlinter] contract).
lint: setup
	$(BIN)/ruff check gridlab tests benchmarks scripts notebooks
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy gridlab

# One pytest worker per core: the tests train and play small networks on one torch thread each.
# Each test module runs whole on one worker (--dist loadfile), so a module's trained networks,
# quick start run or Ray sweeps are built once. (pytest-xdist 3.8's loadgroup, under pytest 9,
# spread xdist_group-marked tests over both workers and built those fixtures twice.)
test: lint typecheck
	$(BIN)/python -m pytest -q -n auto --dist loadfile --durations=15

# The tests marked slow, left out of `make test` (tests/conftest.py): a cold torch.compile of a
# recurrent learner alone takes over 3 minutes here.
test-slow: setup
	$(BIN)/python -m pytest -q --runslow -m slow --durations=15

bench: setup
	$(BIN)/python benchmarks/bench_solver.py
	$(BIN)/python benchmarks/bench_env.py
	$(BIN)/python benchmarks/bench_vec_env.py
	$(BIN)/python benchmarks/bench_bank.py
	$(BIN)/python benchmarks/bench_models.py
	$(BIN)/python benchmarks/bench_training.py
	$(BIN)/python benchmarks/bench_interp.py
