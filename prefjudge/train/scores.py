"""Score functions for simulated juries in smoke runs (``SimWorld(score="module:function")``).

They encode the style the local samples in ``recipes/data`` prefer, so that the evaluation of a
smoke-trained model against its base can show the learned preference. They are test fixtures
for the simulator, not quality metrics.

>>> sample_style_score("", "Sure. Let me explain it step by step. I hope this helps.")
5.0
>>> sample_style_score("", "I don't know. No idea.")
-3.0
"""

from __future__ import annotations

import re

PREFERRED = ("sure", "explain", "step", "hope", "helps")
REFUSALS = ("don't", "know", "idea", "maybe")


def sample_style_score(prompt: str, response: str) -> float:
    """+1 per distinct preferred-style word present, -1 per distinct refusal word present."""
    words = set(re.findall(r"[a-z']+", response.lower()))
    return float(sum(w in words for w in PREFERRED) - sum(w in words for w in REFUSALS))


#: Definite openers of :func:`direct_style_score` (matched as a prefix of the answer).
DIRECT_OPENERS = ("the", "this", "that", "these", "then", "therefore")
#: Clarity words of :func:`direct_style_score` (all single tokens of the tiny model's tokenizer).
CLARITY_WORDS = ("clear", "simple", "explains", "helps", "step", "summary", "better", "good")


def direct_style_score(prompt: str, response: str) -> float:
    """The pipeline recipe's simulated taste: an answer that opens with a definite word and uses
    clarity words is better.

    +2 when the answer starts with one of :data:`DIRECT_OPENERS` (a prefix test, so "Thenoia"
    counts: it is about the opening tokens a tiny model can learn), plus 10 x the share of its
    words that are :data:`CLARITY_WORDS`; -1 for an answer without any word. The simulated
    generators' answers are random words, so 3 in 10 prompts or so get a candidate that opens this
    way among 12, and the curated chosen answers open with it far more often than the rejected
    ones: a preference a tiny model learns in a few dozen DPO steps and a simulated jury with the
    same score can see in the trained model's answers. A fixture, not a quality metric.

    >>> direct_style_score("", "The answer explains it in a clear way.")
    4.5
    >>> direct_style_score("", "Water rises."), direct_style_score("", "42 !")
    (0.0, -1.0)
    """
    text = response.strip().lower()
    words = re.findall(r"[a-z']+", text)
    if not words:
        return -1.0
    clarity = sum(w in CLARITY_WORDS for w in words) / len(words)
    return 2.0 * text.startswith(DIRECT_OPENERS) + 10.0 * clarity
