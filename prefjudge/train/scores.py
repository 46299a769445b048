"""Score functions for simulated juries in smoke runs (``SimWorld(score="module:function")``).

They encode the style the built-in recipes' local samples (``prefjudge/recipes/builtin/data``) prefer, so that the evaluation of a
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



#: The words :func:`explanation_score` counts (each a single token of the tiny model's tokenizer).
EXPLANATION_WORDS = ("answer", "question", "result", "step", "reason", "simple", "clear", "good", "better",
                     "then", "explains", "helps", "checks", "compares", "describes", "improves", "follows",
                     "summary")


def explanation_score(prompt: str, response: str) -> float:
    """The pipeline recipe's simulated taste: 10 x the share of an answer's words that are
    :data:`EXPLANATION_WORDS` (answer, reason, step, explains, compares, summary...); -1 for an
    answer without any word.

    The simulated writers draw their words at random from a vocabulary of 129, 18 of them these,
    so answers to the same prompt differ in this share by chance; the curated chosen answers are
    rich in these words and the rejected ones poor. A preference that lives in every token (not in
    one position) is one a tiny model learns in a few dozen DPO steps, and a simulated jury with
    the same score sees it in the trained model's answers. A fixture, not a quality metric; it is
    length-neutral (a share, not a count), so length balance leaves it intact.

    >>> explanation_score("", "The answer explains it in a clear way.")
    3.75
    >>> explanation_score("", "Water rises."), explanation_score("", "42 !")
    (0.0, -1.0)
    """
    words = re.findall(r"[a-z']+", response.lower())
    if not words:
        return -1.0
    return 10.0 * sum(w in EXPLANATION_WORDS for w in words) / len(words)
