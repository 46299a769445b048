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

_WINNERS = {"a", "b", "tie"}
_ORDERS = {"ab", "ba"}


def empty_judgments() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({c: pd.Series(dtype="object") for c in JUDGMENT_COLUMNS})


def normalize_judgments(data: Any, *, families: dict[str, str] | None = None) -> pd.DataFrame:
    """Validate and complete a judgments table from a DataFrame, Dataset, list of dicts or path.

    Raises :class:`InputError` naming the row and field of the first bad value.
    """
    import pandas as pd

    df = _to_frame(data)
    missing = [c for c in REQUIRED_JUDGMENT_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"judgments table lacks required column(s) {missing}; it has {list(df.columns)}", field=missing[0])
    df = df.copy()
    for col in JUDGMENT_COLUMNS:
        if col not in df.columns:
            df[col] = None
    df["winner"] = df["winner"].astype(object).where(df["winner"].notna(), None)
    df["order"] = df["order"].astype(object).where(df["order"].notna(), None)
    for i, (w, o) in enumerate(zip(df["winner"], df["order"])):
        if w is not None and w not in _WINNERS:
            raise InputError(f"winner must be 'a', 'b', 'tie' or null, not {w!r}", row=i, field="winner")
        if o is not None and o not in _ORDERS:
            raise InputError(f"order must be 'ab', 'ba' or null, not {o!r}", row=i, field="order")
    df["pair_id"] = df["pair_id"].astype(str)
    df["judge"] = df["judge"].astype(str)
    fam = df["judge_family"].astype(object)
    df["judge_family"] = [f if isinstance(f, str) and f else infer_family(j, families) for f, j in zip(fam, df["judge"])]
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
