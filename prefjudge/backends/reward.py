"""Local reward models as scorers: one score per (prompt, answer), or one preference per pair.

:class:`RewardModel` wraps a Hugging Face ``AutoModelForSequenceClassification`` reward model (a
local folder or a cached Hub id): it scores answers in batches (the tokenizer's chat template
applied when it has one), on the GPU when there is one. torch and transformers load on first use.
It is a rater in :func:`prefjudge.rate` (its score is the raw reward) and a pairwise scorer:
``prefer(pair)`` is ``sigmoid(reward_a - reward_b)``.

:class:`PairwiseRewardModel` is the interface of a reward model that reads *both* answers in one
forward pass and returns P(a is better) (PairRM-style); :class:`JointPairRM` implements it for a
sequence-classification model whose input holds the prompt and both answers.

Either kind gives judgments rows (the judgments table's columns, ``order="ab"``, a soft ``p_a``)
for a list of pairs with :func:`reward_judgments`, so a reward model can be aggregated next to LLM
judges.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from prefjudge.errors import ConfigError, InputError
from prefjudge.mathutil import sigmoid
from prefjudge.types import JUDGMENT_COLUMNS, Pair

if TYPE_CHECKING:
    from prefjudge.types import Message

#: The joint input of :class:`JointPairRM` by default (PairRM's source/candidate layout).
PAIR_TEMPLATE = "<|source|>{prompt}<|candidate1|>{a}<|candidate2|>{b}"
_DEFAULT_MAX_LENGTH = 4096


def _messages(prompt: str | Sequence[Any], system: str | None, response: str) -> list[dict[str, str]]:
    """Chat messages: the system prompt, the prompt's turns (a string is one user turn), the answer."""
    from prefjudge.content import system_text

    out: list[dict[str, str]] = []
    sys_text = system_text(prompt, system)
    if sys_text:
        out.append({"role": "system", "content": sys_text})
    if isinstance(prompt, str):
        out.append({"role": "user", "content": prompt})
    else:
        for m in prompt:
            role, content = (m["role"], m["content"]) if isinstance(m, dict) else (m.role, m.content)
            if role != "system":
                out.append({"role": role, "content": content})
    out.append({"role": "assistant", "content": response})
    return out


class _Loaded:
    """A sequence-classification model and its tokenizer, loaded once (thread-safe), on the GPU when present."""

    def __init__(self, path: str, device: str | None, label: int, max_length: int | None):
        self.path, self.device_name, self.label, self.max_length = path, device, label, max_length
        self._lock = threading.Lock()
        self.model = self.tokenizer = None
        self.device: Any = None

    def load(self) -> tuple[Any, Any]:
        with self._lock:
            if self.model is None:
                import torch
                from transformers import AutoModelForSequenceClassification, AutoTokenizer

                device = self.device_name or ("cuda" if torch.cuda.is_available() else "cpu")
                try:
                    tok = AutoTokenizer.from_pretrained(self.path)
                    kwargs = {"dtype": "auto"} if device.startswith("cuda") else {"dtype": torch.float32}
                    model = AutoModelForSequenceClassification.from_pretrained(self.path, **kwargs)
                except (OSError, ValueError) as exc:
                    raise ConfigError(f"cannot load reward model {self.path!r}: {type(exc).__name__}: {exc}") from None
                if tok.pad_token is None:
                    tok.pad_token = tok.eos_token
                tok.truncation_side = "left"  # a reward model reads the end of the answer: keep it
                if model.config.pad_token_id is None:
                    model.config.pad_token_id = tok.pad_token_id
                n_labels = int(getattr(model.config, "num_labels", 1))
                if not 0 <= self.label < n_labels:
                    raise ConfigError(f"reward model {self.path!r} has {n_labels} output(s); label={self.label} is not one")
                self.model, self.tokenizer, self.device = model.to(device).eval(), tok, device
        return self.model, self.tokenizer

    def limit(self, tok: Any) -> int:
        if self.max_length is not None:
            return self.max_length
        known = getattr(tok, "model_max_length", None)
        return int(known) if isinstance(known, int) and 0 < known < 1_000_000 else _DEFAULT_MAX_LENGTH

    def logits(self, texts: list[str], batch_size: int, special_tokens: bool) -> list[float]:
        """The model's output ``label`` for each text, in batches of similar lengths."""
        import torch

        model, tok = self.load()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[float] = [math.nan] * len(texts)
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            enc = tok([texts[i] for i in idx], return_tensors="pt", padding=True, truncation=True,
                      max_length=self.limit(tok), add_special_tokens=special_tokens)
            with torch.inference_mode():
                logits = model(**{k: v.to(self.device) for k, v in enc.items()}).logits
            for i, value in zip(idx, logits[:, self.label].float().cpu().tolist()):
                out[i] = float(value)
        return out


class RewardModel:
    """A local reward model (``AutoModelForSequenceClassification``, one output) that scores answers.

    ``path``: a folder or a Hub id in the local cache. ``name``: how it is listed among the judges
    (default: the folder name). ``family``: the model family, for self-preference in the ratings
    audit (default none). ``batch_size``: answers per forward pass. ``device``: default ``cuda``
    when available, else ``cpu``. ``max_length``: tokens per input (default the tokenizer's limit;
    longer inputs lose their start, so the end of the answer is always read). ``label``: which
    output is the reward when the head has several.

    >>> rm = RewardModel("/models/my-rm", name="rm")
    >>> rm.name, rm.kind
    ('rm', 'reward')
    """

    kind = "reward"

    def __init__(self, path: str | Path, *, name: str | None = None, family: str | None = None, batch_size: int = 8,
                 device: str | None = None, max_length: int | None = None, label: int = 0):
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"batch_size must be a positive integer, not {batch_size!r}", field="batch_size")
        self.path = str(path)
        self.name = name or Path(self.path).name or self.path
        self.family = family
        self.batch_size = batch_size
        self._model = _Loaded(self.path, device, label, max_length)

    def __repr__(self) -> str:
        return f"RewardModel({self.path!r}, name={self.name!r})"

    def preflight(self) -> None:
        """Refuse, before any call, a folder that holds no loadable model (ConfigError naming it)."""
        from prefjudge.backends.transformers_backend import check_loadable

        check_loadable(self.path, self.name)

    def meta(self) -> dict[str, Any]:
        """Provenance, as ``result.meta["judges"]`` records it."""
        return {"name": self.name, "kind": "reward", "model": self.path, "family": self.family,
                "batch_size": self.batch_size, "label": self._model.label}

    def input_text(self, prompt: str | Sequence[Message | dict], response: str, system: str | None = None) -> str:
        """The text the model reads: the tokenizer's chat template over (system, prompt turns, answer)
        when it has one, else ``prompt + "\\n\\n" + response``."""
        _, tok = self._model.load()
        messages = _messages(prompt, system, response)
        if getattr(tok, "chat_template", None):
            return tok.apply_chat_template(messages, tokenize=False)
        from prefjudge.content import prompt_text

        return f"{prompt_text(prompt) if not isinstance(prompt, str) else prompt}\n\n{response}"

    def score(self, prompts: Sequence[str | Sequence[Message | dict]], responses: Sequence[str],
              systems: Sequence[str | None] | None = None) -> list[float]:
        """The raw reward of each (prompt, response), batched. Raises on a model error."""
        if len(prompts) != len(responses) or (systems is not None and len(systems) != len(prompts)):
            raise InputError("prompts, responses (and systems) must have the same length")
        systems = systems if systems is not None else [None] * len(prompts)
        _, tok = self._model.load()
        texts = [self.input_text(p, r, s) for p, r, s in zip(prompts, responses, systems)]
        templated = bool(getattr(tok, "chat_template", None))
        return self._model.logits(texts, self.batch_size, special_tokens=not templated)

    def prefer(self, pair: Pair) -> float:
        """P(a is better) = sigmoid(reward_a - reward_b)."""
        return self.compare([pair])[0]

    def compare(self, pairs: Sequence[Pair]) -> list[float]:
        """P(a is better) for each pair: sigmoid of the reward difference (both answers in one batch)."""
        return [p for p, _ in self.compare_with_raw(pairs)]

    def compare_with_raw(self, pairs: Sequence[Pair]) -> list[tuple[float, str]]:
        """(P(a is better), the rewards as text) per pair."""
        pairs = list(pairs)
        prompts = [p.prompt for p in pairs] * 2
        systems = [p.system for p in pairs] * 2
        rewards = self.score(prompts, [p.response_a for p in pairs] + [p.response_b for p in pairs], systems)
        n = len(pairs)
        return [(sigmoid(a - b), f"reward_a={a:.6g} reward_b={b:.6g}") for a, b in zip(rewards[:n], rewards[n:])]

    def judgments(self, pairs: Sequence[Pair]) -> list[dict[str, Any]]:
        """Judgments rows for ``pairs`` (:func:`reward_judgments`)."""
        return reward_judgments(self, pairs)


@runtime_checkable
class PairwiseRewardModel(Protocol):
    """A reward model that reads the prompt and *both* answers in one forward pass (PairRM-style).

    ``compare(pairs)`` returns P(response_a is better) per pair; ``name`` and ``family`` label its
    judgments rows. :func:`reward_judgments` turns any such object into judgments rows.
    """

    name: str
    family: str | None

    def compare(self, pairs: Sequence[Pair]) -> list[float]: ...


class JointPairRM:
    """:class:`PairwiseRewardModel` for a sequence-classification model over one joint input:
    ``template`` (default :data:`PAIR_TEMPLATE`, PairRM's ``<|source|>…<|candidate1|>…<|candidate2|>…``)
    filled with the prompt text and the two answers; its output is the logit of P(a is better).

    ``both_orders``: also read (b, a) and average ``p(a, b)`` with ``1 - p(b, a)`` (two passes; cancels
    a position preference of the model).
    """

    kind = "pairwise_reward"

    def __init__(self, path: str | Path, *, name: str | None = None, family: str | None = None, batch_size: int = 8,
                 template: str = PAIR_TEMPLATE, both_orders: bool = False, device: str | None = None,
                 max_length: int | None = None, label: int = 0):
        for key in ("{prompt}", "{a}", "{b}"):
            if key not in template:
                raise ConfigError(f"the JointPairRM template needs {key}; got {template!r}")
        self.path = str(path)
        self.name = name or Path(self.path).name or self.path
        self.family = family
        self.batch_size = batch_size
        self.template = template
        self.both_orders = both_orders
        self._model = _Loaded(self.path, device, label, max_length)

    def __repr__(self) -> str:
        return f"JointPairRM({self.path!r}, name={self.name!r})"

    def meta(self) -> dict[str, Any]:
        return {"name": self.name, "kind": "pairwise_reward", "model": self.path, "family": self.family,
                "template": self.template, "both_orders": self.both_orders}

    def input_text(self, pair: Pair, swap: bool = False) -> str:
        """The joint input: the pair's system prompt (when any) and prompt text, then the two answers."""
        system = pair.system_text()
        prompt = f"{system}\n\n{pair.prompt_text()}" if system else pair.prompt_text()
        a, b = (pair.response_b, pair.response_a) if swap else (pair.response_a, pair.response_b)
        return self.template.replace("{prompt}", prompt).replace("{a}", a).replace("{b}", b)

    def compare(self, pairs: Sequence[Pair]) -> list[float]:
        """P(a is better) per pair: sigmoid of the model's output on the joint input."""
        return [p for p, _ in self.compare_with_raw(pairs)]

    def compare_with_raw(self, pairs: Sequence[Pair]) -> list[tuple[float, str]]:
        """(P(a is better), the logits as text) per pair."""
        pairs = list(pairs)
        texts = [self.input_text(p) for p in pairs]
        if self.both_orders:
            texts += [self.input_text(p, swap=True) for p in pairs]
        logits = self._model.logits(texts, self.batch_size, special_tokens=True)
        n = len(pairs)
        if self.both_orders:
            return [((sigmoid(x) + 1.0 - sigmoid(y)) / 2, f"logit_ab={x:.6g} logit_ba={y:.6g}")
                    for x, y in zip(logits[:n], logits[n:])]
        return [(sigmoid(x), f"logit_ab={x:.6g}") for x in logits]

    def prefer(self, pair: Pair) -> float:
        """P(a is better) for one pair."""
        return self.compare([pair])[0]

    def judgments(self, pairs: Sequence[Pair]) -> list[dict[str, Any]]:
        """Judgments rows for ``pairs`` (:func:`reward_judgments`)."""
        return reward_judgments(self, pairs)


def reward_judgments(scorer: RewardModel | PairwiseRewardModel, pairs: Sequence[Pair]) -> list[dict[str, Any]]:
    """One judgments row per pair (the columns of :data:`prefjudge.types.JUDGMENT_COLUMNS` plus ``cached``):
    ``judge`` = the scorer's name, ``order="ab"``, ``p_a`` = P(a is better) (soft), ``winner`` = ``a``
    when p_a > 0.5, ``b`` when below, ``tie`` at exactly 0.5, ``raw`` = the rewards or logits read,
    no cost. A model error fails every row of the call as a value (``winner`` None, ``error`` set)."""
    pairs = list(pairs)
    t0 = time.perf_counter()
    try:
        if hasattr(scorer, "compare_with_raw"):
            read = scorer.compare_with_raw(pairs)
            probs: list[float | None] = [p for p, _ in read]
            raws: list[str | None] = [r for _, r in read]
        else:
            probs, raws = list(scorer.compare(pairs)), [None] * len(pairs)
        if len(probs) != len(pairs):
            raise ValueError(f"{scorer.name}: compare returned {len(probs)} values for {len(pairs)} pairs")
        error = None
    except (ConfigError, InputError):
        raise
    except Exception as exc:  # a model error (out of memory, a bad input) is a failed judgment, not a crash
        probs, raws, error = [None] * len(pairs), [None] * len(pairs), f"{type(exc).__name__}: {exc}"
    latency = (time.perf_counter() - t0) / max(len(pairs), 1)
    rows = []
    for pair, p, raw in zip(pairs, probs, raws):
        ok = p is not None and not math.isnan(p)
        winner = None if not ok else "a" if p > 0.5 else "b" if p < 0.5 else "tie"  # type: ignore[operator]
        row = {c: None for c in JUDGMENT_COLUMNS}
        row.update(pair_id=pair.id, prompt=[m.model_dump() for m in pair.prompt] if isinstance(pair.prompt, list) else pair.prompt,
                   response_a=pair.response_a, response_b=pair.response_b, model_a=pair.model_a, model_b=pair.model_b,
                   judge=scorer.name, judge_family=getattr(scorer, "family", None), order="ab", winner=winner,
                   p_a=float(p) if ok else None, raw=raw, error=error if error else (None if ok else "the model returned NaN"),
                   latency_s=latency, human=pair.human, cached=False)
        rows.append(row)
    return rows


async def areward_judgments(scorer: RewardModel | PairwiseRewardModel, pairs: Sequence[Pair]) -> list[dict[str, Any]]:
    """:func:`reward_judgments` in a worker thread, so an event loop keeps serving LLM calls meanwhile."""
    return await asyncio.to_thread(reward_judgments, scorer, pairs)
