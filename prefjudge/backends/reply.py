"""The one reader of OpenAI-format chat completion replies (openai and litellm backends).

A reply that cannot be read raises :class:`PermanentBackendError` saying which field was wrong.
``content`` may be a string, null or a list of content parts (the text parts are joined). Harmless
bookkeeping fields are dropped to None instead: ``usage`` that is not an object, token counts that
are not non-negative whole numbers, a ``finish_reason`` that is not a string.

>>> read_chat_completion({"choices": [{"message": {"content": [{"type": "text", "text": "[[A]]"}]}}],
...                       "usage": {"prompt_tokens": 10.5}}).model_dump()
{'text': '[[A]]', 'top_logprobs': None, 'prompt_tokens': None, 'completion_tokens': None, 'finish_reason': None, 'cached_prompt_tokens': None}
"""

from __future__ import annotations

import math
from typing import Any

from prefjudge.errors import PermanentBackendError
from prefjudge.types import Completion


def _bad(what: str) -> PermanentBackendError:
    return PermanentBackendError(f"malformed chat completion: {what}")


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for i, part in enumerate(content):
            if isinstance(part, str):
                texts.append(part)
                continue
            if not isinstance(part, dict):
                raise _bad(f"choices[0].message.content[{i}] is {_kind(part)}, expected a content part object")
            if part.get("type", "text") != "text":
                continue  # images, audio, refusals: not verdict text
            if not isinstance(part.get("text"), str):
                raise _bad(f"choices[0].message.content[{i}].text is {_kind(part.get('text'))}, expected a string")
            texts.append(part["text"])
        return "".join(texts)
    raise _bad(f"choices[0].message.content is {_kind(content)}, expected a string, null or a list of text parts")


def _logprob(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise _bad(f"{where}.logprob is {value!r}, expected a number")
    return float(value)


def _entry(tok: Any, where: str) -> tuple[str, float]:
    if not isinstance(tok, dict):
        raise _bad(f"{where} is {_kind(tok)}, expected an object")
    if not isinstance(tok.get("token"), str):
        raise _bad(f"{where}.token is {_kind(tok.get('token'))}, expected a string")
    return tok["token"], _logprob(tok.get("logprob"), where)


def _top_logprobs(logprobs: Any) -> list[dict[str, float]] | None:
    if logprobs is None:
        return None
    if not isinstance(logprobs, dict):
        raise _bad(f"choices[0].logprobs is {_kind(logprobs)}, expected an object or null")
    content = logprobs.get("content")
    if content is None:
        return None
    if not isinstance(content, list):
        raise _bad(f"choices[0].logprobs.content is {_kind(content)}, expected a list or null")
    top = []
    for i, tok in enumerate(content):
        where = f"choices[0].logprobs.content[{i}]"
        token, logprob = _entry(tok, where)
        alts = tok.get("top_logprobs") or []
        if not isinstance(alts, list):
            raise _bad(f"{where}.top_logprobs is {_kind(alts)}, expected a list")
        entry = dict(_entry(alt, f"{where}.top_logprobs[{j}]") for j, alt in enumerate(alts))
        top.append(entry or {token: logprob})
    return top or None


def _count(usage: dict, name: str) -> int | None:
    value = usage.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return None
    return int(value) if value >= 0 else None


def read_chat_completion(data: Any) -> Completion:
    """Text, per-token top logprobs and usage of the first choice of a chat completion body."""
    if not isinstance(data, dict):
        raise _bad(f"the body is a JSON {_kind(data)}, expected a JSON object")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        detail = f"; error: {str(data.get('error'))[:300]}" if data.get("error") is not None else ""
        raise _bad(f"choices is {'an empty list' if choices == [] else _kind(choices)}, expected a non-empty list{detail}")
    choice = choices[0]
    if not isinstance(choice, dict):
        raise _bad(f"choices[0] is {_kind(choice)}, expected an object")
    message = choice.get("message")
    if not isinstance(message, dict):
        raise _bad(f"choices[0].message is {_kind(message)}, expected an object")
    usage = data.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    finish = choice.get("finish_reason")
    return Completion(
        text=_text(message.get("content")),
        top_logprobs=_top_logprobs(choice.get("logprobs")),
        prompt_tokens=_count(usage, "prompt_tokens"),
        completion_tokens=_count(usage, "completion_tokens"),
        finish_reason=finish if isinstance(finish, str) else None,
        cached_prompt_tokens=_cached(usage),
    )


def _cached(usage: dict) -> int | None:
    """Prompt tokens read from the provider's prompt cache: OpenAI's
    ``usage.prompt_tokens_details.cached_tokens`` (litellm reports Anthropic's cache reads there too),
    else Anthropic's own ``cache_read_input_tokens``."""
    details = usage.get("prompt_tokens_details")
    if isinstance(details, dict):
        found = _count(details, "cached_tokens")
        if found is not None:
            return found
    return _count(usage, "cache_read_input_tokens")


def response_to_dict(resp: Any) -> Any:
    """A client response object (litellm ``ModelResponse``, openai ``ChatCompletion``) as plain data."""
    if isinstance(resp, (dict, list)):
        return resp
    dump = getattr(resp, "model_dump", None)
    if callable(dump):
        try:  # pydantic: the malformed values we are about to report are not worth a warning each
            return dump(warnings=False)
        except TypeError:
            return dump()
    to_dict = getattr(resp, "to_dict", None) or getattr(resp, "dict", None)
    if callable(to_dict):
        return to_dict()
    raise _bad(f"the response is a {type(resp).__name__}, not a chat completion")
