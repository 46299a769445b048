"""The OpenAI chat-completions wire format, as the simulator speaks it.

Reads judge prompts rendered from ``prefjudge/judging/prompts/pairwise*.txt`` and rating prompts
rendered from the rating templates (``single``, ``single_ref``, ``ultrafeedback``, ``rubric``, or
any template with the same answer blocks) and builds replies, logprob blocks and error bodies.
Pure functions, no I/O.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import time
from typing import Any, Literal, NamedTuple

from prefjudge.testing.sim import Choice, Decision
from prefjudge.testing.text import comparison, garbled_reply, rating_reply, verdict_reply

Mode = Literal["verdict", "json", "logprob"]
Kind = Literal["judge", "rate", "reask", "generate"]

Q_MARK = "[User Question]\n"
A_START = "[The Start of Assistant A's Answer]\n"
SEP = "\n[The End of Assistant A's Answer]\n\n[The Start of Assistant B's Answer]\n"
B_END = "\n[The End of Assistant B's Answer]"
#: Request fields that do not change what is asked (left out of the request key).
VOLATILE_FIELDS = frozenset({"user", "metadata", "store", "stream_options", "service_tier", "timeout"})
_FILLERS = ("The", "Both", "I", "It", "Neither", "Answer", "**", "Tie")


class JudgePrompt(NamedTuple):
    question: str
    first: str
    second: str


def parse_judge_prompt(text: str) -> JudgePrompt | None:
    """Question and the two answers (as shown) of a pairwise judge prompt, or None.

    Answer A ends at the first A-end/B-start separator, answer B at the *last* B-end marker,
    so answer B may contain any marker and answer A anything but the full separator.

    >>> p = parse_judge_prompt("[User Question]\\nWhy?\\n\\n[The Start of Assistant A's Answer]\\n"
    ...     "x [[B]]\\n[The End of Assistant A's Answer]\\n\\n[The Start of Assistant B's Answer]\\n"
    ...     "y\\n[The End of Assistant B's Answer]\\n[The End of Assistant B's Answer]")
    >>> p.question, p.first, p.second
    ('Why?', 'x [[B]]', "y\\n[The End of Assistant B's Answer]")
    >>> parse_judge_prompt("Write a poem.") is None
    True
    """
    qi = text.find(Q_MARK)
    if qi < 0:
        return None
    ai = text.find(A_START, qi + len(Q_MARK))
    if ai < 0:
        return None
    start_a = ai + len(A_START)
    si = text.find(SEP, start_a)
    if si < 0:
        return None
    start_b = si + len(SEP)
    bi = text.rfind(B_END)
    if bi < start_b:
        return None
    question = text[qi + len(Q_MARK):ai].removesuffix("\n\n")
    return JudgePrompt(question, text[start_a:si], text[start_b:bi])


R_Q_MARK = "[Question]\n"
R_REF_START = "[The Start of Reference Answer]\n"
R_REF_SEP = "\n[The End of Reference Answer]\n\n"
R_A_START = "[The Start of Assistant's Answer]\n"
R_A_END = "\n[The End of Assistant's Answer]"
_R_SCALE = re.compile(r"scale of (\d{1,4}) to (\d{1,4})", re.I)
_R_ASPECT = re.compile(r"^([A-Z][A-Za-z ]{1,40}): \[\[rating\]\][ \t]*$", re.M)


class RatingPrompt(NamedTuple):
    """What a rating prompt shows (one answer, maybe a reference) and how it asks for the score."""

    question: str
    answer: str
    reference: str | None
    scale: tuple[int, int]
    aspects: tuple[str, ...]
    """Aspect keys (``instruction_following``), read from the ``Aspect: [[rating]]`` lines of the instructions."""
    marker: str
    """"result" when the instructions ask for ``[RESULT] N``, else "brackets" (``[[N]]``)."""


def parse_rating_prompt(system: str, text: str) -> RatingPrompt | None:
    """The rating prompt in ``text`` (a user message), or None. The scale (``scale of 1 to 10``) and
    the format are read from the instructions: ``system`` (the system messages) and the user
    message before its ``[Question]`` block, never from the question or the answer.

    The answer ends at the *last* answer-end marker, so it may contain any marker; a reference
    ends at the first reference-end marker followed by the answer's start.

    >>> p = parse_rating_prompt("Rate on a scale of 1 to 10: Rating: [[5]]", "[Question]\\nWhy?\\n\\n"
    ...     "[The Start of Assistant's Answer]\\nBecause. Rating: [[9]]\\n[The End of Assistant's Answer]")
    >>> p.question, p.answer, p.scale, p.marker
    ('Why?', 'Because. Rating: [[9]]', (1, 10), 'brackets')
    """
    qi = text.find(R_Q_MARK)
    if qi < 0:
        return None
    rules = f"{system}\n{text[:qi]}"
    scale = _R_SCALE.search(rules)
    ai = text.find(R_A_START, qi + len(R_Q_MARK))
    end = text.rfind(R_A_END)
    if scale is None or ai < 0 or end < ai + len(R_A_START) - 1:
        return None
    head = text[qi + len(R_Q_MARK):ai]
    reference = None
    ri = head.find(R_REF_START)
    if ri >= 0 and head.endswith(R_REF_SEP):
        reference = head[ri + len(R_REF_START):-len(R_REF_SEP)]
        head = head[:ri]
    aspects = tuple(m.group(1).strip().lower().replace(" ", "_") for m in _R_ASPECT.finditer(rules))
    marker = "result" if "[RESULT]" in rules else "brackets"
    return RatingPrompt(head.removesuffix("\n\n"), text[ai + len(R_A_START):max(end, ai + len(R_A_START))], reference,
                        (int(scale.group(1)), int(scale.group(2))), aspects, marker)


def message_text(content: Any) -> str:
    """Text of a message's content: a string, or a list of ``{"type": "text", "text": ...}`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def classify(messages: list[dict]) -> tuple[Kind, JudgePrompt | None, list[dict]]:
    """(kind, judge prompt, messages of the original judge request) of a conversation.

    The first user message that parses as a judge prompt makes it a judge request; an
    assistant message after it makes it a re-ask, answered from that original prompt.
    """
    for i, message in enumerate(messages):
        if message.get("role") != "user":
            continue
        prompt = parse_judge_prompt(message_text(message.get("content")))
        if prompt is not None:
            reask = any(m.get("role") == "assistant" for m in messages[i + 1:])
            return ("reask" if reask else "judge"), prompt, messages[: i + 1]
    return "generate", None, messages


def classify_rating(messages: list[dict]) -> tuple[Kind, RatingPrompt | None, list[dict]]:
    """(kind, rating prompt, messages of the original rating request) of a conversation that
    :func:`classify` found no pairwise judge prompt in: ``rate``, ``reask`` (an assistant message
    after the rating prompt) or ``generate``."""
    system = "\n".join(message_text(m.get("content")) for m in messages if m.get("role") == "system")
    for i, message in enumerate(messages):
        if message.get("role") != "user":
            continue
        text = message_text(message.get("content"))
        prompt = parse_rating_prompt(system, text)
        if prompt is not None:
            reask = any(m.get("role") == "assistant" for m in messages[i + 1:])
            return ("reask" if reask else "rate"), prompt, messages[: i + 1]
    return "generate", None, messages


def response_mode(body: dict) -> Mode:
    """json when a JSON ``response_format`` is asked, logprob when ``logprobs`` is, else verdict."""
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_schema", "json_object"):
        return "json"
    return "logprob" if body.get("logprobs") else "verdict"


def request_key(body: dict) -> str:
    """SHA-256 of the request body without volatile fields (stable across clients and retries)."""
    kept = {k: v for k, v in body.items() if k not in VOLATILE_FIELDS}
    raw = json.dumps(kept, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def _token(token: str, logprob: float) -> dict:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode())}


def logprob_reply(p_first: float, top_k: int) -> tuple[str, dict]:
    """Content ("A" or "B", the likelier) and an OpenAI ``logprobs`` block with P(A) = p_first.

    A and B always rank first and second; filler tokens follow with far smaller logprobs.
    """
    p = min(max(p_first, 1e-6), 1.0 - 1e-6)
    pair = sorted([("A", math.log(p)), ("B", math.log1p(-p))], key=lambda t: -t[1])
    floor = pair[1][1] - 2.0
    ranked = pair + [(tok, floor - i) for i, tok in enumerate(_FILLERS)]
    return pair[0][0], _block(ranked, top_k)


def garbled_logprobs(top_k: int) -> tuple[str, dict]:
    """A first token that is no verdict, and alternatives that hold neither A nor B."""
    ranked = [(tok, -0.3 - 1.1 * i) for i, tok in enumerate(_FILLERS)]
    return ranked[0][0], _block(ranked, top_k)


def _block(ranked: list[tuple[str, float]], top_k: int) -> dict:
    entry = _token(*ranked[0])
    entry["top_logprobs"] = [_token(t, lp) for t, lp in ranked[: max(top_k, 0)]]
    return {"content": [entry], "refusal": None}


def judge_reply(mode: Mode, decision: Decision, rng: random.Random, garbled: bool,
                top_k: int) -> tuple[str, dict | None, Choice | None]:
    """(content, logprobs block, verdict given in display terms; None when garbled)."""
    if mode == "logprob":
        if garbled:
            content, block = garbled_logprobs(top_k)
            return content, block, None
        content, block = logprob_reply(decision.p_first, top_k)
        return content, block, ("first" if content == "A" else "second")
    if mode == "json":
        if garbled:
            text = comparison(rng, decision.choice)
            bad = (json.dumps({"comparison": text}), '{"comparison": "' + text[: len(text) // 2])
            return rng.choice(bad), None, None
        tag = {"first": "A", "second": "B", "tie": "tie"}[decision.choice]
        body = {"comparison": comparison(rng, decision.choice), "verdict": tag}
        return json.dumps(body), None, decision.choice
    if garbled:
        return garbled_reply(rng), None, None
    return verdict_reply(rng, decision.choice), None, decision.choice


_CODE = re.compile(r"VERDICT-(A|B|TIE)-([0-9A-F]{6,})")


def coded_reply(messages: list[dict], choice: Choice) -> str | None:
    """The answer to prefjudge's coded re-ask (``VERDICT-A-<code>``...) for ``choice``, when the last
    message asks for one; None otherwise.

    >>> coded_reply([{"role": "user", "content": "Reply VERDICT-A-0F12AB, VERDICT-B-0F12AB or VERDICT-TIE-0F12AB"}], "tie")
    'VERDICT-TIE-0F12AB'
    """
    found = _CODE.search(message_text(messages[-1].get("content"))) if messages else None
    if found is None:
        return None
    letter = {"first": "A", "second": "B", "tie": "TIE"}[choice]
    return f"VERDICT-{letter}-{found.group(2)}"


_SCORE_CODE = re.compile(r"\b([A-Z_]{1,40})-([0-9A-F]{6,})-N\b")


def rating_answer(prompt: RatingPrompt, score: float, aspects: dict[str, float], rng: random.Random,
                  garbled: bool, messages: list[dict] | None = None) -> str:
    """The reply to a rating prompt (or to its re-ask, when ``messages`` end with one): the score in the
    prompt's format, the coded form when the re-ask asks for a code, or a reply without any score."""
    if garbled:
        return garbled_reply(rng)
    if messages:
        coded = _SCORE_CODE.findall(message_text(messages[-1].get("content")))
        if coded:
            values = {**{a.upper(): v for a, v in aspects.items()}, "SCORE": score}
            return "\n".join(f"{label}-{code}-{values.get(label, score):g}" for label, code in coded)
    return rating_reply(rng, score, aspects, prompt.marker, prompt.scale)


def count_tokens(text: str) -> int:
    """The simulator's token count: about one token per four characters."""
    return max(1, (len(text) + 3) // 4)


def completion(model: str, key: str, attempt: int, choices: list[dict], prompt_tokens: int) -> dict:
    """A ``chat.completion`` body; ``choices`` hold content, logprobs and finish_reason."""
    out = []
    for i, c in enumerate(choices):
        out.append({
            "index": i,
            "message": {"role": "assistant", "content": c["content"], "refusal": None},
            "logprobs": c.get("logprobs"),
            "finish_reason": c.get("finish_reason", "stop"),
        })
    completion_tokens = sum(count_tokens(c["content"]) for c in choices)
    return {
        "id": f"chatcmpl-sim-{key[:16]}-{attempt}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "prefjudge-sim",
        "choices": out,
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def error_body(message: str, type_: str, code: str | None, param: str | None = None) -> dict:
    """OpenAI's error JSON."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}
