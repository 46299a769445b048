"""The typed data model: pairs in, verdicts and judgments out.

Failures are values (``Verdict.winner is None`` with ``error`` set), never sentinels.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from prefjudge.content import prompt_text, system_text

Winner = Literal["a", "b", "tie"]
"""A verdict in terms of the *original* pair: ``"a"``, ``"b"`` or ``"tie"``."""

Order = Literal["ab", "ba"]
"""Display order of one call: ``"ab"`` shows a first, ``"ba"`` shows b first."""

OrderMode = Literal["random", "both", "fixed"]


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str


class Pair(BaseModel):
    """One comparison: a prompt and two responses, with optional provenance."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    prompt: str | list[Message]
    response_a: str
    response_b: str
    system: str | None = None
    model_a: str | None = None
    model_b: str | None = None
    human: Winner | None = None
    identical: bool = False
    meta: dict[str, Any] = Field(default_factory=dict)

    def prompt_text(self) -> str:
        """The prompt as plain text, without system messages (:func:`prefjudge.content.prompt_text`)."""
        return prompt_text(self.prompt)

    def system_text(self) -> str | None:
        """``system`` and the prompt's system messages, each text once (:func:`prefjudge.content.system_text`)."""
        return system_text(self.prompt, self.system)


def clean_model_text(text: str) -> str:
    """A model's output made storable: NUL removed, lone surrogates replaced by U+FFFD.

    A reply is never refused for these characters (they are not text a model means), while the
    same characters in user input are an error (:mod:`prefjudge.textcheck`).

    >>> clean_model_text("a" + chr(0) + "b" + chr(0xD800) + "c") == "ab" + chr(0xFFFD) + "c"
    True
    """
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text)
    return text


class Completion(BaseModel):
    """What a backend returns: text, optional first-token logprobs, usage.

    ``text`` is cleaned on the way in (:func:`clean_model_text`), for every backend.
    """

    model_config = ConfigDict(extra="forbid")
    text: str
    top_logprobs: list[dict[str, float]] | None = None
    """Per generated token, a mapping token -> logprob of the top alternatives."""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    cached_prompt_tokens: int | None = None
    """Prompt tokens the provider served from its prompt cache (part of ``prompt_tokens``), when it says."""

    @field_validator("text")
    @classmethod
    def _clean(cls, value: str) -> str:
        return clean_model_text(value)


class Verdict(BaseModel):
    """A parsed verdict in *display* terms (first/second shown answer)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    choice: Literal["first", "second", "tie"] | None
    """None when the verdict could not be read (``error`` says why)."""
    p_first: float | None = None
    """Soft preference for the first shown answer, when the mode gives one."""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.choice is not None


#: Columns of the judgments table, one row per judge call, in order.
JUDGMENT_COLUMNS: tuple[str, ...] = (
    "pair_id", "prompt", "response_a", "response_b", "model_a", "model_b",
    "judge", "judge_family", "order", "winner", "p_a", "raw", "error",
    "latency_s", "prompt_tokens", "completion_tokens", "cost_usd", "human",
)
#: Columns a judgments table read from elsewhere must have.
REQUIRED_JUDGMENT_COLUMNS: tuple[str, ...] = ("pair_id", "judge", "winner")

#: Columns of ``RankResult.to_pandas()``, one row per pair (plus any ``meta`` columns after).
#: The aggregator contract: an aggregator (a rule name or a function ``judgments -> DataFrame`` indexed
#: by pair_id) returns at least ``winner`` and ``p_a``; the other columns are computed around it.
OUTCOME_COLUMNS = ("winner", "p_a", "n_verdicts", "n_failed", "consistent", "reason")

RESULT_COLUMNS: tuple[str, ...] = (
    "id", "prompt", "response_a", "response_b", "model_a", "model_b",
    "winner", "chosen", "rejected", "p_a", "n_verdicts", "n_failed", "consistent", "reason",
)


class Judgment(BaseModel):
    """One judge call, mapped back to the original a/b. A row of the judgments table."""

    model_config = ConfigDict(extra="forbid")
    pair_id: str
    prompt: str | list[Message] | None = None
    response_a: str | None = None
    response_b: str | None = None
    model_a: str | None = None
    model_b: str | None = None
    judge: str
    judge_family: str | None = None
    order: Order | None = None
    winner: Winner | None = None
    p_a: float | None = None
    raw: str | None = None
    error: str | None = None
    latency_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    human: Winner | None = None
    cached: bool = False

    def row(self) -> dict[str, Any]:
        d = {c: getattr(self, c) for c in JUDGMENT_COLUMNS}
        if isinstance(self.prompt, list):
            d["prompt"] = [m.model_dump() for m in self.prompt]
        return d
