"""Reading and writing tables by file suffix (.jsonl, .json, .parquet, .csv)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import InputError

if TYPE_CHECKING:
    import pandas as pd


def read_table(path: str | Path) -> pd.DataFrame:
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise InputError(f"no such file: {p}")
    if p.suffix == ".parquet":
        return pd.read_parquet(p)
    if p.suffix in (".jsonl", ".json"):
        try:
            return pd.read_json(p, lines=p.suffix == ".jsonl", dtype=False)
        except ValueError as e:
            raise InputError(f"{p}: not valid JSON{' lines' if p.suffix == '.jsonl' else ''} ({e})") from e
    if p.suffix == ".csv":
        return pd.read_csv(p, dtype=str, keep_default_na=False).replace({"": None})
    raise InputError(f"{p}: unknown file type {p.suffix!r} (use .jsonl, .json, .parquet or .csv)")


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``.jsonl`` or ``.parquet`` (chat-message columns become JSON text in parquet)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.suffix == ".parquet":
        out = df.copy()
        for col in out.columns:
            if out[col].map(lambda v: isinstance(v, list)).any():
                out[col] = [json.dumps(v) if isinstance(v, list) else v for v in out[col]]
        out.to_parquet(p, index=False)
    elif p.suffix == ".jsonl":
        df.to_json(p, orient="records", lines=True, force_ascii=False)
    else:
        raise InputError(f"{p}: write .jsonl or .parquet")
    return p
