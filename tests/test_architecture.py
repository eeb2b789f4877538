"""The package's layers import one way: env <- models <- checkpoints <- training <- agent <- interp
<- quickstart <- cli (import-linter contract in pyproject.toml, also run by `make test`)."""

import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), str(config), "--no-cache", "--no-logo"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_no_module_imports_a_layer_above_its_own() -> None:
    result = lint_imports(ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 1 kept, 0 broken." in result.stdout


def test_the_contract_catches_an_upward_import(tmp_path: Path) -> None:
    # Positive control: with training placed below models, training -> models imports break it.
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = settings["contracts"][0]["layers"]
    swap = {"gridlab.training": "gridlab.models", "gridlab.models": "gridlab.training"}
    swapped = [swap.get(layer, layer) for layer in layers]
    config = tmp_path / "contracts.toml"
    config.write_text(
        f'[tool.importlinter]\nroot_package = "gridlab"\n\n[[tool.importlinter.contracts]]\n'
        f'name = "swapped"\ntype = "layers"\nlayers = {swapped!r}\n'.replace("'", '"')
    )
    result = lint_imports(config)
    assert result.returncode == 1
    assert "gridlab.training.factory -> gridlab.models.registry" in result.stdout
