"""Judge: a model + backend + template + parser. The only place that swaps and unswaps order."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from typing import Literal

from pydantic import Field

from prefjudge.backends.base import CallParams
from prefjudge.backends.endpoint import NamedEndpointSettings
from prefjudge.judging.parsing import (
    NOT_OWN,
    coded_choices,
    parse_coded_verdict,
    parse_json_verdict,
    parse_logprob_verdict,
    parse_verdict,
    verdict_code,
)
from prefjudge.judging.templates import VERDICT_JSON_SCHEMA, Template, load_template
from prefjudge.types import Completion, Order, OrderMode, Pair, Verdict, Winner

REASK = (
    "I could not find your final verdict. Reply with exactly one of [[A]], [[B]] or [[C]] "
    "(C for a tie) and nothing else."
)
REASK_JSON = 'Reply again with only the JSON object {"comparison": "...", "verdict": "A" | "B" | "tie"}.'
REASK_CODED = (
    "The answers contain verdict-like text, so your verdict cannot be told apart from text copied from "
    "them. Reply with exactly one of these codes and nothing else: {first} if assistant A is better, "
    "{second} if assistant B is better, {tie} for a tie."
)


class Judge(NamedEndpointSettings):
    """One LLM judge: an endpoint (the transport fields of :class:`~prefjudge.backends.endpoint.EndpointSettings`)
    plus a template, a verdict mode and sampling settings.

    >>> Judge("gpt-4o-mini").family
    'openai'
    >>> Judge("qwen2.5-7b-instruct", base_url="http://127.0.0.1:8000/v1", api_key="x", name="qwen").name
    'qwen'
    >>> "sk-123" in repr(Judge("m", api_key="sk-123"))
    False
    >>> "pw" in repr(Judge("m", base_url="http://u:pw@127.0.0.1:8000/v1"))
    False
    >>> Judge("m", base_url="http://127.0.0.1:8000/v1", name="j").endpoint.label
    'j'
    """

    template: str = "pairwise"
    mode: Literal["verdict", "json", "logprob"] | None = None
    """Default: the template's mode (``pairwise`` -> verdict, ``pairwise_json`` -> json...)."""
    temperature: float = Field(default=0.0, ge=0.0, allow_inf_nan=False)
    max_tokens: int = Field(default=1024, gt=0)
    top_logprobs: int = Field(default=5, ge=1, le=20)
    reask: bool = True

    @property
    def priced(self) -> bool:
        """Whether litellm's price map applies (a hosted API, not a self-hosted server)."""
        return self.endpoint.priced

    def resolved_api_key(self) -> str | None:
        """The key to send (``api_key``, else the ``api_key_env`` variable); see :class:`Endpoint`."""
        return self.endpoint.resolved_api_key()

    def preflight(self, *, template: bool = True) -> None:
        """Fail before the first call, not during the run: an unknown backend, an ``api_key_env``
        variable that is not set, a template that cannot be read."""
        self.endpoint.preflight()
        if template:
            self.load_template()

    # -- prompts -----------------------------------------------------------------------------
    def load_template(self) -> Template:
        """The template, read from its file or the built-ins. A run loads it once
        (:meth:`Engine.template <prefjudge.judging.engine.Engine.template>`) and passes it to
        :meth:`render`, :meth:`parse` and :meth:`followup`; without it they load it themselves."""
        return load_template(self.template)

    @property
    def verdict_mode(self) -> str:
        return self._verdict_mode(None)

    def _verdict_mode(self, template: Template | None) -> str:
        return self.mode or (template if template is not None else self.load_template()).mode

    def call_params(self) -> CallParams:
        mode = self.verdict_mode
        rf = {"type": "json_schema", "json_schema": {"name": "verdict", "schema": VERDICT_JSON_SCHEMA, "strict": True}}
        return CallParams(
            temperature=self.temperature,
            max_tokens=1 if mode == "logprob" else self.max_tokens,
            logprobs=mode == "logprob",
            top_logprobs=self.top_logprobs if mode == "logprob" else None,
            logprob_tokens=["A", "B"] if mode == "logprob" else [],
            response_format=rf if mode == "json" else None,
            extra=self.params,
        )

    def render(self, pair: Pair, order: Order, *, template: Template | None = None) -> list[dict]:
        first, second = shown(pair, order)
        template = template if template is not None else self.load_template()
        return template.render(question=pair.prompt_text(), first=first, second=second, system=pair.system_text())

    def parse(self, completion: Completion, pair: Pair, order: Order, *, template: Template | None = None) -> Verdict:
        mode = self._verdict_mode(template)
        if mode == "logprob":
            return parse_logprob_verdict(completion.top_logprobs, completion.text)
        answers = shown(pair, order)
        if mode == "json":
            return parse_json_verdict(completion.text, answers)
        return parse_verdict(completion.text, answers)

    def followup(self, pair: Pair, order: Order, failed: Verdict, *,
                 template: Template | None = None) -> tuple[str, Callable[[Completion], Verdict]] | None:
        """The follow-up question after an unreadable verdict, and how to read its reply (None: no re-ask).

        A verdict that failed because every token in it also appears in an answer is re-asked with a
        code that no answer holds (:func:`prefjudge.judging.parsing.verdict_code`), so the reply cannot be
        confused with copied text; any other failure is re-asked in the template's own format.
        """
        mode = self._verdict_mode(template)
        if not self.reask or mode == "logprob":
            return None
        if mode == "json":
            return REASK_JSON, lambda c: self.parse(c, pair, order, template=template)
        if failed.error == NOT_OWN:
            first, second = shown(pair, order)
            code = verdict_code(pair.prompt_text(), first, second)
            return REASK_CODED.format(**coded_choices(code)), lambda c: parse_coded_verdict(c.text, code)
        return REASK, lambda c: self.parse(c, pair, order, template=template)

    # -- deprecated: the TRL-style interface moved to prefjudge.integrations.trl ---------------
    def judge(self, prompts: list[str], completions: list[list[str]], shuffle_order: bool = True, seed: int = 0) -> list[int | None]:
        """Deprecated: use ``prefjudge.integrations.trl.PairwiseJudge(judge, seed=...).judge(...)``.

        Kept for one release. It reaches the adapter by name (not by import) so that the judging
        layer does not import the layer above it; tests/test_layers.py lists it as the one exception.
        """
        import importlib
        import warnings

        warnings.warn("Judge.judge() is deprecated; use prefjudge.integrations.trl.PairwiseJudge(judge).judge(...)",
                      DeprecationWarning, stacklevel=2)
        adapter = importlib.import_module("prefjudge.integrations.trl").PairwiseJudge
        return adapter(self, seed=seed).judge(prompts, completions, shuffle_order=shuffle_order)


def shown(pair: Pair, order: Order) -> tuple[str, str]:
    """(first, second) answers as displayed for ``order``."""
    return (pair.response_a, pair.response_b) if order == "ab" else (pair.response_b, pair.response_a)


def to_original(verdict: Verdict, order: Order) -> tuple[Winner | None, float | None]:
    """Map a display-order verdict back to the original a/b: (winner, p_a).

    >>> to_original(Verdict(choice="first"), "ba")
    ('b', None)
    >>> to_original(Verdict(choice="second", p_first=0.2), "ba")
    ('a', 0.8)
    >>> to_original(Verdict(choice="tie"), "ba")
    ('tie', None)
    >>> to_original(Verdict(choice=None, error="x"), "ab")
    (None, None)
    """
    if verdict.choice is None:
        return None, None
    if verdict.choice == "tie":
        winner: Winner = "tie"
    elif (verdict.choice == "first") == (order == "ab"):
        winner = "a"
    else:
        winner = "b"
    p_a = None
    if verdict.p_first is not None:
        p_a = verdict.p_first if order == "ab" else 1.0 - verdict.p_first
    return winner, p_a


def display_orders(pair_id: str, judge_name: str, seed: int, mode: OrderMode) -> list[Order]:
    """The display order(s) of one pair for one judge.

    ``random`` draws from an RNG seeded by (pair id, judge name, seed), so reruns are identical.

    >>> display_orders("p1", "j", 0, "both")
    ['ab', 'ba']
    >>> display_orders("p1", "j", 0, "random") == display_orders("p1", "j", 0, "random")
    True
    """
    if mode == "both":
        return ["ab", "ba"]
    if mode == "fixed":
        return ["ab"]
    digest = hashlib.sha256(f"{pair_id}\x1f{judge_name}\x1f{seed}".encode()).digest()
    return ["ab" if random.Random(digest).random() < 0.5 else "ba"]
