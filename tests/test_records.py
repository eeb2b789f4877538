"""Typed records from JSON: every wrong field is named."""

from dataclasses import dataclass

import pytest

from gridlab.env.spec import BankRef, EnvSpec
from gridlab.records import record_from_dict, record_to_dict


@dataclass(frozen=True)
class Inner:
    name: str
    size: int = 1


@dataclass(frozen=True)
class Outer:
    shape: tuple[int, ...]
    inner: Inner | None = None
    rate: float = 0.5


def test_records_round_trip_through_json_types() -> None:
    record = Outer((3, 4), Inner("a", 2), 1.0)
    data = record_to_dict(record)
    assert data == {"shape": [3, 4], "inner": {"name": "a", "size": 2}, "rate": 1.0}
    assert record_from_dict(Outer, data, "x") == record
    assert record_from_dict(Outer, {"shape": [1], "rate": 2}, "x") == Outer((1,), None, 2.0)  # int -> float


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "meta must be a JSON object, got list"),
        ({}, "meta is missing the field 'shape'"),
        ({"shape": [1], "colour": 1}, r"meta has unknown fields \['colour'\]"),
        ({"shape": "3x4"}, "meta.shape must be a list, got '3x4'"),
        ({"shape": [1, "2"]}, r"meta.shape\[1\] must be int, got '2'"),
        ({"shape": [True]}, r"meta.shape\[0\] must be int, got True"),
        ({"shape": [1], "inner": {"size": 2}}, "meta.inner is missing the field 'name'"),
    ],
)
def test_a_malformed_record_names_the_field(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        record_from_dict(Outer, data, "meta")


def test_env_spec_reads_checkpoints_written_before_bank_digests() -> None:
    old = {
        "milestone": None, "height": 8, "width": 8, "num_robots": 2, "obs_mode": "image",
        "channels_first": True, "channel_names": ["wall_up"], "observation_shape": [8, 8, 8],
        "observation_dtype": "float32",
        "n_actions": 8, "include_noop": False, "max_steps": 30,
    }  # fmt: skip
    spec = EnvSpec.from_dict(old)
    assert spec.bank is None and spec.observation_space().shape == (8, 8, 8)
    with_bank = EnvSpec.from_dict(old | {"bank": {"path": "banks/8x8-2", "digest": "ab" * 32}})
    assert with_bank.bank == BankRef("banks/8x8-2", "ab" * 32)
