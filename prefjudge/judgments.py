"""The judgments table: one row per judge call, in terms of the original a/b.

prefjudge writes it (``RankResult.judgments``) and reads it back from anywhere (JSONL, parquet,
pandas, ``datasets``): only ``pair_id``, ``judge`` and ``winner`` are required. Missing optional
columns are added as nulls, ``judge_family`` is inferred from the judge name.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InputError
from .families import infer_family
from .io import read_table, write_table
from .types import JUDGMENT_COLUMNS, REQUIRED_JUDGMENT_COLUMNS

if TYPE_CHECKING:
    import pandas as pd


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

    df = _to_frame(data)
    missing = [c for c in REQUIRED_JUDGMENT_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"judgments table lacks required column(s) {missing}; it has {list(df.columns)}", field=missing[0])
    df = df.copy(deep=False)  # columns are replaced, never changed in place
    for col in JUDGMENT_COLUMNS:
        if col not in df.columns:
            df[col] = None
    first_bad = []
    for col, allowed, what in (("winner", ("a", "b", "tie"), "'a', 'b', 'tie' or null"), ("order", ("ab", "ba"), "'ab', 'ba' or null")):
        df[col] = df[col].astype(object).where(df[col].notna(), None)
        bad = np.flatnonzero(~(df[col].isin(allowed) | df[col].isna()).to_numpy())
        if len(bad):
            first_bad.append((int(bad[0]), col, what))
    if first_bad:
        row, col, what = min(first_bad, key=lambda b: b[0])  # the first bad row; winner before order
        raise InputError(f"{col} must be {what}, not {df[col].iat[row]!r}", row=row, field=col)
    df["pair_id"] = df["pair_id"].astype(str)
    df["judge"] = df["judge"].astype(str)
    raw = df["judge_family"]
    if isinstance(raw.dtype, pd.StringDtype):
        given = (raw.notna() & raw.ne("")).fillna(False).astype(bool)
    else:
        given = raw.map(lambda f: isinstance(f, str) and bool(f)).astype(bool)
    if not given.all():
        codes, names = pd.factorize(df["judge"])
        inferred = np.array([infer_family(j, families) for j in names] + [None], dtype=object)[codes]
        df["judge_family"] = np.where(given.to_numpy(), raw.to_numpy(dtype=object), inferred)
    extra = [c for c in df.columns if c not in JUDGMENT_COLUMNS]
    return df[list(JUDGMENT_COLUMNS) + extra].reset_index(drop=True)


def _to_frame(data: Any) -> pd.DataFrame:
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, (str, Path)):
        return read_judgments_file(data)
    if hasattr(data, "to_pandas") and hasattr(data, "column_names"):  # datasets.Dataset
        return data.to_pandas()
    if hasattr(data, "judgments") and isinstance(getattr(data, "judgments"), pd.DataFrame):
        return data.judgments
    if isinstance(data, list):
        return pd.DataFrame(data)
    raise InputError(f"cannot read a judgments table from {type(data).__name__}")


def read_judgments_file(path: str | Path) -> pd.DataFrame:
    """Read a judgments table from .jsonl, .json, .parquet or .csv."""
    return read_table(path)


def write_judgments(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a judgments table as ``.jsonl`` or ``.parquet`` (chosen by suffix)."""
    return write_table(df, path)
