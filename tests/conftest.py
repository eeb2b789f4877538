import os
from pathlib import Path

import pytest
import torch

from gridlab.training import Run, TrainConfig, train

# The networks under test are small: one thread is fastest, and more contend with each other
# (a 8x8 DRC steps 5x slower with two threads on this 2-core machine). Training sets its own.
torch.set_num_threads(1)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="also run the tests marked slow (make test-slow)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the tests marked slow unless asked for: minutes each on a cold machine, they run in
    `make test-slow`, outside the suite `make test` and CI run."""
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow (make test-slow)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def quick_config(tmp_path: Path, **overrides: object) -> TrainConfig:
    """A small, fast run on v1 with the MLP (learns in a few thousand steps)."""
    fields = {
        "milestone": "v1", "total_timesteps": 4096, "eval_freq": 1024, "learning_rate": 1e-3, "n_steps": 64,
        "batch_size": 128, "output_dir": str(tmp_path), "progress_bar": False, "tensorboard": False,
        "precision": "fp32",  # the same arithmetic on every CPU: "auto" takes bf16 where it is faster
    }  # fmt: skip
    return TrainConfig(**(fields | overrides))


@pytest.fixture(scope="session", autouse=True)
def _measurement_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests neither read nor write the user's cache of measurements (precision="auto")."""
    os.environ["GRIDLAB_CACHE"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def v1_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return train(quick_config(tmp_path_factory.mktemp("runs"), total_timesteps=8192, target_success=1.0))
