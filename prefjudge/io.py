"""Reading and writing tables by file suffix (.jsonl, .json, .parquet, .csv).

Text columns come back with object dtype and None for missing values (never NaN, whatever dtype
pandas would infer); column labels are strings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefjudge.errors import InputError

if TYPE_CHECKING:
    import pandas as pd


def read_table(path: str | Path) -> pd.DataFrame:
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise InputError(f"no such file: {p}")
    if p.suffix == ".parquet":
        df = pd.read_parquet(p)
    elif p.suffix == ".jsonl":
        df = _frame(read_jsonl(p))
    elif p.suffix == ".json":
        from io import StringIO

        try:
            df = pd.read_json(StringIO(_text(p)), dtype=False)
        except ValueError as e:
            raise InputError(f"{p}: not valid JSON ({e})") from e
    elif p.suffix == ".csv":
        df = pd.read_csv(p, dtype=str, keep_default_na=False, encoding="utf-8-sig").replace({"": None})
    else:
        raise InputError(f"{p}: unknown file type {p.suffix!r} (use .jsonl, .json, .parquet or .csv)")
    return text_as_objects(str_labels(df))


def _text(p: Path) -> str:
    """The file as text; a UTF-8 byte order mark is dropped."""
    try:
        return p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"{p}: not UTF-8 text (bad byte at offset {e.start})") from e


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines file. Blank lines, CRLF and a byte order mark are fine; a line that
    is not a JSON object is an InputError naming it (a truncated last line says so)."""
    p = Path(path)
    text = _text(p)
    lines = text.split("\n")
    last = max((k for k, line in enumerate(lines) if line.strip()), default=-1)
    out = []
    for k, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError as e:
            if k == last and not text.endswith("\n"):
                raise InputError(f"{p}: line {k + 1} is truncated (the file ends mid-record: an interrupted write?); "
                                 "remove that line or rewrite the file") from e
            raise InputError(f"{p}: line {k + 1} is not valid JSON ({e})") from e
        if not isinstance(rec, dict):
            raise InputError(f"{p}: line {k + 1} is a JSON {type(rec).__name__}, not an object (one record per line)")
        out.append(rec)
    return out


def _frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    try:
        return pd.DataFrame.from_records(records) if records else pd.DataFrame()
    except UnicodeEncodeError:  # a lone surrogate (from a JSON escape): keep objects, validation names the row
        return pd.DataFrame(records, dtype=object)


def str_labels(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with string column labels (``0`` becomes ``"0"``); labels equal as strings are an InputError."""
    labels = [str(c) for c in df.columns]
    seen: set[str] = set()
    for label in labels:
        if label in seen:
            raise InputError("the column appears twice (as the same name, or as a number and a string); "
                             "rename or drop one", field=label)
        seen.add(label)
    if any(not isinstance(c, str) for c in df.columns):
        df = df.set_axis(labels, axis=1)
    return df


def none_for_missing(values: Any) -> pd.Series:
    """``values`` as an object Series whose missing entries (None, NaN, NA) are None.

    >>> import pandas as pd
    >>> none_for_missing(pd.Series(["a", None])).tolist()
    ['a', None]
    """
    import pandas as pd

    s = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
    arr = s.to_numpy(dtype=object, copy=True)
    arr[pd.isna(arr)] = None
    return pd.Series(arr, index=s.index, dtype=object, name=s.name)


def text_as_objects(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its string and object columns as object dtype, None for missing (in place; returned)."""
    import pandas as pd

    for col in df.columns:
        dtype = df[col].dtype
        if pd.api.types.is_object_dtype(dtype) or isinstance(dtype, pd.StringDtype):
            df[col] = none_for_missing(df[col])
    return df


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``.jsonl`` or ``.parquet`` (chat-message columns become JSON text in parquet)."""
    p = Path(path)
    if p.suffix not in (".parquet", ".jsonl"):
        raise InputError(f"{p}: write .jsonl or .parquet")
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.suffix == ".parquet":
        out = df.copy()
        for col in out.columns:
            if out[col].map(lambda v: isinstance(v, list)).any():
                out[col] = [json.dumps(v) if isinstance(v, list) else v for v in out[col]]
        out.to_parquet(p, index=False)
    else:
        df.to_json(p, orient="records", lines=True, force_ascii=False)
    return p
