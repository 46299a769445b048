"""Reward models seen through the scores of one ranking run: each answer is scored once per run.

A strategy of :func:`prefjudge.curate.ranking.rank_responses` compares the same candidate in several
pairs and rounds. :class:`RunScores` stands in for a reward model among the jurors of those rounds
(the scorer path of :func:`prefjudge.judging.rank_pairs.arank_pairs`): a pointwise
:class:`~prefjudge.RewardModel` scores each distinct (prompt, system, answer) once, and the P(a is
better) of a pair is the model's own rule (sigmoid of the reward difference) over those scores; a
pairwise model (PairRM-style, reading both answers) reads each distinct pair once. The scores live
as long as the object: one run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from prefjudge.types import Pair


def _prompt_key(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    turns = [m.model_dump() if hasattr(m, "model_dump") else m for m in prompt]
    return json.dumps(turns, sort_keys=True, default=str)


class RunScores:
    """``scorer`` (a reward model) with the scores it gave in this run kept: ``name``, ``family`` and
    ``path`` are the model's, so its judgments and provenance read as the model's own."""

    def __init__(self, scorer: Any):
        from prefjudge.backends.reward import RewardModel

        self.scorer = scorer
        self.name = scorer.name
        self.family = getattr(scorer, "family", None)
        self.path = getattr(scorer, "path", type(scorer).__name__)
        self.pointwise = isinstance(scorer, RewardModel)
        self._rewards: dict[tuple, float] = {}
        self._compared: dict[tuple, tuple[float, str | None]] = {}

    def __repr__(self) -> str:
        return f"RunScores({self.scorer!r})"

    def score(self, prompts: Sequence[Any], responses: Sequence[str],
              systems: Sequence[str | None] | None = None) -> list[float]:
        """The rewards of ``scorer.score``; only the answers not scored yet in this run reach the model."""
        systems = list(systems) if systems is not None else [None] * len(prompts)
        keys = [(_prompt_key(p), s, r) for p, r, s in zip(prompts, responses, systems)]
        todo: dict[tuple, tuple[Any, str, str | None]] = {}
        for key, p, r, s in zip(keys, prompts, responses, systems):
            if key not in self._rewards and key not in todo:
                todo[key] = (p, r, s)
        if todo:
            ps, rs, ss = (list(x) for x in zip(*todo.values()))
            values = list(self.scorer.score(ps, rs, ss))
            if len(values) != len(todo):
                raise ValueError(f"{self.name}: score returned {len(values)} values for {len(todo)} answers")
            self._rewards.update(zip(todo, values))
        return [self._rewards[k] for k in keys]

    def compare_with_raw(self, pairs: Sequence[Pair]) -> list[tuple[float, str | None]]:
        """(P(a is better), what the model read) per pair, as the model computes it."""
        pairs = list(pairs)
        if self.pointwise:  # the model's own rule, reading this object's cached score()
            return type(self.scorer).compare_with_raw(self, pairs)
        keys = [(_prompt_key(p.prompt), p.system, p.response_a, p.response_b) for p in pairs]
        todo = {k: p for k, p in zip(keys, pairs) if k not in self._compared}
        if todo:
            fresh = list(todo.values())
            if hasattr(self.scorer, "compare_with_raw"):
                read = list(self.scorer.compare_with_raw(fresh))
            else:
                read = [(p, None) for p in self.scorer.compare(fresh)]
            if len(read) != len(fresh):
                raise ValueError(f"{self.name}: compare returned {len(read)} values for {len(fresh)} pairs")
            self._compared.update(zip(todo, read))
        return [self._compared[k] for k in keys]

    def compare(self, pairs: Sequence[Pair]) -> list[float]:
        """P(a is better) per pair."""
        return [p for p, _ in self.compare_with_raw(pairs)]
