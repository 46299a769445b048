"""Paired comparisons: how verdicts moved between a baseline and a variant of the same item.

Each comparison scores its two verdicts toward a target (+1 the target won, -1 the other answer
won, 0 a tie) and keeps the sign of the change: +1 moved toward the target, -1 away, 0 stayed.
The effect is the mean sign, i.e. the share that moved toward minus the share that moved away,
in [-1, 1]; its confidence interval is a percentile bootstrap that resamples whole clusters
(pairs), so a pair's comparisons (both display orders, several arms) stay together.

>>> e = paired_effect([0, 0, -1, 1], [1, 0, 1, 1], clusters=[0, 0, 1, 1], seed=0)
>>> e.value, e.toward, e.away, e.n, e.n_clusters
(0.5, 0.5, 0.0, 4, 2)
>>> paired_effect([], []).value is None
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from prefjudge.stats.intervals import bootstrap_clustered


@dataclass(frozen=True)
class PairedEffect:
    """Share moved toward minus share moved away, with a clustered bootstrap CI."""

    value: float | None
    ci: tuple[float | None, float | None]
    n: int
    """Comparisons (verdict pairs)."""
    n_clusters: int
    toward: float | None
    away: float | None
    level: float = 0.95

    def excludes_zero(self) -> bool:
        """Whether the CI lies entirely on one side of 0."""
        lo, hi = self.ci
        return lo is not None and hi is not None and (lo > 0 or hi < 0)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ci"] = list(self.ci)
        return out


def moves(before: Sequence[float], after: Sequence[float]) -> np.ndarray:
    """sign(after - before) per comparison."""
    b, a = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    if b.shape != a.shape:
        raise ValueError(f"before and after differ in length: {len(b)} != {len(a)}")
    return np.sign(a - b)


def paired_effect(before: Sequence[float], after: Sequence[float], clusters: Sequence[Any] | None = None, *,
                  n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> PairedEffect:
    """The mean of ``sign(after - before)`` and its percentile bootstrap CI over ``clusters``
    (default: each comparison its own cluster). Scores are in target terms (+1, 0, -1)."""
    return clustered_mean(moves(before, after), clusters, n_boot=n_boot, level=level, seed=seed)


def clustered_mean(values: Sequence[float], clusters: Sequence[Any] | None = None, *, n_boot: int = 2000,
                   level: float = 0.95, seed: int = 0) -> PairedEffect:
    """Mean of ``values`` in [-1, 1] (``toward``/``away``: the shares above and below 0) with a
    percentile bootstrap CI resampling ``clusters``; a flip rate is the mean of 0/1 values."""
    v = np.asarray(values, dtype=float)
    n = len(v)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n == 0:
        return PairedEffect(None, (None, None), 0, 0, None, None, level)
    c = np.arange(n) if clusters is None else np.asarray(clusters)
    if len(c) != n:
        raise ValueError(f"clusters and values differ in length: {len(c)} != {n}")
    lo, hi = bootstrap_clustered(v, c, n_boot=n_boot, seed=seed, alpha=1 - level)
    value = float(v.mean())
    # a percentile interval of a mean of identical resamples can miss the estimate by rounding
    lo = min(lo, value) if lo is not None else None
    hi = max(hi, value) if hi is not None else None
    return PairedEffect(value, (lo, hi), n, len(np.unique(c)), float((v > 0).mean()), float((v < 0).mean()), level)
