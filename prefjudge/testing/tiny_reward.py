"""Tiny reward models built locally whose scores follow a known rule, for tests.

Nothing is downloaded: the tokenizer is the tiny causal LM's (:mod:`prefjudge.train.tiny_model`,
trained on its built-in corpus) plus a few added tokens, and the weights of a one- or two-layer
Llama ``LlamaForSequenceClassification`` are *set by hand* so that its output is a known function
of the input:

- ``kind="pointwise"`` (:func:`build_tiny_reward_model`): the reward is about ``10 x`` the share of
  :data:`GOOD` tokens among the input's tokens (exactly :func:`pointwise_reward`);
- ``kind="pairwise"``: the input is ``<|source|>prompt<|candidate1|>a<|candidate2|>b``
  (:data:`prefjudge.backends.reward.PAIR_TEMPLATE`) and the output logit is about
  ``10 x (good tokens in a - good tokens in b) / tokens``, read in one forward pass: P(a better) > 0.5
  exactly when answer a holds more :data:`GOOD` tokens than b.

How: every token embedding is ``C`` on dimension 0 (so every RMSNorm divides by about the same
number) plus indicator dimensions. Queries and keys are zero, so attention averages uniformly over
the tokens so far. In the pointwise model one layer averages the GOOD indicator and the score head
reads it. In the pairwise model layer 1 averages the separator indicators (non-zero exactly after
``<|candidate1|>`` resp. ``<|candidate2|>``), its MLP turns them into steps (a difference of two
SiLU units with a large gain) that multiply the GOOD indicator: ``+1`` for a GOOD token of answer
a, ``-1`` of answer b, ``0`` in the prompt; layer 2 averages that signed indicator and the head
reads it.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Literal

from prefjudge.errors import InputError

GOOD = "<good>"
"""The marker token whose share the tiny reward model rewards."""
PAIR_TOKENS = ("<|source|>", "<|candidate1|>", "<|candidate2|>")
MARKER = "prefjudge_tiny_reward.json"
BUILDER_VERSION = 1
HIDDEN = 16
C = 8.0  # the constant of dimension 0
EPS = 1e-6  # RMSNorm epsilon
TARGET = 10.0  # reward ~ TARGET x share of GOOD tokens
GAIN = 1.0e5  # slope of the pairwise model's step units
STEP_BIAS = 20.0  # the step units fire when GAIN * (average separator indicator) > STEP_BIAS + 1
Kind = Literal["pointwise", "pairwise"]


def _norm(sq_sum: float) -> float:
    """1 / RMS of a vector of HIDDEN dimensions with the given sum of squares."""
    return 1.0 / math.sqrt(sq_sum / HIDDEN + EPS)


def _a() -> float:
    """An indicator dimension after the input RMSNorm of a token with one indicator set."""
    return _norm(C * C + 1.0)


def _head_weight() -> float:
    """The score head's weight, so that the reward is about TARGET x share (for small shares)."""
    return TARGET / (_a() * _norm(C * C))


def pointwise_reward(n_good: int, n_tokens: int, last_is_good: bool) -> float:
    """The pointwise tiny reward model's exact output for an input of ``n_tokens`` tokens (padding
    excluded) of which ``n_good`` are :data:`GOOD`; ``last_is_good``: the input ends with one.

    >>> round(pointwise_reward(1, 10, False), 3), pointwise_reward(0, 10, False)
    (1.0, 0.0)
    """
    s = n_good / n_tokens
    h1 = _a() * s
    return _head_weight() * h1 * _norm(C * C + h1 * h1 + (1.0 if last_is_good else 0.0))


def _embed_matrix(torch, n_vocab: int, ids: dict[str, int], dims: dict[str, int]):
    emb = torch.zeros(n_vocab, HIDDEN)
    emb[:, 0] = C
    for token, dim in dims.items():
        emb[ids[token], dim] = 1.0
    return emb


def _zero(model) -> None:
    import torch

    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or "layernorm" in name:
                p.fill_(1.0)


def _set_pointwise(model, ids: dict[str, int]) -> None:
    import torch

    _zero(model)
    layer = model.model.layers[0]
    with torch.no_grad():
        model.model.embed_tokens.weight.copy_(_embed_matrix(torch, model.config.vocab_size, ids, {GOOD: 2}))
        layer.self_attn.v_proj.weight[1, 2] = 1.0  # value: the GOOD indicator, into dimension 1
        layer.self_attn.o_proj.weight.copy_(torch.eye(HIDDEN))
        model.score.weight[0, 1] = _head_weight()


def _set_pairwise(model, ids: dict[str, int]) -> None:
    import torch

    _zero(model)
    first, second = model.model.layers
    src, cand1, cand2 = PAIR_TOKENS
    bias = STEP_BIAS / math.sqrt(HIDDEN)  # dimension 0 is ~sqrt(HIDDEN) after a norm: it carries the bias
    with torch.no_grad():
        model.model.embed_tokens.weight.copy_(
            _embed_matrix(torch, model.config.vocab_size, ids, {cand1: 1, cand2: 2, GOOD: 3}))
        # layer 1: average of the separator indicators (> 0 exactly after each separator)
        first.self_attn.v_proj.weight[4, 1] = 1.0
        first.self_attn.v_proj.weight[5, 2] = 1.0
        first.self_attn.o_proj.weight.copy_(torch.eye(HIDDEN))
        # MLP: step(after a) * good - 2 * step(after b) * good, each step a difference of two SiLU units
        mlp = first.mlp
        for unit, (dim, shift) in enumerate(((4, 0.0), (4, 1.0), (5, 0.0), (5, 1.0))):
            mlp.gate_proj.weight[unit, dim] = GAIN
            mlp.gate_proj.weight[unit, 0] = -bias * (1.0 + shift / STEP_BIAS)
            mlp.up_proj.weight[unit, 3] = 1.0
        for unit, sign in enumerate((1.0, -1.0, -2.0, 2.0)):
            mlp.down_proj.weight[6, unit] = sign / _norm(C * C + 1.0)
        # layer 2: average of the signed indicator; the head reads it
        second.self_attn.v_proj.weight[7, 6] = 1.0
        second.self_attn.o_proj.weight.copy_(torch.eye(HIDDEN))
        model.score.weight[0, 7] = TARGET / (_norm(C * C) * _norm(C * C))


def _write(out: Path, kind: Kind, seed: int, spec: dict) -> None:
    import torch
    import transformers

    from prefjudge.train.tiny_model import _model_config, _train_tokenizer, _wrap_tokenizer

    transformers.utils.logging.disable_progress_bar()
    tokenizer = _wrap_tokenizer(_train_tokenizer(800), "chatml")
    tokenizer.add_tokens([GOOD, *PAIR_TOKENS], special_tokens=True)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in (GOOD, *PAIR_TOKENS)}
    n_layers = 1 if kind == "pointwise" else 2
    dims = dict(hidden_size=HIDDEN, num_layers=n_layers, num_heads=1, num_kv_heads=1, intermediate_size=4)
    config = _model_config("llama", len(tokenizer), dims, tokenizer)
    config.num_labels = 1
    config.rms_norm_eps = EPS
    config.architectures = ["LlamaForSequenceClassification"]
    torch.manual_seed(seed)
    model = transformers.AutoModelForSequenceClassification.from_config(config, dtype=torch.float32)
    (_set_pointwise if kind == "pointwise" else _set_pairwise)(model, ids)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / MARKER).write_text(json.dumps({**spec, "token_ids": ids}, indent=2))


def build_tiny_reward_model(path: str | os.PathLike, *, kind: Kind = "pointwise", seed: int = 0) -> Path:
    """Build (or reuse) a tiny reward model in ``path`` and return the path; see the module docstring
    for the rule its scores follow. Load it with ``prefjudge.RewardModel(path)`` (pointwise) or
    ``prefjudge.backends.reward.JointPairRM(path)`` (pairwise)."""
    if kind not in ("pointwise", "pairwise"):
        raise InputError(f"kind must be 'pointwise' or 'pairwise', not {kind!r}", field="kind")
    spec = {"version": BUILDER_VERSION, "kind": kind, "seed": seed}
    path = Path(path)
    marker = path / MARKER
    if marker.exists():
        recorded = json.loads(marker.read_text())
        if {k: recorded.get(k) for k in spec} == spec:
            return path
    elif path.exists() and any(path.iterdir()):
        raise InputError(f"{path} exists, is not empty and was not built by build_tiny_reward_model", field="path")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        _write(tmp, kind, seed, spec)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path
