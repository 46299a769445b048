"""The simulation model of the loopback server: a latent world, biased judges, generators.

Everything is deterministic for a seed: a request's randomness comes from a hash of
(server seed, model name, request content), so the same request always gets the same answer.
The exact model is written out in ``docs/testing.md``.
"""

from __future__ import annotations

import hashlib
import importlib
import math
import random
from collections.abc import Callable
from statistics import NormalDist
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_serializer, field_validator, model_validator

from prefjudge.errors import ConfigError
from prefjudge.families import infer_family
from prefjudge.mathutil import sigmoid
from prefjudge.perturbations import AnswerReading, read_answer
from prefjudge.testing.text import compose_answer, has_list

Fault = Literal["429", "500", "hang", "garbled"]
Choice = Literal["first", "second", "tie"]
ScoreFn = Callable[[str, str], float]

#: Character scale of the length term: ``length_bias * tanh((len(first) - len(second)) / LENGTH_SCALE)``.
LENGTH_SCALE = 200.0
#: Length (characters) at which the length term of a rating is 0: ``length_bias * tanh((len - RATING_LENGTH_REF) / LENGTH_SCALE)``.
RATING_LENGTH_REF = 400.0
#: Noise of each aspect around the judge's overall reading of an answer, as a share of ``noise``.
ASPECT_NOISE = 0.5
#: Upper bound of ``FaultPlan.hang_s`` (seconds).
MAX_HANG_S = 600.0
_NORMAL = NormalDist()


def seeded_rng(*parts: object) -> random.Random:
    """A ``random.Random`` seeded from a SHA-256 of ``parts`` (stable across processes)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def hash_normal(text: str, seed: int = 0) -> float:
    """A deterministic N(0, 1) draw from a text (the quality of texts nobody registered).

    >>> hash_normal("hello") == hash_normal("hello"), hash_normal("hello") != hash_normal("hello", 1)
    (True, True)
    """
    digest = hashlib.sha256(f"{seed}\x1f{text}".encode()).digest()
    u = (int.from_bytes(digest[:7], "big") + 0.5) / 2.0**56
    return _NORMAL.inv_cdf(u)


class FaultPlan(BaseModel):
    """Transport and content faults, drawn per (request content, attempt index)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rate_429: float = Field(0.0, ge=0, le=1)
    retry_after_s: float = Field(0.05, ge=0)
    rate_500: float = Field(0.0, ge=0, le=1)
    rate_hang: float = Field(0.0, ge=0, le=1)
    hang_s: float = Field(30.0, ge=0, le=MAX_HANG_S)
    rate_garbled: float = Field(0.0, ge=0, le=1)
    fail_first_n: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _rates_sum(self) -> FaultPlan:
        total = self.rate_429 + self.rate_500 + self.rate_hang + self.rate_garbled
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault rates add up to {total:.3f} > 1")
        return self

    def draw(self, seed: int, key: str, attempt: int) -> Fault | None:
        """The fault for attempt ``attempt`` (0-based) of the request with content hash ``key``."""
        if attempt < self.fail_first_n:
            return "500"
        if not (self.rate_429 or self.rate_500 or self.rate_hang or self.rate_garbled):
            return None
        u = seeded_rng(seed, "fault", key, attempt).random()
        for fault, rate in (("429", self.rate_429), ("500", self.rate_500),
                            ("hang", self.rate_hang), ("garbled", self.rate_garbled)):
            if u < rate:
                return fault  # type: ignore[return-value]
            u -= rate
        return None


class WorldEntry(BaseModel):
    """What the world knows about one response text."""

    model_config = ConfigDict(extra="forbid")
    quality: float
    model: str | None = None
    family: str | None = None


def _resolve_score(spec: str) -> ScoreFn:
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ConfigError(f"score must be a callable or 'module:function', not {spec!r}")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot import score function {spec!r}: {exc}") from exc
    if not callable(fn):
        raise ConfigError(f"score function {spec!r} is not callable")
    return fn


class SimWorld(BaseModel):
    """The latent truth: a quality for every (prompt, response) and who wrote each response.

    Registered texts (keyed by their stripped text) have the registered quality and model;
    other texts get ``hash_normal(text, seed)``. ``score`` (a callable ``(prompt, response) ->
    float`` or a ``"module:function"`` string) replaces the quality of every text when set.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    entries: dict[str, WorldEntry] = Field(default_factory=dict)
    seed: int = 0
    score: ScoreFn | str | None = None
    _score_fn: ScoreFn | None = PrivateAttr(default=None)

    @field_serializer("score")
    def _dump_score(self, score: Any) -> str | None:
        if score is None or isinstance(score, str):
            return score
        qualname = getattr(score, "__qualname__", "")
        if "<" in qualname or not getattr(score, "__module__", None):
            raise ConfigError("a lambda or local score function cannot be saved; pass 'module:function'")
        return f"{score.__module__}:{qualname}"

    def register(self, response: str, *, quality: float | None = None, model: str | None = None,
                 family: str | None = None) -> WorldEntry:
        """Record a response's latent quality (default: its hash quality) and its generator."""
        if quality is None:
            quality = hash_normal(response.strip(), self.seed)
        if family is None and model is not None:
            family = infer_family(model)
        entry = WorldEntry(quality=float(quality), model=model, family=family)
        self.entries[response.strip()] = entry
        return entry

    def quality(self, prompt: str, response: str) -> float:
        """Latent quality of ``response`` to ``prompt``."""
        if self.score is not None:
            if self._score_fn is None:
                self._score_fn = self.score if callable(self.score) else _resolve_score(self.score)
            return float(self._score_fn(prompt, response))
        entry = self.entries.get(response.strip())
        return entry.quality if entry is not None else hash_normal(response.strip(), self.seed)

    def generator(self, response: str) -> str | None:
        """Name of the model that wrote ``response``, when registered."""
        entry = self.entries.get(response.strip())
        return entry.model if entry is not None else None

    def family(self, response: str) -> str | None:
        """Family of the model that wrote ``response``, when registered."""
        entry = self.entries.get(response.strip())
        return entry.family if entry is not None else None


class Decision(NamedTuple):
    choice: Choice
    """The verdict in display terms."""
    p_first: float
    """P(first shown answer wins), the number the logprob mode reports."""
    margin: float
    """Noise-free margin d0 for the first shown answer."""
    positional: bool
    """True when the position bias alone decided."""


class RatingDecision(NamedTuple):
    score: float
    """The overall score on the scale (the aspects' mean when aspects are rated)."""
    aspects: dict[str, float]
    latent: float
    """Noise-free reading u of the answer (quality plus biases) that the score is drawn around."""


def to_scale(x: float, scale: tuple[float, float]) -> float:
    """A latent reading onto an integer scale: ``mid + x * (high - low) / 4``, rounded, clipped.

    >>> to_scale(0.0, (1, 10)), to_scale(1.0, (1, 5)), to_scale(9.0, (1, 5))
    (6.0, 4.0, 5.0)
    """
    lo, hi = scale
    value = round((lo + hi) / 2 + x * (hi - lo) / 4)
    return float(min(max(value, lo), hi))


def _infer_family_before(data: Any) -> Any:
    if isinstance(data, dict) and data.get("family") is None and isinstance(data.get("name"), str):
        data = {**data, "family": infer_family(data["name"])}
    return data


class SimJudge(BaseModel):
    """A simulated judge with tunable noise and biases (see docs/testing.md for the model)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    family: str | None = None
    noise: float = Field(1.0, ge=0)
    position_bias: float = Field(0.0, ge=0, le=1)
    length_bias: float = 0.0
    list_bias: float = 0.0
    self_bias: float = 0.0
    injection_bias: float = 0.0
    """Pull of an instruction to the judge inside an answer ("ignore previous instructions ...")
    toward that answer; 0 (the default) is a judge that ignores such text."""
    tie_margin: float = Field(0.0, ge=0)
    latency_s: float = Field(0.0, ge=0)
    faults: FaultPlan = Field(default_factory=FaultPlan)

    @model_validator(mode="before")
    @classmethod
    def _fill_family(cls, data: Any) -> Any:
        return _infer_family_before(data)

    def margin(self, world: SimWorld, question: str, first: str, second: str) -> float:
        """d0 = u(first) - u(second) without noise.

        The judge reads through the content-free edits of :mod:`prefjudge.perturbations` (filler,
        a list made of the same sentences, an author line, an appended instruction): quality is that
        of the content, while length and lists are those of the text shown, an author line decides
        ``own`` and an instruction pulls by ``injection_bias``. A text without edits is read as is.
        """
        rf, rs = read_answer(first), read_answer(second)
        d = world.quality(question, rf.content) - world.quality(question, rs.content)
        if self.length_bias:
            d += self.length_bias * math.tanh((len(first) - len(second)) / LENGTH_SCALE)
        if self.list_bias:
            d += self.list_bias * (int(has_list(first)) - int(has_list(second)))
        if self.self_bias:
            d += self.self_bias * (int(self._own(world, rf)) - int(self._own(world, rs)))
        if self.injection_bias:
            d += self.injection_bias * (int(rf.injected) - int(rs.injected))
        return d

    def _own(self, world: SimWorld, reading: AnswerReading) -> bool:
        """Whether the answer is of the judge's family: the named author's, else the registered writer's."""
        if reading.author is not None:
            return infer_family(reading.author) == self.family
        return world.family(reading.content) == self.family

    def p_first(self, d0: float) -> float:
        """position_bias + (1 - position_bias) * sigmoid(d0 / noise)."""
        if self.noise == 0:
            s = 1.0 if d0 > 0 else 0.0 if d0 < 0 else 0.5
        else:
            s = sigmoid(d0 / self.noise)
        return self.position_bias + (1.0 - self.position_bias) * s

    def rating_reading(self, world: SimWorld, question: str, answer: str) -> float:
        """The noise-free reading u of one answer that its ratings are drawn around: the quality of
        its content plus the length term ``length_bias * tanh((len - RATING_LENGTH_REF) / LENGTH_SCALE)``,
        ``list_bias`` (a list), ``self_bias`` (the judge's family wrote it) and ``injection_bias``
        (an instruction to the judge inside it). No position term: a rating shows one answer."""
        reading = read_answer(answer)
        u = world.quality(question, reading.content)
        if self.length_bias:
            u += self.length_bias * math.tanh((len(answer) - RATING_LENGTH_REF) / LENGTH_SCALE)
        if self.list_bias:
            u += self.list_bias * int(has_list(answer))
        if self.self_bias:
            u += self.self_bias * int(self._own(world, reading))
        if self.injection_bias:
            u += self.injection_bias * int(reading.injected)
        return u

    def rate(self, world: SimWorld, question: str, answer: str, rng: random.Random,
             scale: tuple[float, float], aspects: tuple[str, ...] = ()) -> RatingDecision:
        """One rating: ``to_scale(u + noise * eps)``. With aspects, each aspect is
        ``to_scale(u + noise * eps + ASPECT_NOISE * noise * eps_aspect)`` and the score is their mean."""
        u = self.rating_reading(world, question, answer)
        x = u + self.noise * rng.gauss(0.0, 1.0)
        if not aspects:
            return RatingDecision(to_scale(x, scale), {}, u)
        values = {a: to_scale(x + ASPECT_NOISE * self.noise * rng.gauss(0.0, 1.0), scale) for a in aspects}
        return RatingDecision(sum(values.values()) / len(values), values, u)

    def decide(self, world: SimWorld, question: str, first: str, second: str,
               rng: random.Random) -> Decision:
        """One verdict: positional with probability position_bias, else the noisy margin decides."""
        d0 = self.margin(world, question, first, second)
        u = rng.random()
        eps = rng.gauss(0.0, 1.0)
        if u < self.position_bias:
            return Decision("first", self.p_first(d0), d0, True)
        d = d0 + self.noise * eps
        if abs(d) < self.tie_margin or d == 0:
            choice: Choice = "tie"
        else:
            choice = "first" if d > 0 else "second"
        return Decision(choice, self.p_first(d0), d0, False)


class SimGenerator(BaseModel):
    """A simulated answer writer whose texts the world then knows (quality, model, family)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    family: str | None = None
    quality_mean: float = 0.0
    quality_sd: float = Field(1.0, ge=0)
    length_words: tuple[int, int] = (20, 80)
    list_prob: float = Field(0.2, ge=0, le=1)
    latency_s: float = Field(0.0, ge=0)
    faults: FaultPlan = Field(default_factory=FaultPlan)

    @model_validator(mode="before")
    @classmethod
    def _fill_family(cls, data: Any) -> Any:
        return _infer_family_before(data)

    @field_validator("length_words")
    @classmethod
    def _check_lengths(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not 1 <= v[0] <= v[1]:
            raise ValueError(f"length_words must satisfy 1 <= low <= high, got {v}")
        return v

    def draw(self, rng: random.Random) -> tuple[str, float]:
        """One answer text and its latent quality, from ``rng``."""
        quality = rng.gauss(self.quality_mean, self.quality_sd)
        n_words = rng.randint(*self.length_words)
        with_list = rng.random() < self.list_prob
        return compose_answer(rng, n_words, with_list), quality

    def generate(self, world: SimWorld, *, seed: int, prompt: str, temperature: float | None,
                 index: int, max_tokens: int | None = None) -> tuple[str, bool]:
        """Answer ``prompt`` deterministically and register the text; returns (text, truncated)."""
        text, quality = self.draw(seeded_rng(seed, "generate", self.name, prompt, temperature, index))
        truncated = max_tokens is not None and len(text) > 4 * max_tokens
        if truncated:
            text = text[: 4 * max(int(max_tokens or 1), 1)].rstrip()
        world.register(text, quality=quality, model=self.name, family=self.family)
        return text, truncated


def default_sim_jury() -> list[SimJudge]:
    """Three judges from three families, each with a characteristic bias (for the quickstart).

    Names start with a vendor prefix so that ``infer_family`` finds their family.

    >>> [(j.name, j.family) for j in default_sim_jury()]
    [('gpt-sim', 'openai'), ('claude-sim', 'anthropic'), ('llama-sim', 'meta')]
    """
    return [
        SimJudge(name="gpt-sim", family="openai", noise=0.5, position_bias=0.1, tie_margin=0.1),
        SimJudge(name="claude-sim", family="anthropic", noise=0.7, length_bias=0.8),
        SimJudge(name="llama-sim", family="meta", noise=1.2, self_bias=0.8, position_bias=0.05),
    ]


def default_sim_generators() -> list[SimGenerator]:
    """Three generators of different quality and style, from the jury's three families."""
    return [
        SimGenerator(name="gpt-sim-writer", family="openai", quality_mean=0.5,
                     length_words=(40, 120), list_prob=0.3),
        SimGenerator(name="claude-sim-writer", family="anthropic", quality_mean=0.3,
                     length_words=(60, 160), list_prob=0.4),
        SimGenerator(name="llama-sim-writer", family="meta", quality_mean=-0.4,
                     length_words=(15, 70), list_prob=0.15),
    ]
