"""Read a dataset, map it from its source schema, format it for TRL, drop over-long rows.

The pipeline is ``read_rows`` -> ``map_rows`` (``prefjudge.train.sources``) -> ``format_rows``
(:func:`prefjudge.formatting.trl.format_rows`, the formatter curation's exports use too: standard
strings rendered with a chat template, answers left for TRL to end with the eos token, or
conversational messages) -> ``fit_lengths`` (needs the tokenizer): rows longer than
``max_length`` tokens, or with a prompt over ``max_prompt_length``, are truncated as the source
recipes' TRL did (``data.too_long: truncate``) or dropped (``drop``), and counted either way.

Truncation, as the seeds' TRL (0.7-0.11) ``DPOTrainer`` did it and TRL 1.16 still does at
``max_length``: when a pair does not fit ``max_length``, its prompt is first cut to its last
``max_prompt_length`` tokens (old TRL's default ``truncation_mode="keep_end"``; TRL 1.16 has no
``max_prompt_length``, so prefjudge cuts the prompt text itself, at a token boundary), then the
trainer cuts prompt + answer at ``max_length``, keeping the start (TRL 1.16's ``keep_start``; the
answer's end goes). A prompt that still fills ``max_length`` leaves no room for an answer: the
row is dropped (TRL 1.16 drops it too) and counted. SFT conversations are cut at ``max_length``
by TRL's ``SFTTrainer``, as the seed's ``SFTTrainer(max_seq_length=512)`` did. Conversational
rows (message lists) cannot be cut as text: one whose prompt needs cutting is dropped and counted.

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


def resolve_format(fmt: str, template: str | None, raw: list[dict[str, Any]]) -> tuple[str, str | None]:
    """``(format, chat template)`` for ``format: auto`` (read as TRL reads a dataset): message lists are
    conversational, strings are used verbatim (standard with ``chat_template: none``); other formats as given.

    >>> resolve_format("auto", None, [{"prompt": "Q: 2+2?", "chosen": "4", "rejected": "5"}])
    ('standard', 'none')
    >>> resolve_format("auto", None, [{"chosen": [{"role": "user", "content": "Q"}], "rejected": []}])
    ('conversational', None)
    """
    if fmt != "auto":
        return fmt, template
    first = raw[0] if raw else {}
    if any(isinstance(first.get(k), list) for k in ("prompt", "chosen", "rejected", "messages")):
        return "conversational", template
    return "standard", template or "none"


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
    """Keep rows whose prompt+answer fits ``max_length`` (and prompt ``max_prompt_length``);
    ``(kept, number dropped)`` (:func:`fit_lengths` with ``too_long="drop"``)."""
    kept, report = fit_lengths(rows, tokenizer, max_length, max_prompt_length, "drop")
    return kept, report["dropped"]


def keep_end(text: str, tokenizer: Any, n: int) -> str:
    """``text`` cut to its last ``n`` tokens, at a token boundary (the text itself when it fits)."""
    try:
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    except (NotImplementedError, TypeError, ValueError):  # a slow tokenizer has no offsets
        enc = tokenizer(text, add_special_tokens=False)
    ids = enc["input_ids"]
    if len(ids) <= n:
        return text
    if n <= 0:
        return ""
    offsets = enc.get("offset_mapping") if hasattr(enc, "get") else None
    if offsets:
        return text[offsets[len(ids) - n][0]:]
    return tokenizer.decode(ids[-n:])


def fit_lengths(rows: list[dict], tokenizer: Any, max_length: int, max_prompt_length: int | None = None,
                too_long: str = "drop") -> tuple[list[dict], dict[str, Any]]:
    """Rows that fit the trainer, and what was done to the others (see the module docstring).

    ``too_long="drop"`` keeps rows whose prompt+answer fits ``max_length`` and whose prompt fits
    ``max_prompt_length``; ``"truncate"`` keeps every row it can, cutting over-long prompts to
    their end (for a pair over ``max_length``) and leaving the ``max_length`` cut to TRL. The
    report: ``mode``, ``max_length``, ``max_prompt_length``, ``over_limit`` (rows that did not
    fit), ``truncated`` (kept, cut: ``prompt_truncated``, ``answer_truncated``), ``dropped``
    (with ``dropped_reasons``).
    """
    report: dict[str, Any] = {"mode": too_long, "max_length": max_length, "max_prompt_length": max_prompt_length,
                              "over_limit": 0, "truncated": 0, "prompt_truncated": 0, "answer_truncated": 0,
                              "dropped": 0, "dropped_reasons": {}}
    if not rows:
        return rows, report
    if too_long not in ("drop", "truncate"):
        raise ConfigError(f"field 'data.too_long': {too_long!r} is not one of truncate, drop")
    lengths = _lengths(rows, tokenizer)
    sft = "text" in rows[0] or "messages" in rows[0]
    reasons: Counter = Counter()
    kept: list[dict] = []
    for row, (p, full) in zip(rows, lengths):
        prompt_over = max_prompt_length is not None and p > max_prompt_length
        if full <= max_length and (too_long == "truncate" or not prompt_over):
            kept.append(row)
            continue
        report["over_limit"] += 1
        if too_long == "drop":
            reasons["prompt over max_prompt_length" if prompt_over else "longer than max_length"] += 1
            continue
        if sft:  # SFTTrainer cuts the conversation at max_length
            report["truncated"] += 1
            report["answer_truncated"] += 1
            kept.append(row)
            continue
        answer = full - p
        if prompt_over:
            if isinstance(row["prompt"], list):
                reasons["conversational prompt over max_prompt_length (cannot be cut as text)"] += 1
                continue
            row = {**row, "prompt": keep_end(row["prompt"], tokenizer, max_prompt_length)}
            p = max_prompt_length  # type: ignore[assignment]
        if p >= max_length:
            reasons["prompt fills max_length (no room for the answer)"] += 1
            continue
        report["truncated"] += 1
        report["prompt_truncated"] += int(prompt_over)
        report["answer_truncated"] += int(p + answer > max_length)
        kept.append(row)
    report["dropped"] = sum(reasons.values())
    report["dropped_reasons"] = dict(reasons)
    return kept, report


def split_rows(rows: list[dict], test_size: float, seed: int) -> tuple[list[dict], list[dict]]:
    """A seeded train/test split (``test_size`` is a fraction; at least one eval row if > 0)."""
    if test_size <= 0 or len(rows) < 2:
        return rows, []
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    n_test = max(1, round(len(rows) * test_size))
    test = set(order[:n_test])
    return [r for i, r in enumerate(rows) if i not in test], [r for i, r in enumerate(rows) if i in test]


def unpair_rows(rows: list[dict]) -> list[dict]:
    """Pairs as the unpaired rows KTO trains on: for each pair ``{prompt, completion: chosen,
    label: True}`` then ``{prompt, completion: rejected, label: False}``.

    The two rows of a pair stay next to each other, so a sequential KTO batch (TRL samples KTO
    data in order) holds desirable and undesirable answers alike; TRL's own unpairing puts every
    chosen answer first. Conversational rows keep message lists (the completion is one assistant
    message).

    >>> unpair_rows([{"prompt": "Q ", "chosen": "yes", "rejected": "no"}])
    [{'prompt': 'Q ', 'completion': 'yes', 'label': True}, {'prompt': 'Q ', 'completion': 'no', 'label': False}]
    """
    out = []
    for i, row in enumerate(rows):
        missing = [k for k in ("prompt", "chosen", "rejected") if k not in row]
        if missing:
            raise InputError("a preference row needs prompt, chosen and rejected", row=i, field=missing[0])
        for key, label in (("chosen", True), ("rejected", False)):
            out.append({"prompt": row["prompt"], "completion": row[key], "label": label})
    return out
