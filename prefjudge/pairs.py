"""Validate and normalize the pairs users pass to ``rank_pairs``.

Everything is checked before the first call: errors name the row and the field.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import InputError
from .types import Message, Pair

REQUIRED = ("prompt", "response_a", "response_b")
OPTIONAL_STR = ("system", "model_a", "model_b")
KNOWN = set(REQUIRED) | set(OPTIONAL_STR) | {"id", "human"}
_HUMAN = {"a": "a", "b": "b", "tie": "tie", "1": "a", "2": "b", "1.5": "tie"}


def rows_of(data: Any) -> list[Mapping[str, Any]]:
    """Rows from a list of dicts, a pandas DataFrame or a ``datasets.Dataset``."""
    if hasattr(data, "to_dict") and hasattr(data, "columns"):  # pandas
        return data.to_dict(orient="records")
    if hasattr(data, "column_names") and hasattr(data, "to_list"):  # datasets.Dataset
        return data.to_list()
    if isinstance(data, Mapping):
        raise InputError("pairs must be a list of rows, a DataFrame or a Dataset, not a single dict")
    if isinstance(data, Iterable) and not isinstance(data, (str, bytes)):
        return list(data)
    raise InputError(f"pairs must be a list of dicts, a pandas DataFrame or a datasets.Dataset, not {type(data).__name__}")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


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
    return value


def _prompt(row: Mapping, i: int) -> str | list[Message]:
    value = row.get("prompt")
    if isinstance(value, (list, tuple)) or (hasattr(value, "tolist") and not isinstance(value, str)):
        msgs = list(value.tolist() if hasattr(value, "tolist") else value)
        if not msgs:
            raise InputError("is an empty list of messages", row=i, field="prompt")
        out = []
        for j, m in enumerate(msgs):
            if not isinstance(m, Mapping) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
                raise InputError(f"message {j} must be a dict with string 'role' and 'content'", row=i, field="prompt")
            out.append(Message(**m))
        return out
    return _text(row, i, "prompt", required=True)  # type: ignore[return-value]


def content_id(prompt: Any, a: str, b: str, system: str | None) -> str:
    """Default pair id: a hash of the content, so the same pair gets the same id everywhere."""
    blob = json.dumps([prompt if isinstance(prompt, str) else [m.model_dump() for m in prompt], a, b, system])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _human(row: Mapping, i: int) -> str | None:
    value = row.get("human")
    if _missing(value):
        return None
    key = str(value).strip().lower()
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
        prompt = _prompt(row, i)
        a = _text(row, i, "response_a", required=True)
        b = _text(row, i, "response_b", required=True)
        opt = {f: _text(row, i, f, required=False) for f in OPTIONAL_STR}
        pid = row.get("id")
        pid = content_id(prompt, a, b, opt["system"]) if _missing(pid) else str(pid)
        if pid in seen:
            raise InputError(f"duplicate id {pid!r} (also row {seen[pid]})", row=i, field="id")
        seen[pid] = i
        meta = {k: v for k, v in row.items() if k not in KNOWN}
        pairs.append(Pair(id=pid, prompt=prompt, response_a=a, response_b=b, human=_human(row, i),
                          identical=a.strip() == b.strip(), meta=meta, **opt))
    return pairs
