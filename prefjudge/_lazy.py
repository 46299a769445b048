"""Lazy public names for packages: ``import prefjudge`` stays cheap, names load on first access."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, namespace: dict[str, Any], exports: dict[str, str],
                 aliases: dict[str, str] | None = None) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level ``__getattr__`` and ``__dir__`` for ``package``.

    ``exports`` maps a public name to the module that defines it (absolute, or relative to
    ``package``); ``aliases`` maps a public name to the name it has in that module. A loaded name is
    cached in ``namespace`` (the package's globals), so later lookups are plain attribute reads.
    """
    aliases = aliases or {}

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), aliases.get(name, name))
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
