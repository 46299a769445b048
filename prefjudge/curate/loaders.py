"""Loaders: read a preference dataset (Hub id, file, folder, table) and map it to prompt/chosen/rejected.

The known source schemas and their mappings live in :mod:`prefjudge.formatting.schemas` (one
mapping per source, for curation and training alike).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefjudge.curate.filters import Filter
from prefjudge.errors import InputError, PrefjudgeError
from prefjudge.formatting.rows import to_frame
from prefjudge.formatting.schemas import HUB_IDS, SCHEMAS, SOURCE_PREFIX, Row, detect_schema  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    import datasets

log = logging.getLogger(__name__)

def load_preferences(source: Any, *, schema: str | None = None, split: str | None = None, data_files: Any = None,
                     on_error: str = "raise", limit: int | None = None, **load_kwargs: Any) -> datasets.Dataset:
    """Load a preference dataset and map it to prompt/chosen/rejected (+system, +models).

    ``source``: a Hub id (schema known for the ids in :data:`HUB_IDS`), a local file (.parquet,
    .jsonl, .json, .csv) or directory, a DataFrame, a ``datasets.Dataset`` or a list of dicts.
    ``data_files``: local files to read instead of downloading a Hub id (the schema still comes from the id).
    ``on_error``: ``"raise"`` (default) stops at the first bad row naming row and field; ``"skip"``
    drops bad rows and logs how many.
    """
    import datasets

    if on_error not in ("raise", "skip"):
        raise InputError(f"on_error must be 'raise' or 'skip', not {on_error!r}", field="on_error")
    raw, hub_schema = _read(source, split, data_files, load_kwargs)
    df = to_frame(raw)
    if limit is not None:
        df = df.iloc[:limit]
    records = df.to_dict("records")
    name = schema or hub_schema or detect_schema(list(df.columns), records[0] if records else None)
    if name not in SCHEMAS:
        raise InputError(f"unknown schema {name!r}; known: {sorted(SCHEMAS)}", field="schema")
    rows = _map_rows(records, SCHEMAS[name], on_error, name)
    ds = datasets.Dataset.from_list(rows) if rows else datasets.Dataset.from_dict({k: [] for k in ("prompt", "chosen", "rejected")})
    ds.info.description = f"{SOURCE_PREFIX}{source if isinstance(source, (str, Path)) else type(source).__name__} (schema {name})"
    return ds


def _map_rows(records: list[Row], fn: Callable[[Row, int], Row], on_error: str, name: str) -> list[Row]:
    rows, skipped = [], []
    for i, r in enumerate(records):
        try:
            rows.append(fn(r, i))
        except KeyError as e:
            raise InputError(f"schema {name!r} needs column {e.args[0]!r}", row=i, field=str(e.args[0])) from e
        except InputError as e:
            if on_error == "raise":
                raise
            skipped.append(str(e))
    if skipped:
        log.warning("skipped %d bad row(s) of %d; first: %s", len(skipped), len(records), skipped[0])
    return rows


def _read(source: Any, split: str | None, data_files: Any, kwargs: dict) -> tuple[Any, str | None]:
    """The raw table and, for a known Hub id, its schema."""
    import datasets

    if not isinstance(source, (str, Path)):
        return source, None
    known = HUB_IDS.get(str(source))
    path = Path(source)
    try:
        if data_files is not None:
            return _read_files(data_files, split or "train", kwargs), known[0] if known else None
        if path.exists():
            return (_read_files(str(path), split or "train", kwargs) if path.is_file()
                    else datasets.load_dataset(str(path), split=split or "train", **kwargs)), None
        if re.fullmatch(r"[\w.-]+/[\w.-]+", str(source)):
            return datasets.load_dataset(str(source), split=split or (known[1] if known else "train"), **kwargs), \
                known[0] if known else None
    except PrefjudgeError:
        raise
    except Exception as e:  # network, auth or format errors from datasets: say what was tried
        raise InputError(f"could not load {source!r}: {type(e).__name__}: {e}. Without network, pass local files: "
                         f"load_preferences({str(source)!r}, data_files='path.parquet')", field="source") from e
    raise InputError(f"no such file or directory, and not a Hub id: {source!r}", field="source")


def _read_files(files: Any, split: str, kwargs: dict) -> Any:
    import datasets

    first = files if isinstance(files, str) else next(iter(files.values() if isinstance(files, dict) else files))
    suffix = Path(str(first)).suffix.lower()
    builder = {".parquet": "parquet", ".jsonl": "json", ".json": "json", ".csv": "csv"}.get(suffix)
    if builder is None:
        raise InputError(f"unknown data file type {suffix!r} (use .parquet, .jsonl, .json or .csv)", field="data_files")
    if isinstance(files, dict):
        return datasets.load_dataset(builder, data_files=files, split=split, **kwargs)
    return datasets.load_dataset(builder, data_files=files, split="train", **kwargs)


def distilabel_orca_filters(min_chosen_score: float = 8.0) -> list[Filter]:
    """The usual filters for argilla/distilabel-intel-orca-dpo-pairs (the TinyLlama recipe's), as
    reported Filters: status != "tie", chosen_score >= ``min_chosen_score``, not in_gsm8k_train
    (13k -> about 6k rows)."""
    return _distilabel_orca(min_chosen_score)


def seed_filters(schema: str = "distilabel_orca", min_chosen_score: float = 8.0) -> list[Filter]:
    """Deprecated name of :func:`distilabel_orca_filters`."""
    import warnings

    warnings.warn("seed_filters() is deprecated; use prefjudge.curate.distilabel_orca_filters()",
                  DeprecationWarning, stacklevel=2)
    name = HUB_IDS.get(schema, (schema,))[0]
    if name != "distilabel_orca":
        raise InputError(f"these filters are defined for distilabel_orca, not {schema!r}", field="schema")
    return _distilabel_orca(min_chosen_score)


def _distilabel_orca(min_chosen_score: float) -> list[Filter]:
    return [
        Filter("status_not_tie", "the rater scored both answers equally (status == 'tie')", lambda r: r["status"] != "tie"),
        Filter("min_chosen_score", f"chosen_score below {min_chosen_score:g}",
               lambda r: r["chosen_score"] is not None and r["chosen_score"] >= min_chosen_score),
        Filter("not_in_gsm8k_train", "the prompt is in the GSM8K train set", lambda r: not r["in_gsm8k_train"]),
    ]
