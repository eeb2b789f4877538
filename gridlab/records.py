"""Typed records stored as JSON: dataclasses rebuilt from dicts, field by field, with errors that
say which field of which file is wrong (instead of a ``KeyError`` deep inside a caller).

Supported field types: ``str``, ``int``, ``float``, ``bool``, ``None`` unions, ``tuple[T, ...]``,
``dict[str, T]`` and nested record dataclasses.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

R = TypeVar("R")


def record_from_dict(cls: type[R], data: object, where: str) -> R:
    """Build dataclass ``cls`` from ``data``, checking every field's type.

    Args:
        cls: A dataclass whose fields use the supported types.
        data: Parsed JSON.
        where: What the data is, for messages (e.g. ``"checkpoint runs/x/final: env_spec"``).

    Raises:
        ValueError: ``data`` is not a mapping, misses a required field, has an unknown field or
            a value of the wrong type.
    """
    if not isinstance(data, dict):
        raise ValueError(f"{where} must be a JSON object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{where} has unknown fields {unknown}; expected only {sorted(fields)}")
    values = {}
    for name, field in fields.items():
        if name not in data:
            required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
            if required:
                raise ValueError(f"{where} is missing the field {name!r}")
            continue
        values[name] = _convert(hints[name], data[name], f"{where}.{name}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:  # the record's own validation
        raise ValueError(f"{where}: {error}") from None


def record_to_dict(record: object) -> dict[str, Any]:
    """A record as JSON-ready data (tuples become lists)."""
    return typing.cast(dict[str, Any], _jsonable(dataclasses.asdict(record)))  # type: ignore[call-overload]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _convert(kind: Any, value: object, where: str) -> Any:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _convert(option, value, where)
            except ValueError as error:
                errors.append(str(error))
        if len(errors) == 1:
            raise ValueError(errors[0])
        names = " or ".join(getattr(option, "__name__", str(option)) for option in options)
        raise ValueError(f"{where} must be {names}, got {value!r}")
    if origin is tuple:
        if not isinstance(value, list):
            raise ValueError(f"{where} must be a list, got {value!r}")
        return tuple(_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where} must be an object, got {value!r}")
        return {str(k): _convert(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(kind):
        return record_from_dict(typing.cast(type, kind), value, where)
    if kind is Any:
        return value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind in (int, float, str) and (isinstance(value, bool) or not isinstance(value, kind)):
        raise ValueError(f"{where} must be {kind.__name__}, got {value!r}")
    if kind is bool and not isinstance(value, bool):
        raise ValueError(f"{where} must be true or false, got {value!r}")
    return value
