"""Synthetic judgments tables with known injected biases (numpy, seeded) for the jury/audit tests.

The latent model: each pair has a true quality gap ``q = quality(a) - quality(b)``; a judge sees
the answers in one display order, and its margin for the first shown answer is
``gap + length_bias * tanh(dlen / 200) + list_bias * dlist + self_bias * dself + noise * eps``.
With probability ``position_bias`` it picks the first shown answer whatever the margin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from prefjudge.families import infer_family

WORDS = "alpha beta gamma delta answer model data value point result because therefore".split()
GENERATORS = {"gpt-4o-mini": "openai", "claude-3-haiku": "anthropic", "llama-3-8b": "meta", "mistral-7b": "mistral"}


@dataclass
class SimJudgeSpec:
    name: str
    noise: float = 0.5
    position_bias: float = 0.0
    length_bias: float = 0.0
    list_bias: float = 0.0
    self_bias: float = 0.0
    family: str | None = None


def make_pairs(n: int, seed: int = 0, *, generators=GENERATORS) -> pd.DataFrame:
    """n pairs with texts of varied length, some with lists, from the given generators."""
    rng = np.random.default_rng(seed)
    names = list(generators)
    ma = rng.integers(0, len(names), n)
    mb = (ma + rng.integers(1, len(names), n)) % len(names)
    rows = []
    for i in range(n):
        ta, tb = _text(rng), _text(rng)
        rows.append({"pair_id": f"p{i}", "prompt": f"question {i}?", "response_a": ta, "response_b": tb,
                     "model_a": names[ma[i]], "model_b": names[mb[i]], "gap": float(rng.normal(0, 1))})
    return pd.DataFrame(rows)


def _text(rng) -> str:
    """About 5-120 words; 30% of texts are a list whose length follows the same distribution."""
    words = list(rng.choice(WORDS, int(rng.integers(5, 120))))
    if rng.random() < 0.3 and len(words) > 6:
        cut = sorted(rng.choice(np.arange(1, len(words)), 2, replace=False))
        return " ".join(words[:cut[0]]) + "\n- " + " ".join(words[cut[0]:cut[1]]) + "\n- " + " ".join(words[cut[1]:])
    return " ".join(words)


def has_list(text: str) -> bool:
    import re

    return re.search(r"^[ \t]*(?:[*\u2022\-]|\d{1,3}[.)]|[A-Za-z][.)])[ \t]+\S", text, re.M) is not None


def judge_pairs(pairs: pd.DataFrame, judges: list[SimJudgeSpec], *, order: str = "both", seed: int = 0,
                human: bool = False, human_noise: float = 0.3) -> pd.DataFrame:
    """The judgments table of ``judges`` on ``pairs`` (order "both" or "random")."""
    rng = np.random.default_rng(seed + 1)
    la = pairs["response_a"].str.len().to_numpy(float)
    lb = pairs["response_b"].str.len().to_numpy(float)
    lista = pairs["response_a"].map(has_list).to_numpy(float)
    listb = pairs["response_b"].map(has_list).to_numpy(float)
    fam_a = pairs["model_a"].map(GENERATORS).to_numpy(object)
    fam_b = pairs["model_b"].map(GENERATORS).to_numpy(object)
    gap = pairs["gap"].to_numpy(float)
    truth = np.where(gap > 0, "a", "b")
    hum = np.where(gap + human_noise * rng.normal(size=len(gap)) > 0, "a", "b") if human else np.full(len(gap), None)
    frames = []
    for j in judges:
        fam = j.family or infer_family(j.name)
        base = gap + j.length_bias * np.tanh((la - lb) / 200) + j.list_bias * (lista - listb) \
            + j.self_bias * ((fam_a == fam).astype(float) - (fam_b == fam).astype(float))
        orders = ["ab", "ba"] if order == "both" else [None]
        for o in orders:
            oo = np.where(rng.random(len(gap)) < 0.5, "ab", "ba") if o is None else np.full(len(gap), o)
            margin_a = base + j.noise * rng.normal(size=len(gap))
            pos = rng.random(len(gap)) < j.position_bias
            a_wins = np.where(pos, oo == "ab", margin_a > 0)
            frames.append(pd.DataFrame({
                "pair_id": pairs["pair_id"], "prompt": pairs["prompt"], "response_a": pairs["response_a"],
                "response_b": pairs["response_b"], "model_a": pairs["model_a"], "model_b": pairs["model_b"],
                "judge": j.name, "judge_family": fam, "order": oo, "winner": np.where(a_wins, "a", "b"),
                "human": hum, "truth": truth,
            }))
    return pd.concat(frames, ignore_index=True)
