"""Lazy public names for packages: ``import prefjudge`` stays cheap, names load on first access.

Type checkers do not run ``__getattr__``: a package that uses :func:`lazy_exports` also imports
every exported name under ``if TYPE_CHECKING:`` (tests/test_public_api.py checks that it does).
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, namespace: dict[str, Any], exports: Mapping[str, str],
                 aliases: Mapping[str, str] | None = None,
                 deprecated: Mapping[str, str] | None = None) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level ``__getattr__`` and ``__dir__`` for ``package``.

    ``exports`` maps a public name to the module that defines it (absolute, or relative to
    ``package``); ``aliases`` maps a public name to the name it has in that module. A loaded name is
    cached in ``namespace`` (the package's globals), so later lookups are plain attribute reads.
    ``deprecated`` maps a name that moved to its new home (``"module.attribute"``): it still
    resolves, with a DeprecationWarning on every access, and is not listed by ``dir()``.
    """
    aliases = aliases or {}
    deprecated = deprecated or {}

    def __getattr__(name: str) -> Any:
        home = deprecated.get(name)
        if home is not None:
            warnings.warn(f"{package}.{name} is deprecated; import it from its home: {home}",
                          DeprecationWarning, stacklevel=2)
            home_module, _, attr = home.rpartition(".")
            return getattr(importlib.import_module(home_module), attr)
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), aliases.get(name, name))
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
