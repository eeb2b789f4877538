"""Every config under configs/ is a valid TrainConfig, and any run it starts from fits it."""

from pathlib import Path

import pytest

from gridlab.checkpoints import read_checkpoint
from gridlab.training import TrainConfig
from gridlab.training.factory import policy_spec

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").rglob("*.yaml"))


def test_the_configs_are_found() -> None:
    assert len(CONFIGS) >= 13  # 6 shipped-agent configs and 7 long-run configs


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(ROOT / "configs")))
def test_a_config_loads_and_its_start_fits(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # configs name banks and checkpoints relative to the repository
    config = TrainConfig.load(path)
    assert config.bank is None or Path(config.bank, "manifest.json").is_file()
    if config.init_from is not None:
        assert read_checkpoint(config.init_from).policy_spec == policy_spec(config)
