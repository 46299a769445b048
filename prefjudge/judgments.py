"""The judgments table: one row per judge call, in terms of the original a/b.

prefjudge writes it (``RankResult.judgments``) and reads it back from anywhere (JSONL, parquet,
pandas, ``datasets``): only ``pair_id``, ``judge`` and ``winner`` are required. Missing optional
columns are added as nulls, ``judge_family`` is inferred from the judge name.

Missing values are None, never NaN: the text and verdict columns (:data:`OBJECT_COLUMNS`) are
held with object dtype whatever dtype pandas would infer (pandas 3 infers a string dtype whose
missing value is NaN).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefjudge.errors import InputError
from prefjudge.families import infer_family
from prefjudge.io import none_for_missing, read_table, str_labels, write_table
from prefjudge.textcheck import first_bad
from prefjudge.types import JUDGMENT_COLUMNS, REQUIRED_JUDGMENT_COLUMNS

if TYPE_CHECKING:
    import pandas as pd


#: Columns held as Python objects with None for missing values (text, verdicts, p_a).
OBJECT_COLUMNS: tuple[str, ...] = (
    "pair_id", "prompt", "response_a", "response_b", "model_a", "model_b", "judge", "judge_family", "order",
    "winner", "p_a", "raw", "error", "human",
)
#: Text columns checked for lone surrogates and NUL (NUL is allowed in ``raw`` and ``error``:
#: they record what a backend returned).
TEXT_COLUMNS: tuple[str, ...] = (
    "pair_id", "judge", "judge_family", "prompt", "response_a", "response_b", "model_a", "model_b", "human",
)


_VERDICT_COLUMNS = frozenset({"winner", "order", "p_a", "error", "human", "judge_family"})


def as_objects(df: pd.DataFrame, columns: tuple[str, ...] | list[str] = OBJECT_COLUMNS) -> pd.DataFrame:
    """``df`` with each of ``columns`` it has turned to object dtype, None for missing (in place; returned)."""
    for col in columns:
        if col in df.columns:
            df[col] = none_for_missing(df[col])
    return df


def judgments_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The judgments table of ``rows`` (dicts of :data:`~prefjudge.types.JUDGMENT_COLUMNS`), failures None."""
    import pandas as pd

    if not rows:
        return empty_judgments()
    df = pd.DataFrame(rows, dtype=object)
    for col in ("latency_s", "prompt_tokens", "completion_tokens", "cost_usd"):
        if col in df.columns:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    return as_objects(df)


def empty_judgments() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({c: pd.Series(dtype="object") for c in JUDGMENT_COLUMNS})


def normalize_judgments(data: Any, *, families: dict[str, str] | None = None) -> pd.DataFrame:
    """Validate and complete a judgments table from a DataFrame, Dataset, list of dicts or path.

    Vectorized: values are checked with ``isin`` and families inferred once per judge, so a million
    rows take a fraction of a second. Raises :class:`InputError` naming the first bad row and field.
    """
    import numpy as np
    import pandas as pd

    df = str_labels(_to_frame(data))
    missing = [c for c in REQUIRED_JUDGMENT_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"judgments table lacks required column(s) {missing}; it has {list(df.columns)}", field=missing[0])
    df = df.copy(deep=False)  # columns are replaced, never changed in place
    added = [col for col in JUDGMENT_COLUMNS if col not in df.columns]
    for col in added:
        df[col] = None
    for col in OBJECT_COLUMNS:
        # Long text columns without a missing value keep their dtype (an Arrow string column stays
        # fast for the audit); every other one becomes objects with None for missing.
        if col not in added and (col in _VERDICT_COLUMNS or df[col].dtype == object or df[col].hasnans):
            df[col] = none_for_missing(df[col])
    bad_values = []
    for col, allowed, what in (("winner", ("a", "b", "tie"), "'a', 'b', 'tie' or null"), ("order", ("ab", "ba"), "'ab', 'ba' or null")):
        bad = np.flatnonzero(~(df[col].isin(allowed) | df[col].isna()).to_numpy())
        if len(bad):
            bad_values.append((int(bad[0]), col, what))
    if bad_values:
        row, col, what = min(bad_values, key=lambda b: b[0])  # the first bad row; winner before order
        raise InputError(f"{col} must be {what}, not {df[col].iat[row]!r}", row=row, field=col)
    for col in ("pair_id", "judge"):
        df[col] = _key_column(df[col], col)
    _check_text(df, skip=added)
    raw = df["judge_family"]
    if isinstance(raw.dtype, pd.StringDtype):
        given = (raw.notna() & raw.ne("")).fillna(False).astype(bool)
    else:
        given = raw.map(lambda f: isinstance(f, str) and bool(f)).astype(bool)
    if not given.all():
        codes, names = pd.factorize(df["judge"])
        inferred = np.array([infer_family(j, families) for j in names] + [None], dtype=object)[codes]
        df["judge_family"] = pd.Series(np.where(given.to_numpy(), raw.to_numpy(dtype=object), inferred), index=df.index,
                                       dtype=object)
    extra = [c for c in df.columns if c not in JUDGMENT_COLUMNS]
    return df[list(JUDGMENT_COLUMNS) + extra].reset_index(drop=True)


def _key_column(col: pd.Series, name: str) -> pd.Series:
    """``pair_id``/``judge`` as strings; a null or blank entry is an InputError naming its row."""
    import numpy as np
    import pandas as pd

    missing = np.flatnonzero(col.isna().to_numpy())
    if len(missing):
        raise InputError("is missing (null); every judgment needs a pair_id and a judge", row=int(missing[0]), field=name)
    out = col.astype(str)
    codes, uniq = pd.factorize(out)
    blank_codes = np.flatnonzero(np.array([not u.strip() for u in uniq], dtype=bool))
    if len(blank_codes):
        row = int(np.flatnonzero(np.isin(codes, blank_codes))[0])
        raise InputError(f"is blank ({col.iat[row]!r})", row=row, field=name)
    return out


def _check_text(df: pd.DataFrame, skip: list[str]) -> None:
    """Refuse lone surrogates (everywhere) and NUL (outside raw/error), naming the first bad row and column."""
    found = []
    for col in (*TEXT_COLUMNS, "raw", "error"):
        if col in skip:
            continue
        allow_nul = col in ("raw", "error")
        arrow = _arrow_text(df[col])
        if arrow is not None:  # Arrow holds valid UTF-8 only: just look for NUL
            if allow_nul or not _may_hold_nul(arrow):
                continue
        if arrow is None and df[col].isna().all():
            continue
        values = df[col].tolist()
        if col == "prompt":  # chat prompts: check every message's text
            values = [_message_text(v) for v in values]
        hit = first_bad(values, allow_nul=allow_nul)
        if hit is not None:
            found.append((hit[0], col, hit[1]))
    if found:
        row, col, problem = min(found, key=lambda f: f[0])
        raise InputError(problem, row=row, field=col)


def _arrow_text(col: pd.Series) -> Any:
    """The column's Arrow string data when it is an Arrow-backed string column, else None."""
    arr = getattr(col, "array", None)
    if not hasattr(arr, "__arrow_array__"):
        return None
    data = arr.__arrow_array__()
    return data if str(data.type) in ("string", "large_string") else None


def _may_hold_nul(chunked: Any) -> bool:
    """False when no zero byte is in the data buffers of an Arrow string column (in UTF-8 a zero
    byte is always the NUL character). A buffer shared with a larger array may give a false True."""
    import numpy as np

    for chunk in getattr(chunked, "chunks", [chunked]):
        data = chunk.buffers()[2] if len(chunk.buffers()) > 2 else None
        if data is not None and data.size:
            raw = np.frombuffer(data, dtype=np.uint8)
            if np.count_nonzero(raw) != raw.size:
                return True
    return False


def _message_text(v: Any) -> Any:
    if isinstance(v, str) or v is None:
        return v
    if hasattr(v, "tolist"):
        v = v.tolist()
    if isinstance(v, list):
        return "\n".join(str(x) if not isinstance(x, dict) else "\n".join(str(y) for y in x.values() if isinstance(y, str))
                         for x in v)
    return None


def _to_frame(data: Any) -> pd.DataFrame:
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, (str, Path)):
        return read_judgments_file(data)
    if hasattr(data, "to_pandas") and hasattr(data, "column_names"):  # datasets.Dataset
        return data.to_pandas()
    if hasattr(data, "judgments") and isinstance(data.judgments, pd.DataFrame):
        return data.judgments
    if isinstance(data, list):
        try:
            return pd.DataFrame(data)
        except UnicodeEncodeError:  # pandas 3 refuses lone surrogates in str columns: keep objects, report the row below
            return pd.DataFrame(data, dtype=object)
    raise InputError(f"cannot read a judgments table from {type(data).__name__}")


def read_judgments_file(path: str | Path) -> pd.DataFrame:
    """Read a judgments table from .jsonl, .json, .parquet or .csv (failures None, see :func:`as_objects`)."""
    return as_objects(read_table(path))


def write_judgments(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a judgments table as ``.jsonl`` or ``.parquet`` (chosen by suffix)."""
    return write_table(df, path)
