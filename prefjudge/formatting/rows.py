"""The working table of curation: one row per preference pair, validated, in plain Python values.

Everything ``to_preferences`` accepts (a :class:`~prefjudge.result.RankResult`, the result of
``rank_responses``, or a table that already has ``prompt``/``chosen``/``rejected``) becomes this
table first. Its columns are :data:`WORK_COLUMNS` plus any extra input columns. ``prompt`` is a
string or a list of ``{"role", "content"}`` dicts; ``chosen``/``rejected`` are non-empty strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from prefjudge.errors import InputError
from prefjudge.textcheck import check_chars

if TYPE_CHECKING:
    import pandas as pd

WORK_COLUMNS: tuple[str, ...] = (
    "id", "prompt", "system", "chosen", "rejected", "winner", "margin", "agreement", "consistent",
    "judges", "model_chosen", "model_rejected",
)


def is_missing(value: Any) -> bool:
    """True for None and float NaN (pandas' missing value), False for everything else."""
    return value is None or (isinstance(value, float) and value != value)


def check_text(value: Any, row: int | str, field: str, *, allow_empty: bool = False) -> str:
    """Return ``value`` if it is a (non-empty) string, else raise an InputError naming row and field.

    Lone surrogates and NUL characters are refused too (see :mod:`prefjudge.textcheck`)."""
    if is_missing(value):
        raise InputError("value is missing", row=row, field=field)
    if not isinstance(value, str):
        raise InputError(f"expected a string, got {type(value).__name__} ({value!r:.60})", row=row, field=field)
    if not allow_empty and not value.strip():
        raise InputError("empty text", row=row, field=field)
    return check_chars(value, row, field)


def as_messages(value: Any, row: int | str, field: str) -> list[dict[str, str]]:
    """Validate a chat message list (dicts or pydantic messages) into plain ``{"role","content"}`` dicts."""
    if hasattr(value, "tolist"):  # numpy arrays out of pandas/arrow
        value = value.tolist()
    if not isinstance(value, list) or not value:
        raise InputError(f"expected a non-empty list of chat messages, got {type(value).__name__}", row=row, field=field)
    out = []
    for i, m in enumerate(value):
        m = m.model_dump() if hasattr(m, "model_dump") else m
        if not isinstance(m, Mapping) or "role" not in m or "content" not in m:
            raise InputError(f"message {i} must have 'role' and 'content'", row=row, field=field)
        role = check_text(m["role"], row, f"{field}[{i}].role")
        out.append({"role": role, "content": check_text(m["content"], row, f"{field}[{i}].content")})
    return out


def check_prompt(value: Any, row: int | str) -> str | list[dict[str, str]]:
    """A prompt is a non-empty string or a non-empty list of chat messages."""
    if isinstance(value, str) or is_missing(value):
        return check_text(value, row, "prompt")
    return as_messages(value, row, "prompt")


def answer_text(value: Any, row: int | str, field: str) -> str:
    """An answer as text: a string, or the content of the last (assistant) message of a list."""
    if isinstance(value, str) or is_missing(value):
        return check_text(value, row, field)
    msgs = as_messages(value, row, field)
    if msgs[-1]["role"] != "assistant":
        raise InputError(f"the last message must be the assistant's answer, not {msgs[-1]['role']!r}", row=row, field=field)
    return msgs[-1]["content"]


def require_columns(df: pd.DataFrame, needed: tuple[str, ...], what: str) -> None:
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise InputError(f"{what} lacks required column(s) {missing}; it has {list(df.columns)}", field=missing[0])


def to_frame(data: Any) -> pd.DataFrame:
    """A pandas DataFrame from a DataFrame, ``datasets.Dataset``, list of dicts or dict of lists.

    Column labels become strings; two labels equal as strings (duplicates) are an InputError."""
    import pandas as pd

    from prefjudge.io import str_labels

    if isinstance(data, pd.DataFrame):
        return str_labels(data.reset_index(drop=True))
    if hasattr(data, "to_pandas") and hasattr(data, "column_names"):
        return data.to_pandas()
    if isinstance(data, list):
        bad = next((i for i, r in enumerate(data) if not isinstance(r, Mapping)), None)
        if bad is not None:
            raise InputError(f"expected a dict per row, got {type(data[bad]).__name__}", row=bad)
        return str_labels(_frame(list(data)))
    if isinstance(data, Mapping):
        return str_labels(_frame(dict(data)))
    raise InputError(f"cannot read a table from {type(data).__name__}; pass a DataFrame, Dataset or list of dicts")


def _frame(data: Any) -> pd.DataFrame:
    import pandas as pd

    try:
        return pd.DataFrame(data)
    except UnicodeEncodeError:  # pandas 3 refuses lone surrogates in str columns: keep objects, the row check names it
        return pd.DataFrame(data, dtype=object)


def clean_optional(value: Any) -> Any:
    """None for missing values, plain Python scalars for numpy ones."""
    if is_missing(value):
        return None
    return value.item() if hasattr(value, "item") and not isinstance(value, (list, dict)) else value
