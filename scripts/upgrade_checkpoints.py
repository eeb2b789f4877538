"""Bring checkpoints written before bank digests were recorded up to date, in place.

    python scripts/upgrade_checkpoints.py checkpoints/*       # the shipped agents
    python scripts/upgrade_checkpoints.py runs/my_run/final

For a run trained on a puzzle bank, ``env_spec.bank`` records the bank's path *and* content
digest, so the checkpoint finds its bank from any working directory (`gridlab.env.find_bank`);
the ``config`` block keeps only the fields that apply to the run (`TrainConfig.applicable`).
Only ``metadata.json`` changes (atomically); the weights and their digests are untouched.
Checkpoints that are already up to date are left as they are (byte for byte).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gridlab.checkpoints import METADATA, read_checkpoint
from gridlab.env.puzzle_bank import find_bank
from gridlab.env.spec import BankRef
from gridlab.files import atomic_write_json
from gridlab.training.config import TrainConfig


def upgrade(folder: Path) -> bool:
    """Upgrade one checkpoint folder; True when its metadata changed."""
    checkpoint = read_checkpoint(folder)  # verifies the format and the weights first
    metadata = checkpoint.metadata
    config = TrainConfig.from_dict(metadata["config"])
    new = metadata | {"config": config.applicable()}
    recorded = checkpoint.env_spec.bank
    if config.bank is not None and (recorded is None or recorded.digest is None):
        bank = find_bank(config.bank, near=[folder])
        new["env_spec"] = metadata["env_spec"] | {"bank": vars(BankRef(config.bank, bank.digest))}
    if json.dumps(new, sort_keys=True) == json.dumps(metadata, sort_keys=True):
        return False
    atomic_write_json(folder / METADATA, new)
    read_checkpoint(folder)  # the result must read back
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="checkpoint folders")
    for folder in parser.parse_args().folders:
        print(f"{folder}: {'upgraded' if upgrade(folder) else 'up to date'}")


if __name__ == "__main__":
    main()
