"""Rows from whatever holds them, read lazily: a list or any iterable (a generator too), a pandas
DataFrame, a ``datasets.Dataset`` or ``IterableDataset``, or a ``.jsonl``/``.parquet`` path.

Files are never read whole: JSON lines one line at a time, parquet a record batch at a time
(``pyarrow.parquet.ParquetFile.iter_batches``). A Dataset is read in batches, a DataFrame in slices.
Row numbers in errors count records from 0, whatever the source.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from prefjudge.errors import InputError

BATCH_ROWS = 1024
"""Rows read at a time from a parquet file, a Dataset or a DataFrame."""
FILE_SUFFIXES = (".jsonl", ".parquet")


def is_path(data: Any) -> bool:
    """A ``Path``, or a string naming a ``.jsonl``/``.parquet`` file."""
    return isinstance(data, Path) or (isinstance(data, str) and data.lower().endswith(FILE_SUFFIXES))


def iter_rows(data: Any, what: str = "pairs") -> Iterator[Any]:
    """The rows of ``data`` one by one (dicts for tables and files; whatever an iterable yields)."""
    if is_path(data):
        return _file_rows(Path(data))
    if hasattr(data, "to_dict") and hasattr(data, "columns") and hasattr(data, "iloc"):  # pandas
        return _frame_rows(data)
    if hasattr(data, "column_names") and hasattr(data, "to_list") and hasattr(data, "iter"):  # datasets.Dataset
        return _dataset_rows(data)
    if isinstance(data, Mapping):
        raise InputError(f"{what} must be a list of rows, a DataFrame or a Dataset, not a single dict")
    if isinstance(data, Iterable) and not isinstance(data, (str, bytes)):
        return iter(data)  # lists, generators, datasets.IterableDataset (yields dicts)
    if isinstance(data, str):
        raise InputError(f"{what} must be rows (a list of dicts, a DataFrame, a Dataset) or a path ending in "
                         f".jsonl or .parquet, not the string {data[:60]!r}")
    raise InputError(f"{what} must be a list of dicts, a pandas DataFrame, a datasets.Dataset or a .jsonl/.parquet "
                     f"path, not {type(data).__name__}")


def known_length(data: Any) -> int | None:
    """The number of rows when it is known without reading them (a list, a table, a parquet file)."""
    if is_path(data):
        p = Path(data)
        if p.suffix.lower() == ".parquet" and p.is_file():
            try:
                import pyarrow.parquet as pq

                return pq.ParquetFile(p).metadata.num_rows
            except Exception:  # an unreadable file fails later, where its rows are read
                return None
        return None
    if hasattr(data, "__len__") and not isinstance(data, (str, bytes, Mapping)):
        try:
            return len(data)
        except TypeError:  # an IterableDataset may define __len__ and refuse it
            return None
    return None


def _frame_rows(df: Any) -> Iterator[dict]:
    from prefjudge.io import str_labels

    df = str_labels(df)
    for start in range(0, len(df), BATCH_ROWS):
        yield from df.iloc[start:start + BATCH_ROWS].to_dict(orient="records")


def _dataset_rows(ds: Any) -> Iterator[dict]:
    for batch in ds.iter(batch_size=BATCH_ROWS):
        cols = list(batch)
        if not cols:
            continue
        for k in range(len(batch[cols[0]])):
            yield {c: batch[c][k] for c in cols}


def _file_rows(p: Path) -> Iterator[dict]:
    if not p.is_file():
        raise InputError(f"no such file: {p}")
    if p.suffix.lower() == ".parquet":
        yield from _parquet_rows(p)
    else:
        yield from _jsonl_rows(p)


def _parquet_rows(p: Path) -> Iterator[dict]:
    import pyarrow.parquet as pq

    try:
        source = pq.ParquetFile(p)
    except Exception as exc:
        raise InputError(f"{p}: not a readable parquet file ({exc})") from exc
    for batch in source.iter_batches(batch_size=BATCH_ROWS):
        yield from batch.to_pylist()


def _jsonl_rows(p: Path) -> Iterator[dict]:
    """Records of a JSON-lines file, one line at a time (blank lines, CRLF and a byte order mark are fine)."""
    with open(p, encoding="utf-8-sig", newline="") as f:
        k = 0
        while True:
            try:
                line = f.readline()
            except UnicodeDecodeError as e:
                raise InputError(f"{p}: not UTF-8 text (line {k + 1})") from e
            if not line:
                return
            k += 1
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError as e:
                if not line.endswith("\n"):
                    raise InputError(f"{p}: line {k} is truncated (the file ends mid-record: an interrupted write?); "
                                     "remove that line or rewrite the file") from e
                raise InputError(f"{p}: line {k} is not valid JSON ({e})") from e
            if not isinstance(rec, dict):
                raise InputError(f"{p}: line {k} is a JSON {type(rec).__name__}, not an object (one record per line)")
            yield rec
