"""TRL's pairwise-judge interface over prefjudge judges.

TRL's ``BasePairwiseJudge`` (now in ``trl.experimental.judges``) asks ``judge(prompts, completions,
shuffle_order=True)`` for the index of the better completion per prompt. :class:`PairwiseJudge`
answers it with a Judge, a list of judges or a Jury, through :func:`prefjudge.rank_pairs`: the order
randomization is seeded and recorded, calls go through the store, and a failed verdict or a tie is
``None``, never ``-1``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefjudge.errors import InputError

if TYPE_CHECKING:
    from prefjudge.aggregation.jury import Jury
    from prefjudge.judging.judge import Judge
    from prefjudge.judging.store import Store


class PairwiseJudge:
    """``judge(prompts, completions, shuffle_order=True) -> list[int | None]`` for TRL callbacks and scripts."""

    def __init__(self, judges: Judge | Jury | list[Any], *, seed: int = 0, store: str | Path | Store | None = None) -> None:
        self.judges = judges if isinstance(judges, list) or hasattr(judges, "aggregate_table") else [judges]
        self.seed = seed
        self.store = store

    def judge(self, prompts: list[str], completions: list[list[str]], shuffle_order: bool = True) -> list[int | None]:
        """Index (0 or 1) of the better of two completions per prompt; None for a tie or a failure."""
        from prefjudge.judging.rank_pairs import rank_pairs

        if len(prompts) != len(completions):
            raise InputError(f"{len(prompts)} prompts but {len(completions)} completion lists")
        for i, c in enumerate(completions):
            if len(c) != 2:
                raise InputError(f"row {i}, field 'completions': a pairwise judge compares exactly 2 completions, got {len(c)}")
        pairs = [{"prompt": p, "response_a": c[0], "response_b": c[1]} for p, c in zip(prompts, completions)]
        result = rank_pairs(pairs, judges=self.judges, order="random" if shuffle_order else "fixed",
                            seed=self.seed, store=self.store, progress=False)
        return [0 if w == "a" else 1 if w == "b" else None for w in result.to_pandas()["winner"]]
