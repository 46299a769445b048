"""Known preference-dataset schemas mapped to prompt/chosen/rejected (+system, +models).

Each mapping turns one source row into a row with the columns ``prompt`` (a string for single-turn schemas, a
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

import re
from collections.abc import Callable
from typing import Any

from prefjudge.errors import InputError
from prefjudge.formatting.rows import answer_text, as_messages, check_prompt, check_text, clean_optional, is_missing

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


