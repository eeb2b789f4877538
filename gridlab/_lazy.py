"""Lazy package exports: a package's names are imported on first use, so importing it stays cheap.

A package lists its exports once, as ordinary imports under ``if TYPE_CHECKING:`` (what type
checkers and editors read), and ends with::

    __getattr__, __dir__, __all__ = lazy_exports(__name__, __file__)

``gridlab.env``'s solver and ``gridlab.training.TrainConfig`` then load without torch,
stable-baselines3, scikit-learn or captum, which keeps ``gridlab --help`` and ``gridlab solve`` fast.
"""

from __future__ import annotations

import ast
import importlib
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any


class _LazyPackage(types.ModuleType):
    """A package whose exported names win over its submodules of the same name.

    Importing ``gridlab.training.train`` binds the module as the package attribute ``train``;
    the export ``train`` (the function) must stay what ``gridlab.training.train`` names, as it
    did when packages imported their exports eagerly. The module stays in ``sys.modules``.
    """

    _lazy_names: frozenset[str] = frozenset()

    def __setattr__(self, name: str, value: Any) -> None:
        shadows_export = name in self._lazy_names and isinstance(value, types.ModuleType)
        if not (shadows_export and value.__name__ == f"{self.__name__}.{name}"):
            super().__setattr__(name, value)


def lazy_exports(
    package: str, init_file: str
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``__getattr__``, ``__dir__`` and ``__all__`` for ``package`` from the ``from X import Y``
    statements in the ``if TYPE_CHECKING:`` block of its ``__init__.py``."""
    exports: dict[str, tuple[str, str]] = {}
    for node in ast.parse(Path(init_file).read_text()).body:
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom) and statement.module is not None:
                    for alias in statement.names:
                        exports[alias.asname or alias.name] = (statement.module, alias.name)

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attribute = exports[name]
        value = getattr(importlib.import_module(module), attribute)
        setattr(sys.modules[package], name, value)  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    module = sys.modules[package]
    module.__class__ = _LazyPackage
    module._lazy_names = frozenset(exports)  # type: ignore[attr-defined]
    return __getattr__, __dir__, sorted(exports)
