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
