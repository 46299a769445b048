"""Source-schema mapping for the recipes' datasets: one small function per source.

Each loader turns a raw row of its source dataset into a ``Turns`` (prompt messages plus the
chosen/rejected answers, or a whole conversation for SFT), or returns the reason the row is
dropped (the recipes' filters). The system prompt goes first in the prompt messages
(:func:`prefjudge.formatting.trl.prompt_messages`, as in curation). Formatting (chat template,
standard vs conversational) is done afterwards by :func:`prefjudge.formatting.trl.format_rows`,
so one mapping serves every template.

>>> LOADERS["orca_dpo_pairs"].map({"system": "", "question": "2+2?", "chatgpt": "4",
...                                "llama2-13b-chat": "5"}, {})
Turns(prompt=[{'role': 'user', 'content': '2+2?'}], chosen='4', rejected='5', messages=None)
>>> LOADERS["distilabel_orca"].map({"system": "s", "input": "q", "chosen": "a", "rejected": "b",
...     "status": "tie", "chosen_score": 9, "in_gsm8k_train": False}, {})
'status is tie'

The preference sources shared with curation (orca, distilabel-orca, stack-exchange, hh-rlhf,
UltraFeedback, orpo-mix) use the one mapping in ``prefjudge.curate.loaders``; the recipes'
config-driven filters and the SFT / LLM Twin mappings live here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from prefjudge.errors import InputError
from prefjudge.formatting.rows import is_missing
from prefjudge.formatting.trl import prompt_messages


class Turns(NamedTuple):
    """A mapped row: ``prompt`` messages + ``chosen``/``rejected`` text, or ``messages`` (SFT)."""

    prompt: list[dict[str, str]] | None = None
    chosen: str | None = None
    rejected: str | None = None
    messages: list[dict[str, str]] | None = None


MapFn = Callable[[dict[str, Any], dict[str, Any]], "Turns | str"]


@dataclass(frozen=True)
class Loader:
    """A named mapping from a source schema; ``kind`` is ``preference`` or ``sft``."""

    name: str
    kind: str
    hub_id: str | None
    map: MapFn
    doc: str


def _text(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if not isinstance(value, str):
        raise InputError(f"expected a string, got {type(value).__name__}", field=key)
    return value


def from_curate_schema(schema: str) -> MapFn:
    """A mapping that reuses :data:`prefjudge.formatting.schemas.SCHEMAS` (one mapping per source for
    curation and training alike) and returns its row as ``Turns``."""

    def map_fn(row: dict[str, Any], filters: dict[str, Any]) -> Turns | str:
        from prefjudge.formatting.schemas import SCHEMAS

        try:
            mapped = SCHEMAS[schema](row, None)
        except KeyError as err:
            raise InputError("missing column", field=str(err.args[0])) from None
        return Turns(prompt=prompt_messages(mapped["prompt"], mapped["system"]), chosen=mapped["chosen"],
                     rejected=mapped["rejected"])

    map_fn.__doc__ = f"The {schema!r} mapping of prefjudge.curate.loaders, as Turns."
    return map_fn


map_orca_dpo_pairs = from_curate_schema("orca_dpo_pairs")
map_orca_dpo_pairs.__doc__ = """Intel/orca_dpo_pairs: system + question; chosen = chatgpt, rejected = llama2-13b-chat
(the Hub copy names them ``chosen``/``rejected``; both spellings are accepted)."""


def map_distilabel_orca(row: dict[str, Any], filters: dict[str, Any]) -> Turns | str:
    """argilla/distilabel-intel-orca-dpo-pairs with the seed-002 filters: ``status != "tie"``,
    ``chosen_score >= min_chosen_score`` (8), ``not in_gsm8k_train``."""
    if filters.get("drop_ties", True) and row.get("status") == "tie":
        return "status is tie"
    min_score = filters.get("min_chosen_score", 8)
    score = row.get("chosen_score")
    if min_score is not None and (score is None or score < min_score):
        return f"chosen_score below {min_score}"
    if filters.get("drop_gsm8k_train", True) and row.get("in_gsm8k_train"):
        return "in gsm8k train"
    return _distilabel_mapping(row, filters)


_distilabel_mapping = from_curate_schema("distilabel_orca")


def map_ultrachat(row: dict[str, Any], filters: dict[str, Any]) -> Turns | str:
    """HuggingFaceH4/ultrachat_200k (SFT): the ``messages`` conversation as is."""
    messages = row.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InputError("expected a non-empty list of {role, content}", field="messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("content"), str) or "role" not in m:
            raise InputError(f"message {i} needs a role and a string content", field="messages")
    return Turns(messages=[{"role": m["role"], "content": m["content"]} for m in messages])


def llm_twin_reject_reason(chosen: str, min_chars: int = 100) -> str | None:
    """The seed-003 filters: chosen has ``min_chars`` or more characters, starts with an
    upper-case letter and ends in ``.``, ``!`` or ``?``.

    >>> llm_twin_reject_reason("too short.")
    'chosen shorter than 100 characters'
    >>> llm_twin_reject_reason("A" * 120 + " ok") is None, llm_twin_reject_reason("A" * 120 + ".")
    (False, None)
    """
    if len(chosen) < min_chars:
        return f"chosen shorter than {min_chars} characters"
    if not (chosen[0].isupper() and chosen[-1] in ".!?"):
        return "chosen does not start upper-case and end in . ! or ?"
    return None


def map_llm_twin(row: dict[str, Any], filters: dict[str, Any]) -> Turns | str:
    """mlabonne/llmtwin-dpo (prompt = instruction, chosen = extracted, rejected = generated);
    ``filters.apply_seed_filters`` re-applies the dataset build's filters."""
    chosen = _text(row, "chosen")
    if filters.get("apply_seed_filters", False):
        reason = llm_twin_reject_reason(chosen, filters.get("min_chosen_chars", 100))
        if reason:
            return reason
    return Turns(prompt=prompt_messages(_text(row, "prompt"), None), chosen=chosen,
                 rejected=_text(row, "rejected"))


map_stack_exchange = from_curate_schema("stack_exchange_paired")
map_stack_exchange.__doc__ = "lvwerra/stack-exchange-paired: question; chosen = response_j, rejected = response_k."


def _as_messages(value: Any, field: str) -> list[dict[str, str]]:
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if isinstance(value, list) and all(isinstance(m, dict) and "content" in m for m in value):
        return [{"role": m.get("role", "user"), "content": m["content"]} for m in value]
    raise InputError("expected a string or a list of {role, content}", field=field)


def _answer(value: Any, field: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and isinstance(value[-1], dict):
        return str(value[-1].get("content", ""))
    raise InputError("expected a string or a list of messages", field=field)


def _implicit_prompt(row: dict[str, Any]) -> dict[str, Any]:
    """TRL's implicit-prompt rows (``chosen``/``rejected`` whole conversations, no ``prompt``): the
    shared leading messages are the prompt, the rest the answers (TRL's ``extract_prompt``)."""
    chosen, rejected = row["chosen"], row["rejected"]
    n = 0
    while n < min(len(chosen), len(rejected)) - 1 and chosen[n] == rejected[n]:
        n += 1
    return {**row, "prompt": chosen[:n], "chosen": chosen[n:], "rejected": rejected[n:]}


def map_preference(row: dict[str, Any], filters: dict[str, Any]) -> Turns | str:
    """Generic prompt/chosen/rejected rows (a prefjudge curated export, or any source after
    ``data.columns`` renamed its columns); an optional ``system`` column is prepended. Rows in TRL's
    implicit-prompt format (conversations in ``chosen`` and ``rejected``, no ``prompt``) are split
    where the two conversations part."""
    if "prompt" not in row and all(isinstance(row.get(k), list) and row.get(k) for k in ("chosen", "rejected")):
        row = _implicit_prompt(row)
    for key in ("prompt", "chosen", "rejected"):
        if key not in row:
            raise InputError("missing column (map it with data.columns)", field=key)
    system = row.get("system")  # None or NaN (an empty cell of a parquet/csv export) is no system prompt
    prompt = prompt_messages(_as_messages(row["prompt"], "prompt"), None if is_missing(system) else str(system))
    return Turns(prompt=prompt, chosen=_answer(row["chosen"], "chosen"),
                 rejected=_answer(row["rejected"], "rejected"))


LOADERS: dict[str, Loader] = {
    loader.name: loader
    for loader in (
        Loader("preference", "preference", None, map_preference, "prompt/chosen/rejected columns"),
        Loader("orca_dpo_pairs", "preference", "Intel/orca_dpo_pairs", map_orca_dpo_pairs,
               "system, question, chatgpt, llama2-13b-chat"),
        Loader("distilabel_orca", "preference", "argilla/distilabel-intel-orca-dpo-pairs",
               map_distilabel_orca, "seed-002 filters: no ties, chosen_score >= 8, not in gsm8k"),
        Loader("ultrachat", "sft", "HuggingFaceH4/ultrachat_200k", map_ultrachat, "messages"),
        Loader("llm_twin", "preference", "mlabonne/llmtwin-dpo", map_llm_twin,
               "prompt (instruction), chosen (extracted), rejected (generated)"),
        Loader("stack_exchange_paired", "preference", "lvwerra/stack-exchange-paired",
               map_stack_exchange, "question, response_j (preferred), response_k"),
        Loader("hh_rlhf", "preference", "Anthropic/hh-rlhf", from_curate_schema("hh_rlhf"),
               "chosen/rejected transcripts (Human:/Assistant:) split into prompt turns and answers"),
        Loader("ultrafeedback_binarized", "preference", "HuggingFaceH4/ultrafeedback_binarized",
               from_curate_schema("ultrafeedback_binarized"), "chosen/rejected message lists"),
        Loader("orpo_dpo_mix", "preference", "mlabonne/orpo-dpo-mix-40k", from_curate_schema("orpo_dpo_mix"),
               "chosen/rejected message lists"),
    )
}


def get_loader(name: str) -> Loader:
    """Look up a loader by name, with an error listing the known ones."""
    try:
        return LOADERS[name]
    except KeyError:
        raise InputError(f"unknown loader {name!r}; known: {', '.join(sorted(LOADERS))}",
                         field="data.loader") from None
