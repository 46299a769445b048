"""Text that cannot travel: lone surrogates (not encodable as UTF-8) and NUL characters.

A lone surrogate (``"\\ud800"``) passes ``isinstance(x, str)`` but fails when the text is encoded
for HTTP, JSON files, Arrow or SQLite; NUL (``"\\x00"``) is truncated or refused by many backends
and tools (C strings, Postgres, some tokenizers). Both are rejected before the first call, naming
the row and the field. Other control characters (tabs, ``\\x1b``...) are allowed.

>>> text_problem("fine\\ttext") is None
True
>>> text_problem("a\\x00b")
'contains a NUL character (\\\\x00) at position 1; NUL is not allowed in text (remove it, e.g. text.replace("\\\\x00", ""))'
>>> text_problem("ab\\ud800")
"contains a lone surrogate '\\\\ud800' at position 2, which is not valid Unicode text (decode the source with errors='replace')"
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prefjudge.errors import InputError


def text_problem(s: str, *, allow_nul: bool = False) -> str | None:
    """Why ``s`` cannot be sent or stored, or None when it is fine."""
    if not allow_nul:
        pos = s.find("\x00")
        if pos >= 0:
            return (f"contains a NUL character (\\x00) at position {pos}; NUL is not allowed in text "
                    '(remove it, e.g. text.replace("\\x00", ""))')
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as e:
        return (f"contains a lone surrogate {s[e.start]!r} at position {e.start}, which is not valid Unicode text "
                "(decode the source with errors='replace')")
    return None


def check_chars(value: Any, row: int | str | None, field: str, *, allow_nul: bool = False) -> Any:
    """Return ``value``; raise InputError naming row and field when it is a string :func:`text_problem` rejects."""
    if isinstance(value, str):
        problem = text_problem(value, allow_nul=allow_nul)
        if problem:
            raise InputError(problem, row=row, field=field)
    return value


def first_bad(values: Iterable[Any], *, allow_nul: bool = False, chunk: int = 20_000) -> tuple[int, str] | None:
    """(position, problem) of the first string in ``values`` that :func:`text_problem` rejects, else None.

    Fast on large columns: strings are joined in chunks and each chunk is checked with one C call;
    only a chunk with a problem is scanned value by value. Non-strings are skipped.

    >>> first_bad(["ok", 3, None, "x\\x00"])
    (3, 'contains a NUL character (\\\\x00) at position 1; NUL is not allowed in text (remove it, e.g. text.replace("\\\\x00", ""))')
    """
    vals = list(values) if not isinstance(values, list) else values
    for start in range(0, len(vals), chunk):
        part = vals[start:start + chunk]
        try:
            joined = "\n".join(part)
        except TypeError:  # not all strings
            joined = "\n".join(v for v in part if isinstance(v, str))
        if text_problem(joined, allow_nul=allow_nul) is None:
            continue
        for k, v in enumerate(part):
            if isinstance(v, str):
                problem = text_problem(v, allow_nul=allow_nul)
                if problem:
                    return start + k, problem
    return None
