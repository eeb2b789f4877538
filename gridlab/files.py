"""File helpers shared by puzzle banks, checkpoints, runs and results: atomic writes, versioned
JSON, and new folders that never reuse another job's."""

from __future__ import annotations

import itertools
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> None:
    """Write a file so that readers see the old content or the new, never a partial one.

    ``write(f)`` fills a hidden temporary file beside ``path``; it is fsynced and renamed over
    ``path``. On any error (Ctrl-C included) the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | os.PathLike, data: Any, **dump_kwargs: Any) -> None:
    """`atomic_write` of ``json.dumps(data, indent=2)``."""
    text = json.dumps(data, indent=2, **dump_kwargs).encode()
    atomic_write(path, lambda f: f.write(text))


def read_versioned_json(path: Path, missing: str, newest_version: int) -> dict[str, Any]:
    """Read a JSON file with a ``format_version`` field this gridlab can read.

    Args:
        path: The file.
        missing: Message of the ``FileNotFoundError`` raised when it does not exist.
        newest_version: Highest format version this gridlab reads.

    Raises:
        FileNotFoundError: No such file.
        ValueError: Not JSON, no version, or a version newer than ``newest_version``.
    """
    if not path.is_file():
        raise FileNotFoundError(missing)
    try:
        data = json.loads(path.read_text())
        version = int(data["format_version"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f"corrupt {path}: {error}") from None
    if version > newest_version:
        raise ValueError(
            f"{path} has format version {version}, newer than this gridlab reads ({newest_version}); "
            "upgrade gridlab"
        )
    return data


def new_folder(base: str | os.PathLike, numbered: bool = True) -> Path:
    """Create a folder no other job has used, and return it: ``base``, or the first free of
    ``base-2``, ``base-3``, ... Creating it is the claim (``mkdir`` is atomic), so two jobs started
    together never share one.

    Args:
        base: The folder wanted.
        numbered: Take a numbered sibling when ``base`` exists; otherwise raise.

    Raises:
        FileExistsError: ``base`` exists and ``numbered`` is False.
    """
    base = Path(base)
    base.parent.mkdir(parents=True, exist_ok=True)
    siblings = (base.with_name(f"{base.name}-{n}") for n in itertools.count(2))
    for folder in itertools.chain([base], siblings if numbered else []):
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise FileExistsError(f"{base} already exists")
