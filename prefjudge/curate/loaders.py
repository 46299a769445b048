"""Loaders: known preference datasets mapped to prompt/chosen/rejected (+system, +models).

``load_preferences(source)`` reads a Hub id, a local file or directory, or an in-memory table, and
returns a ``datasets.Dataset`` with the columns ``prompt`` (a string for single-turn schemas, a
list of ``{"role", "content"}`` turns for multi-turn ones), ``chosen``, ``rejected`` (answer text),
``system``, ``model_chosen``, ``model_rejected``, plus the schema's useful extras (scores, ids,
the filter columns the TinyLlama recipe uses). The schema is named or detected from the columns:

============================  ========================================================================
schema                        source columns
============================  ========================================================================
``orca_dpo_pairs``            Intel/orca_dpo_pairs: system, question, chosen (or chatgpt), rejected (or llama2-13b-chat)
``distilabel_orca``           argilla/distilabel-intel-orca-dpo-pairs: system, input, chosen, rejected, status,
                              chosen_score, in_gsm8k_train (the TinyLlama recipe's filters: :func:`seed_filters`)
``stack_exchange_paired``     lvwerra/stack-exchange-paired: qid, question, response_j (preferred), response_k
``hh_rlhf``                   Anthropic/hh-rlhf: chosen, rejected as "\\n\\nHuman: ...\\n\\nAssistant: ..." transcripts
``ultrafeedback_binarized``   chosen/rejected message lists (last turn = answer), score_chosen/score_rejected
                              (H4) or chosen-rating/chosen-model (argilla cleaned)
``orpo_dpo_mix``              mlabonne/orpo-dpo-mix-40k: source, chosen/rejected message lists, prompt, question
``preference``                already prompt/chosen/rejected (strings or messages)
============================  ========================================================================
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError, PrefjudgeError
from .filters import Filter
from .rows import answer_text, as_messages, check_prompt, check_text, clean_optional, is_missing, to_frame

if TYPE_CHECKING:
    import datasets

log = logging.getLogger(__name__)
Row = dict[str, Any]

#: Hub ids with a known schema (and the split the recipes use).
HUB_IDS: dict[str, tuple[str, str]] = {
    "Intel/orca_dpo_pairs": ("orca_dpo_pairs", "train"),
    "argilla/distilabel-intel-orca-dpo-pairs": ("distilabel_orca", "train"),
    "lvwerra/stack-exchange-paired": ("stack_exchange_paired", "train"),
    "Anthropic/hh-rlhf": ("hh_rlhf", "train"),
    "HuggingFaceH4/ultrafeedback_binarized": ("ultrafeedback_binarized", "train_prefs"),
    "argilla/ultrafeedback-binarized-preferences-cleaned": ("ultrafeedback_binarized", "train"),
    "mlabonne/orpo-dpo-mix-40k": ("orpo_dpo_mix", "train"),
}
#: ``info.description`` of a loaded dataset starts with this; ``to_preferences`` records the rest as the source.
SOURCE_PREFIX = "prefjudge source: "
_ORCA_CHOSEN_MODEL, _ORCA_REJECTED_MODEL = "chatgpt", "llama-2-13b-chat"
_HH_TURN = re.compile(r"\n\n(Human|Assistant):[ ]?")


def _orca(r: Row, i: int) -> Row:
    chosen = r["chosen"] if "chosen" in r else r["chatgpt"]
    rejected = r["rejected"] if "rejected" in r else r["llama2-13b-chat"]
    return _row(r.get("system"), check_text(r["question"], i, "question"), chosen, rejected, i,
                _ORCA_CHOSEN_MODEL, _ORCA_REJECTED_MODEL)


def _distilabel_orca(r: Row, i: int) -> Row:
    swapped = r.get("status") == "swapped"  # the rater preferred the Llama answer: models swap too
    models = (_ORCA_REJECTED_MODEL, _ORCA_CHOSEN_MODEL) if swapped else (_ORCA_CHOSEN_MODEL, _ORCA_REJECTED_MODEL)
    out = _row(r.get("system"), check_text(r["input"], i, "input"), r["chosen"], r["rejected"], i, *models)
    score = clean_optional(r.get("chosen_score"))
    return out | {"status": clean_optional(r.get("status")), "chosen_score": None if score is None else float(score),
                  "in_gsm8k_train": bool(r.get("in_gsm8k_train") or False)}


def _stack_exchange(r: Row, i: int) -> Row:
    out = _row(None, check_text(r["question"], i, "question"), r["response_j"], r["response_k"], i, None, None,
               fields=("response_j", "response_k"))
    return out | {"qid": None if is_missing(r.get("qid")) else str(r["qid"])}


def parse_hh(text: Any, i: int, field: str) -> list[dict[str, str]]:
    """An hh-rlhf transcript as chat messages.

    >>> parse_hh("\\n\\nHuman: Hi\\n\\nAssistant: Hello!", 0, "chosen")
    [{'role': 'user', 'content': 'Hi'}, {'role': 'assistant', 'content': 'Hello!'}]
    """
    check_text(text, i, field)
    parts = _HH_TURN.split(text)
    if len(parts) < 3 or parts[0].strip():
        raise InputError("not an hh-rlhf transcript ('\\n\\nHuman: ... \\n\\nAssistant: ...')", row=i, field=field)
    roles = {"Human": "user", "Assistant": "assistant"}
    return [{"role": roles[parts[k]], "content": parts[k + 1].strip()} for k in range(1, len(parts), 2)]


def _hh(r: Row, i: int) -> Row:
    chosen, rejected = parse_hh(r["chosen"], i, "chosen"), parse_hh(r["rejected"], i, "rejected")
    return _from_conversations(chosen, rejected, i)


def _message_pairs(r: Row, i: int) -> Row:
    chosen, rejected = as_messages(r["chosen"], i, "chosen"), as_messages(r["rejected"], i, "rejected")
    out = _from_conversations(chosen, rejected, i)
    out["model_chosen"] = clean_optional(r.get("chosen-model", r.get("chosen_model")))
    out["model_rejected"] = clean_optional(r.get("rejected-model", r.get("rejected_model")))
    for new, old in (("score_chosen", "chosen-rating"), ("score_rejected", "rejected-rating")):
        value = clean_optional(r.get(new, r.get(old)))
        if value is not None:
            out[new] = float(value)
    for extra in ("prompt_id", "source"):
        if extra in r:
            out[extra] = clean_optional(r[extra])
    return out


def _from_conversations(chosen: list[dict], rejected: list[dict], i: int) -> Row:
    """Split two full conversations into the shared prompt turns and the two final answers."""
    if chosen[:-1] != rejected[:-1]:
        raise InputError("chosen and rejected conversations differ before their final answer", row=i, field="rejected")
    system = next((m["content"] for m in chosen[:-1] if m["role"] == "system"), None)
    prompt = [m for m in chosen[:-1] if m["role"] != "system"]
    if not prompt:
        raise InputError("conversation has no prompt turn before the answer", row=i, field="chosen")
    return _row(system, prompt, chosen, rejected, i, None, None)


def _preference(r: Row, i: int) -> Row:
    out = _row(r.get("system"), r["prompt"], r["chosen"], r["rejected"], i,
               clean_optional(r.get("model_chosen")), clean_optional(r.get("model_rejected")))
    return out | ({"id": str(r["id"])} if not is_missing(r.get("id")) else {})


def _row(system: Any, prompt: Any, chosen: Any, rejected: Any, i: int, model_c: str | None, model_r: str | None,
         fields: tuple[str, str] = ("chosen", "rejected")) -> Row:
    system = clean_optional(system)
    if system is not None and not isinstance(system, str):
        raise InputError(f"expected a string, got {type(system).__name__}", row=i, field="system")
    return {
        "prompt": check_prompt(prompt, i),
        "chosen": answer_text(chosen, i, fields[0]),
        "rejected": answer_text(rejected, i, fields[1]),
        "system": system or None,
        "model_chosen": model_c,
        "model_rejected": model_r,
    }


SCHEMAS: dict[str, Callable[[Row, int], Row]] = {
    "orca_dpo_pairs": _orca,
    "distilabel_orca": _distilabel_orca,
    "stack_exchange_paired": _stack_exchange,
    "hh_rlhf": _hh,
    "ultrafeedback_binarized": _message_pairs,
    "orpo_dpo_mix": _message_pairs,
    "preference": _preference,
}


def detect_schema(columns: list[str], first: Row | None = None) -> str:
    """Name the schema of a raw table from its columns (and its first row for the ambiguous cases)."""
    c = set(columns)
    if {"question", "response_j", "response_k"} <= c:
        return "stack_exchange_paired"
    if {"input", "chosen", "rejected"} <= c and ({"status", "chosen_score"} & c):
        return "distilabel_orca"
    if "question" in c and ({"chosen", "rejected"} <= c or {"chatgpt", "llama2-13b-chat"} <= c) and "source" not in c:
        return "orca_dpo_pairs"
    if not {"chosen", "rejected"} <= c:
        raise InputError(f"cannot tell the dataset schema from columns {sorted(c)}; pass schema= one of {sorted(SCHEMAS)}")
    sample = (first or {}).get("chosen")
    if isinstance(sample, str) and sample.lstrip("\n").startswith("Human:") and "prompt" not in c:
        return "hh_rlhf"
    if isinstance(sample, str) and "prompt" in c:
        return "preference"
    if {"source", "question"} <= c:
        return "orpo_dpo_mix"
    if "prompt" in c and not _is_conversation(sample):
        return "preference"
    return "ultrafeedback_binarized"


def _is_conversation(value: Any) -> bool:
    value = value.tolist() if hasattr(value, "tolist") else value
    return isinstance(value, list) and len(value) > 1


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


def seed_filters(schema: str = "distilabel_orca", min_chosen_score: float = 8.0) -> list[Filter]:
    """The seed recipe's filters for argilla/distilabel-intel-orca-dpo-pairs, as reported Filters.

    status != "tie", chosen_score >= ``min_chosen_score``, not in_gsm8k_train (13k -> about 6k rows).
    """
    name = HUB_IDS.get(schema, (schema,))[0]
    if name != "distilabel_orca":
        raise InputError(f"the seed filters are defined for distilabel_orca, not {schema!r}", field="schema")
    return [
        Filter("status_not_tie", "the rater scored both answers equally (status == 'tie')", lambda r: r["status"] != "tie"),
        Filter("min_chosen_score", f"chosen_score below {min_chosen_score:g}",
               lambda r: r["chosen_score"] is not None and r["chosen_score"] >= min_chosen_score),
        Filter("not_in_gsm8k_train", "the prompt is in the GSM8K train set", lambda r: not r["in_gsm8k_train"]),
    ]
