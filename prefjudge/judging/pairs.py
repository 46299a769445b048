"""Validate and normalize the pairs users pass to ``rank_pairs``.

Errors name the row and the field. :func:`normalize_pairs` checks every row before the first call;
:func:`iter_pairs` checks them as they are read (streaming runs).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator, Mapping
from typing import Any

from prefjudge.content import content_id
from prefjudge.errors import InputError
from prefjudge.judging.inputs import iter_rows
from prefjudge.judging.shard import Shard, in_shard
from prefjudge.textcheck import check_chars
from prefjudge.types import Message, Pair

REQUIRED = ("prompt", "response_a", "response_b")
OPTIONAL_STR = ("system", "model_a", "model_b")
KNOWN = set(REQUIRED) | set(OPTIONAL_STR) | {"id", "human"}
#: Input columns prefjudge computes itself: dropped from ``meta`` (e.g. when a ``to_pandas()`` table is judged again).
COMPUTED = {"identical"}
_HUMAN = {"a": "a", "b": "b", "tie": "tie", "1": "a", "2": "b", "1.5": "tie"}


def rows_of(data: Any) -> list[Mapping[str, Any]]:
    """Rows from a list of dicts, a pandas DataFrame, a ``datasets.Dataset``, any iterable of rows or a
    ``.jsonl``/``.parquet`` path (see :mod:`prefjudge.judging.inputs`).

    Column labels become strings (a DataFrame column ``0`` is the field ``"0"``); two labels that
    are equal as strings (duplicate columns, or ``0`` next to ``"0"``) are an InputError naming the field.
    """
    return list(iter_rows(data, "pairs"))


def _str_keys(row: Mapping, i: int) -> Mapping[str, Any]:
    """The row with string keys (``{0: x}`` becomes ``{"0": x}``); a key clash is an InputError."""
    if all(isinstance(k, str) for k in row):
        return row
    out: dict[str, Any] = {}
    for k, v in row.items():
        if str(k) in out:
            raise InputError("the field appears twice (as a number and a string)", row=i, field=str(k))
        out[str(k)] = v
    return out


def _missing(value: Any) -> bool:
    """None, float NaN, and pandas' NA/NaT."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    t = type(value)
    return t.__module__.startswith("pandas") and t.__name__ in ("NAType", "NaTType")


def _text(row: Mapping, i: int, field: str, *, required: bool) -> str | None:
    value = row.get(field)
    if _missing(value):
        if required:
            raise InputError("is missing" if field not in row else "is empty (null)", row=i, field=field)
        return None
    if not isinstance(value, str):
        raise InputError(f"must be a string, got {type(value).__name__}", row=i, field=field)
    if required and not value.strip():
        raise InputError("is an empty string", row=i, field=field)
    return check_chars(value, i, field)


def _prompt(row: Mapping, i: int) -> str | list[Message]:
    value = row.get("prompt")
    if isinstance(value, (list, tuple)) or (hasattr(value, "tolist") and not isinstance(value, str)):
        msgs = list(value.tolist() if hasattr(value, "tolist") else value)
        if not msgs:
            raise InputError("is an empty list of messages", row=i, field="prompt")
        return [_message(m, i, j) for j, m in enumerate(msgs)]
    return _text(row, i, "prompt", required=True)  # type: ignore[return-value]


def _message(m: Any, i: int, j: int) -> Message:
    """One chat message: string role and content; extra keys (e.g. ``name``) plain JSON scalars."""
    m = m.model_dump() if hasattr(m, "model_dump") else m
    if not isinstance(m, Mapping) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
        raise InputError(f"message {j} must be a dict with string 'role' and 'content'", row=i, field="prompt")
    clean = {}
    for key, value in m.items():
        if not isinstance(key, str) or not (value is None or isinstance(value, (str, int, float, bool))):
            raise InputError(f"message {j}: {key!r} must be a string or number, got {type(value).__name__}",
                             row=i, field="prompt")
        if isinstance(value, str):
            try:
                check_chars(value, i, "prompt")
            except InputError as e:
                raise InputError(f"message {j} {key!r} {e.detail}", row=i, field="prompt") from None
        clean[key] = value
    return Message(**clean)


def default_pair_id(prompt: str | list[Message], a: str, b: str, system: str | None) -> str:
    """Default pair id: a hash of the content, so the same pair gets the same id everywhere."""
    prompt_json = prompt if isinstance(prompt, str) else [m.model_dump() for m in prompt]
    return content_id(prompt_json, a, b, system, canonical=False)


def _human(row: Mapping, i: int) -> str | None:
    """'a'/'b'/'tie' (any case) or the numbers 1, 2, 1.5 (also as floats: a pandas column with a gap holds 1.0)."""
    value = row.get("human")
    if _missing(value):
        return None
    if isinstance(value, bool) or (type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_")):
        key = None  # True == 1 would otherwise read as "a"
    elif isinstance(value, str):
        key = value.strip().lower()
    else:
        try:
            key = {1.0: "1", 2.0: "2", 1.5: "1.5"}.get(float(value))
        except (TypeError, ValueError):
            key = None
    if key not in _HUMAN:
        raise InputError(f"must be 'a', 'b', 'tie' (or 1, 2, 1.5), got {value!r}", row=i, field="human")
    return _HUMAN[key]


def normalize_pairs(data: Any) -> list[Pair]:
    """Validated :class:`Pair` objects. Identical responses are flagged (``identical=True``)."""
    pairs = list(iter_pairs(data))
    if not pairs:
        raise InputError("no pairs given")
    return pairs


def iter_pairs(data: Any, shard: Shard | None = None, stats: dict[str, int] | None = None) -> Iterator[Pair]:
    """Validated pairs one by one, read lazily from ``data`` (rows, a table, a Dataset, a file).

    Every row is validated (an error names the row and the field, whatever the shard); only the
    pairs of ``shard`` are yielded. Ids are checked for duplicates with a compact set of their
    hashes (:class:`IdSet`), so a million ids take tens of MB, not the ids themselves.
    ``stats["rows"]``, when given, counts the rows read.
    """
    seen = IdSet()
    for i, row in enumerate(iter_rows(data, "pairs")):
        if stats is not None:
            stats["rows"] = i + 1
        pair = pair_from_row(row, i)
        if not in_shard(pair.id, shard):
            continue  # a duplicate id hashes to the same shard: the shard that keeps it sees both
        first = seen.add(pair.id, i)
        if first is not None:
            raise InputError(f"duplicate id {pair.id!r} (also row {first})", row=i, field="id")
        yield pair


def pair_from_row(row: Any, i: int) -> Pair:
    """One validated pair from the row numbered ``i`` (errors name the row and the field)."""
    if not isinstance(row, Mapping):
        raise InputError(f"must be a dict, got {type(row).__name__}", row=i)
    row = _str_keys(row, i)
    prompt = _prompt(row, i)
    a = _text(row, i, "response_a", required=True)
    b = _text(row, i, "response_b", required=True)
    opt = {f: _text(row, i, f, required=False) for f in OPTIONAL_STR}
    pid = row.get("id")
    pid = default_pair_id(prompt, a, b, opt["system"]) if _missing(pid) else check_chars(str(pid), i, "id")
    meta = {k: check_chars(v, i, k) for k, v in row.items() if k not in KNOWN and k not in COMPUTED}
    return Pair(id=pid, prompt=prompt, response_a=a, response_b=b, human=_human(row, i),  # type: ignore[arg-type]
                identical=a.strip() == b.strip(), meta=meta, **opt)  # type: ignore[arg-type]


class IdSet:
    """The ids seen so far, as 64-bit hashes in two flat arrays (open addressing, linear probing),
    each with the row it was first seen on: about 16-32 bytes per id, whatever the id's length.

    Two different ids whose hashes collide would be reported as a duplicate; with 64-bit hashes
    the chance is about n**2 / 2**65 (3e-6 for ten million ids). The hash is Python's own string
    hash: it differs between processes, which is fine for a set that lives for one run.

    >>> s = IdSet()
    >>> s.add("a", 0), s.add("b", 1), s.add("a", 2), len(s)
    (None, None, 0, 2)
    """

    def __init__(self, capacity: int = 1024):
        size = 1 << max(4, (capacity - 1).bit_length())
        self._keys = array("q", bytes(8 * size))
        self._rows = array("q", bytes(8 * size))  # row + 1; 0 marks an empty slot
        self._mask = size - 1
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def add(self, key: str, row: int) -> int | None:
        """Record ``key`` first seen on ``row``; returns the earlier row when it was seen before."""
        h = hash(key)
        keys, rows, mask = self._keys, self._rows, self._mask
        i = h & mask
        while True:
            r = rows[i]
            if r == 0:
                keys[i] = h
                rows[i] = row + 1
                self._n += 1
                if 3 * self._n > 2 * (mask + 1):
                    self._grow()
                return None
            if keys[i] == h:
                return r - 1
            i = (i + 1) & mask

    def _grow(self) -> None:
        old_keys, old_rows = self._keys, self._rows
        size = 2 * (self._mask + 1)
        keys, rows, mask = array("q", bytes(8 * size)), array("q", bytes(8 * size)), size - 1
        for h, r in zip(old_keys, old_rows):
            if r:
                i = h & mask
                while rows[i]:
                    i = (i + 1) & mask
                keys[i], rows[i] = h, r
        self._keys, self._rows, self._mask = keys, rows, mask
