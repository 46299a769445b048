"""A simulated jury on a loopback server: three judges of three families with known biases."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def simulated_jury(score: Callable[[str, str], float] | str, *, seed: int = 0, noise: float = 0.3) -> Iterator[list]:
    """Judges on a loopback ``SimServer`` whose latent quality of an answer is ``score(prompt,
    answer)`` (a callable or a ``"module:function"`` string). SIMULATED: not real LLM verdicts.

    Each judge's endpoint is registered as simulated (:func:`prefjudge.simulated.register_endpoint`):
    ``to_preferences``, ``audit`` and the dataset card of a run with these judges say SIMULATED."""
    from prefjudge.judging.judge import Judge
    from prefjudge.simulated import register_endpoint
    from prefjudge.testing import SimJudge, SimServer, SimWorld

    jury = [SimJudge(name="gpt-sim", family="openai", noise=noise, position_bias=0.1),
            SimJudge(name="claude-sim", family="anthropic", noise=noise, length_bias=0.3),
            SimJudge(name="llama-sim", family="meta", noise=2 * noise, position_bias=0.05)]
    with SimServer(judges=jury, world=SimWorld(score=score), seed=seed) as server:
        judges = [Judge(j.name, base_url=server.base_url, api_key="simulated") for j in jury]
        for j in judges:
            register_endpoint(j.model, server.base_url, "judges")
        yield judges
