"""Validate and normalize the pairs users pass to ``rank_pairs``.

Everything is checked before the first call: errors name the row and the field.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from prefjudge.content import content_id
from prefjudge.errors import InputError
from prefjudge.io import str_labels
from prefjudge.textcheck import check_chars
from prefjudge.types import Message, Pair

REQUIRED = ("prompt", "response_a", "response_b")
OPTIONAL_STR = ("system", "model_a", "model_b")
KNOWN = set(REQUIRED) | set(OPTIONAL_STR) | {"id", "human"}
#: Input columns prefjudge computes itself: dropped from ``meta`` (e.g. when a ``to_pandas()`` table is judged again).
COMPUTED = {"identical"}
_HUMAN = {"a": "a", "b": "b", "tie": "tie", "1": "a", "2": "b", "1.5": "tie"}


def rows_of(data: Any) -> list[Mapping[str, Any]]:
    """Rows from a list of dicts, a pandas DataFrame or a ``datasets.Dataset``.

    Column labels become strings (a DataFrame column ``0`` is the field ``"0"``); two labels that
    are equal as strings (duplicate columns, or ``0`` next to ``"0"``) are an InputError naming the field.
    """
    if hasattr(data, "to_dict") and hasattr(data, "columns"):  # pandas
        return str_labels(data).to_dict(orient="records")
    if hasattr(data, "column_names") and hasattr(data, "to_list"):  # datasets.Dataset
        return data.to_list()
    if isinstance(data, Mapping):
        raise InputError("pairs must be a list of rows, a DataFrame or a Dataset, not a single dict")
    if isinstance(data, Iterable) and not isinstance(data, (str, bytes)):
        return list(data)
    raise InputError(f"pairs must be a list of dicts, a pandas DataFrame or a datasets.Dataset, not {type(data).__name__}")


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
    rows = rows_of(data)
    if not rows:
        raise InputError("no pairs given")
    pairs, seen = [], {}
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise InputError(f"must be a dict, got {type(row).__name__}", row=i)
        row = _str_keys(row, i)
        prompt = _prompt(row, i)
        a = _text(row, i, "response_a", required=True)
        b = _text(row, i, "response_b", required=True)
        opt = {f: _text(row, i, f, required=False) for f in OPTIONAL_STR}
        pid = row.get("id")
        pid = default_pair_id(prompt, a, b, opt["system"]) if _missing(pid) else check_chars(str(pid), i, "id")
        if pid in seen:
            raise InputError(f"duplicate id {pid!r} (also row {seen[pid]})", row=i, field="id")
        seen[pid] = i
        meta = {k: check_chars(v, i, k) for k, v in row.items() if k not in KNOWN and k not in COMPUTED}
        pairs.append(Pair(id=pid, prompt=prompt, response_a=a, response_b=b, human=_human(row, i),
                          identical=a.strip() == b.strip(), meta=meta, **opt))
    return pairs
