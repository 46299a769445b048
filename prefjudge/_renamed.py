"""Keyword arguments that were renamed: the old name still works, with a DeprecationWarning.

>>> @renamed_kwargs(rule="aggregate")
... def f(table, *, aggregate="majority"):
...     return aggregate
>>> import warnings
>>> with warnings.catch_warnings(record=True) as w:
...     warnings.simplefilter("always")
...     f(None, rule="mean"), str(w[0].message)
('mean', 'f(rule=...) is deprecated; use f(aggregate=...)')

``inspect.signature`` and type checkers see the function's own signature (the new names only).
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from typing import Any, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])


def renamed_kwargs(**old_to_new: str) -> Callable[[F], F]:
    """Decorator: accept each old keyword ``old`` as ``new`` (both given: TypeError)."""

    def decorate(fn: F) -> F:
        def fix(kwargs: dict[str, Any]) -> None:
            for old, new in old_to_new.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(f"{fn.__name__}() got both {old!r} (the old name) and {new!r}")
                    warnings.warn(f"{fn.__name__}({old}=...) is deprecated; use {fn.__name__}({new}=...)",
                                  DeprecationWarning, stacklevel=3)
                    kwargs[new] = kwargs.pop(old)

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                fix(kwargs)
                return await fn(*args, **kwargs)

            return cast(F, async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            fix(kwargs)
            return fn(*args, **kwargs)

        return cast(F, wrapper)

    return decorate
