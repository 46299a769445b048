"""Read a dataset, map it from its source schema, format it for TRL, drop over-long rows.

The pipeline is ``read_rows`` -> ``map_rows`` (``prefjudge.train.sources``) -> ``format_rows``
(:func:`prefjudge.formatting.trl.format_rows`, the formatter curation's exports use too: standard
strings rendered with a chat template, answers left for TRL to end with the eos token, or
conversational messages) -> ``drop_too_long`` (needs the tokenizer; TRL 1.16 has no
``max_prompt_length``, so prompts and pairs that do not fit are removed and counted here instead
of being silently truncated).

>>> rows = [{"question": "Hi?", "system": "", "chatgpt": "Hello.", "llama2-13b-chat": "Go."}]
>>> mapped = map_rows(rows, "orca_dpo_pairs")
>>> format_rows(mapped.turns, "standard", template="chatml")[0]["prompt"]
'<|im_start|>user\\nHi?<|im_end|>\\n<|im_start|>assistant\\n'
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefjudge.errors import ConfigError, InputError
from prefjudge.formatting.chat_templates import Render, renderer  # noqa: F401  (Render was defined here)
from prefjudge.formatting.trl import format_rows  # noqa: F401  (the one formatter; training calls it as D.format_rows)
from prefjudge.train.config import DataConfig
from prefjudge.train.sources import Turns, get_loader

DATA_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")
#: ``template_renderer(template, tokenizer)``: the one renderer (``"none"``: prompts already rendered,
#: used verbatim with turns joined by a blank line; None: the tokenizer's own chat template).
template_renderer = renderer


@dataclass
class Mapped:
    turns: list[Turns]
    dropped: Counter = field(default_factory=Counter)


def _read_file(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".jsonl":
        rows = []
        for i, line in enumerate(path.read_text().splitlines()):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise InputError(f"{path}: not valid JSON: {err.msg}", row=i) from None
        return rows
    if path.suffix == ".json":
        data = json.loads(path.read_text())
        return data if isinstance(data, list) else data.get("rows") or data.get("data") or []
    import pandas as pd

    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    return frame.to_dict(orient="records")


def _data_files(path: Path, split: str) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ConfigError(f"data.path does not exist: {path}")
    files = sorted(p for p in path.rglob("*") if p.suffix in DATA_SUFFIXES and p.is_file())
    files = [p for p in files if not p.name.startswith(("run", "manifest", "config"))]
    named = [p for p in files if p.stem.startswith(split)]
    if not (named or files):
        raise ConfigError(f"no data file ({', '.join(DATA_SUFFIXES)}) under {path}")
    return named or files


def _is_dataset_folder(path: Path) -> bool:
    """A folder ``datasets.load_dataset`` reads (e.g. a prefjudge curated export)."""
    return path.is_dir() and ((path / "README.md").is_file() or (path / "data").is_dir())


def _read_folder(path: Path, split: str) -> list[dict[str, Any]]:
    import datasets

    return list(datasets.load_dataset(str(path), split=split))


def _read_hub(cfg: DataConfig) -> list[dict[str, Any]]:
    """Load from the Hub, shuffled and capped the way the recipes' original tutorials do (``.shuffle(seed).select``)."""
    import datasets

    kwargs = {"split": cfg.split}
    if cfg.hub_config:
        kwargs["name"] = cfg.hub_config
    if cfg.hub_data_dir:
        kwargs["data_dir"] = cfg.hub_data_dir
    ds = datasets.load_dataset(cfg.hub_id, **kwargs)
    if cfg.shuffle_seed is not None:
        ds = ds.shuffle(seed=cfg.shuffle_seed)
    if cfg.max_rows:
        ds = ds.select(range(min(cfg.max_rows, len(ds))))
    return list(ds)


def read_rows(cfg: DataConfig, base_dir: Path | None = None) -> list[dict[str, Any]]:
    """Read raw rows, rename ``cfg.columns``, shuffle, cap.

    ``cfg.path`` may be a file (jsonl, json, parquet, csv), a folder ``datasets.load_dataset``
    reads (a prefjudge curated export: ``README.md`` + ``data/``), or a folder of data files.
    """
    if cfg.path is not None:
        path = Path(cfg.path)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if _is_dataset_folder(path):
            rows = _read_folder(path, cfg.split)
        else:
            rows = [r for f in _data_files(path, cfg.split) for r in _read_file(f)]
        if cfg.shuffle_seed is not None:
            random.Random(cfg.shuffle_seed).shuffle(rows)
        rows = rows[: cfg.max_rows] if cfg.max_rows else rows
    else:
        rows = _read_hub(cfg)
    if cfg.columns:
        rows = [_rename(row, cfg.columns, i) for i, row in enumerate(rows)]
    return rows


def _rename(row: dict[str, Any], columns: dict[str, str], i: int) -> dict[str, Any]:
    out = dict(row)
    for target, source in columns.items():
        if source not in row:
            raise InputError(f"column {source!r} (mapped to {target!r}) is missing", row=i, field=source)
        out[target] = row[source]
    return out


def map_rows(rows: list[dict[str, Any]], loader: str, filters: dict[str, Any] | None = None) -> Mapped:
    """Map raw rows with the named loader; rows a filter drops are counted by reason."""
    fn = get_loader(loader).map
    out = Mapped(turns=[])
    for i, row in enumerate(rows):
        try:
            result = fn(row, filters or {})
        except InputError as err:
            raise InputError(err.detail, row=i, field=err.field) from None
        if isinstance(result, str):
            out.dropped[result] += 1
        else:
            out.turns.append(result)
    return out


def _lengths(rows: list[dict], tokenizer: Any) -> list[tuple[int, int]]:
    """(prompt tokens, longest prompt+answer tokens) per row, tokenized as TRL does."""
    eos = tokenizer.eos_token or ""
    chat = renderer(None, tokenizer)

    def n(texts: list[str]) -> list[int]:
        return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]

    def ended(answer: str) -> str:  # TRL appends the eos token unless the answer already ends with it
        return answer if answer.endswith(eos) else answer + eos

    if "text" in rows[0] or "messages" in rows[0]:
        texts = [r["text"] if "text" in r else chat(r["messages"], False) for r in rows]
        return [(0, k) for k in n(texts)]
    conv = isinstance(rows[0]["prompt"], list)
    prompts = [chat(r["prompt"], True) if conv else r["prompt"] for r in rows]
    full = {
        key: [chat(r["prompt"] + r[key], False) if conv else r["prompt"] + ended(r[key]) for r in rows]
        for key in ("chosen", "rejected")
    }
    return list(zip(n(prompts), map(max, n(full["chosen"]), n(full["rejected"]))))


def drop_too_long(rows: list[dict], tokenizer: Any, max_length: int,
                  max_prompt_length: int | None = None) -> tuple[list[dict], int]:
    """Keep rows whose prompt+answer fits ``max_length`` (and prompt ``max_prompt_length``)."""
    if not rows:
        return rows, 0
    kept = [
        r for r, (p, full) in zip(rows, _lengths(rows, tokenizer))
        if full <= max_length and (max_prompt_length is None or p <= max_prompt_length)
    ]
    return kept, len(rows) - len(kept)


def split_rows(rows: list[dict], test_size: float, seed: int) -> tuple[list[dict], list[dict]]:
    """A seeded train/test split (``test_size`` is a fraction; at least one eval row if > 0)."""
    if test_size <= 0 or len(rows) < 2:
        return rows, []
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    n_test = max(1, round(len(rows) * test_size))
    test = set(order[:n_test])
    return [r for i, r in enumerate(rows) if i not in test], [r for i, r in enumerate(rows) if i in test]
