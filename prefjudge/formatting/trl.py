"""The one formatter: preference rows in TRL 1.16's formats, for curation (export) and training alike.

A preference row has an optional ``system`` prompt, a ``prompt`` (text, or chat turns) and the
``chosen`` and ``rejected`` answers; a row with ``messages`` instead is an SFT conversation.
Rows are dicts (curation's working table) or ``prefjudge.train.sources.Turns``.
:func:`format_rows` writes them in one of TRL's formats:

- ``"conversational"``: ``prompt`` is a list of messages (system first when there is one),
  ``chosen`` and ``rejected`` are one-message lists ``[{"role": "assistant", ...}]``; TRL applies
  the tokenizer's own chat template when it trains. SFT rows: ``messages``.
- ``"standard"`` with a chat template (a built-in name, a Jinja string, a tokenizer, or
  ``"none"`` for prompts already rendered; see :func:`prefjudge.formatting.chat_templates.render_prompt`):
  ``prompt`` is the conversation rendered up to and including the generation prompt, the text
  the model sees when it answers (``prefjudge.train.generation`` renders the same); ``chosen``
  and ``rejected`` start where the answer starts. With ``end_of_turn=True`` (curated exports)
  they end with the template's end-of-turn token (``"answer<|im_end|>"`` for ChatML), without
  trailing whitespace so TRL does not append a second one; with ``end_of_turn=False``
  (training) they are the bare answers and TRL appends the tokenizer's eos token itself. When
  that eos token is the template's end of turn, TRL trains on the same text either way. SFT
  rows: ``text``, the whole conversation rendered.
- ``"standard"`` without a chat template: ``prompt`` is the prompt's text and the system prompt
  is kept in a ``system`` column (on every row when any row has one; None where a row has none).

The system prompt is never dropped: a row's ``system`` and its prompt's own system messages are
merged (each text once) into the first system message; an empty system prompt is no system prompt.

>>> row = {"system": "Be brief.", "prompt": "Hi", "chosen": "Hello", "rejected": "Go away"}
>>> format_rows([row], "standard", "chatml", end_of_turn=True)[0]["chosen"]
'Hello<|im_end|>'
>>> format_rows([row], "standard", "chatml")[0]["prompt"]
'<|im_start|>system\\nBe brief.<|im_end|>\\n<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\n'
>>> format_rows([row], "standard")[0]
{'prompt': 'Hi', 'chosen': 'Hello', 'rejected': 'Go away', 'system': 'Be brief.'}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from prefjudge.content import prompt_text, system_text
from prefjudge.errors import InputError
from prefjudge.formatting.chat_templates import Render, renderer

Format = Literal["standard", "conversational"]
FORMATS = ("standard", "conversational")
Renderer = Render  # the name this module used before
#: Stands in for the answer when the end-of-turn token of a template is read off a rendering.
_ANSWER_MARK = "PREFJUDGE-ANSWER-MARK"


def prompt_messages(prompt: str | list[dict[str, str]], system: str | None) -> list[dict[str, str]]:
    """The prompt as chat messages, the system prompt first when there is one.

    A ``system`` the prompt's messages do not already hold is merged into the leading system
    message (``system`` first, as :func:`prefjudge.content.system_text` joins them), or becomes it.

    >>> prompt_messages([{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}], "T")[0]
    {'role': 'system', 'content': 'T\\n\\nS'}
    """
    msgs = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else [dict(m) for m in prompt]
    if system and not any(m["role"] == "system" and m["content"] == system for m in msgs):
        if msgs and msgs[0]["role"] == "system":
            msgs[0]["content"] = f"{system}\n\n{msgs[0]['content']}"
        else:
            msgs.insert(0, {"role": "system", "content": system})
    return msgs


def end_of_turn_text(msgs: list[dict[str, str]], render: Render) -> str:
    """What the template writes after an assistant answer to ``msgs`` (``"<|im_end|>"`` for ChatML), trailing whitespace removed."""
    probe = render([*msgs, {"role": "assistant", "content": _ANSWER_MARK}], False)
    at = probe.rfind(_ANSWER_MARK)
    if at < 0:
        raise InputError("the chat template does not show the assistant's answer, so the answer cannot be split "
                         "from the prompt", field="chat_template")
    return probe[at + len(_ANSWER_MARK):].rstrip()


def render_standard(msgs: list[dict[str, str]], chosen: str, rejected: str, render: Render,
                    end_of_turn: bool = True) -> tuple[str, str, str]:
    """(prompt, chosen, rejected) strings: the prompt rendered with the generation prompt, each answer
    followed by the template's end-of-turn token (or bare, ``end_of_turn=False``, for TRL to end).

    >>> from prefjudge.formatting.chat_templates import renderer
    >>> render_standard([{"role": "user", "content": "Hi"}], "Hello", "Go away", renderer("chatml"))
    ('<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\n', 'Hello<|im_end|>', 'Go away<|im_end|>')
    """
    prompt = render(msgs, True)
    end = end_of_turn_text(msgs, render) if end_of_turn else ""
    return prompt, chosen + end, rejected + end


def format_rows(rows: Iterable[Any], format: Format = "standard", template: Any = None, tokenizer: Any = None,
                *, end_of_turn: bool = False) -> list[dict[str, Any]]:
    """TRL rows for preference rows (and SFT conversations), one per input row, in the module's formats.

    ``rows``: dicts with ``prompt``, ``chosen``, ``rejected`` and optional ``system`` (or
    ``messages``), ``Turns``, or a DataFrame of them. ``template``: a chat template for the
    standard format (built-in name, Jinja string, tokenizer, or ``"none"``); without one the
    ``tokenizer``'s own template is used, and without either the prompt stays plain text. In the
    conversational format TRL applies the tokenizer's template and ``template`` is not used.
    ``end_of_turn``: end each answer with the template's end-of-turn token (exports) or leave
    that to TRL (training). Errors name the row (its ``id`` when it has one) and the field.
    """
    if format not in FORMATS:
        raise InputError(f"format must be 'standard' or 'conversational', not {format!r}", field="format")
    conversational = format == "conversational"
    plain = template is None and tokenizer is None
    render = None if conversational or plain else renderer(template, tokenizer)
    out = [_format_row(_record(r), i, conversational, render, end_of_turn) for i, r in enumerate(_iter_rows(rows))]
    if any("system" in o for o in out):
        for o in out:
            o.setdefault("system", None)
    return out


def _iter_rows(rows: Any) -> Iterable[Any]:
    return rows.to_dict("records") if hasattr(rows, "to_dict") and hasattr(rows, "columns") else rows


def _record(row: Any) -> Mapping[str, Any]:
    if isinstance(row, Mapping):
        return row
    if hasattr(row, "_asdict"):  # Turns
        return row._asdict()
    raise InputError(f"expected a dict or Turns per row, got {type(row).__name__}")


def _text(r: Mapping[str, Any], key: str, where: int | str) -> str:
    value = r.get(key)
    if not isinstance(value, str):
        raise InputError(f"expected a string, got {type(value).__name__}", row=where, field=key)
    return value


def _format_row(r: Mapping[str, Any], i: int, conversational: bool, render: Render | None,
                end_of_turn: bool) -> dict[str, Any]:
    where = r["id"] if isinstance(r.get("id"), str) else i
    if r.get("messages") is not None:  # an SFT conversation
        if conversational:
            return {"messages": r["messages"]}
        if render is None:
            raise InputError("an SFT conversation in the standard format needs a chat template (or a tokenizer)",
                             row=where, field="chat_template")
        return {"text": render(r["messages"], False)}
    prompt, system = r.get("prompt"), r.get("system") or None
    if not isinstance(prompt, (str, list)) or not prompt:
        raise InputError("expected a string or a list of {role, content}", row=where, field="prompt")
    if system is not None and not isinstance(system, str):
        raise InputError(f"expected a string, got {type(system).__name__}", row=where, field="system")
    chosen, rejected = _text(r, "chosen", where), _text(r, "rejected", where)
    if conversational:
        return {"prompt": prompt_messages(prompt, system), "chosen": [{"role": "assistant", "content": chosen}],
                "rejected": [{"role": "assistant", "content": rejected}]}
    if render is None:
        row = {"prompt": prompt_text(prompt), "chosen": chosen, "rejected": rejected}
        kept = system_text(prompt, system)
        return {**row, "system": kept} if kept else row
    try:
        text, chosen, rejected = render_standard(prompt_messages(prompt, system), chosen, rejected, render, end_of_turn)
    except InputError as err:
        raise InputError(err.detail, row=where, field=err.field) from None
    return {"prompt": text, "chosen": chosen, "rejected": rejected}
