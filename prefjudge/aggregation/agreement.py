"""Agreement between judges: per-pair agreement share, Fleiss' kappa, Cohen's kappa.

All functions work on class codes (``a``=0, ``b``=1, ``tie``=2, see :mod:`prefjudge.aggregation.votes`);
a judge's verdict on a pair is its vote (its calls in both orders combined).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from prefjudge.aggregation.votes import Votes


class Kappa(NamedTuple):
    """A kappa with the number of items it rests on; ``value`` is None with a ``reason`` when undefined."""

    value: float | None
    n: int
    reason: str | None = None


def agreement_share(counts: np.ndarray) -> np.ndarray:
    """Per item: share of raters who gave the most common class (NaN for an item nobody rated).

    >>> agreement_share(np.array([[2, 1, 0], [1, 1, 1], [0, 0, 0]])).round(3).tolist()
    [0.667, 0.333, nan]
    """
    counts = np.asarray(counts, dtype=float)
    n = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, counts.max(axis=1) / n, np.nan)


def fleiss_kappa(counts: np.ndarray) -> Kappa:
    """Fleiss' kappa from an items x classes count matrix (items with fewer than 2 ratings are skipped).

    Items may have different numbers of raters: P_i = (sum_k n_ik^2 - n_i) / (n_i (n_i - 1)),
    p_k = sum_i n_ik / sum_i n_i, kappa = (mean P_i - sum_k p_k^2) / (1 - sum_k p_k^2).

    >>> round(fleiss_kappa(np.array([[2, 0, 0], [0, 2, 0], [1, 1, 0], [2, 0, 0]])).value, 4)
    0.4667
    """
    counts = np.asarray(counts, dtype=float)
    n_i = counts.sum(axis=1)
    keep = n_i >= 2
    if not keep.any():
        return Kappa(None, 0, "no pair has verdicts from two or more judges")
    c, n_i = counts[keep], n_i[keep]
    p_i = ((c**2).sum(axis=1) - n_i) / (n_i * (n_i - 1))
    p_k = c.sum(axis=0) / n_i.sum()
    p_e = float((p_k**2).sum())
    if p_e >= 1.0 - 1e-12:
        return Kappa(None, int(keep.sum()), "every verdict is in the same class, so chance agreement is 1")
    return Kappa(float((p_i.mean() - p_e) / (1.0 - p_e)), int(keep.sum()))


def cohen_kappa(x: np.ndarray, y: np.ndarray, n_classes: int = 3) -> Kappa:
    """Cohen's kappa of two equally long code arrays (each entry one item rated by both).

    >>> round(cohen_kappa(np.array([0, 0, 1, 1, 0, 2]), np.array([0, 1, 1, 1, 0, 2])).value, 6)  # 17/23
    0.73913
    """
    x = np.asarray(x, dtype=np.int64)
    y = np.asarray(y, dtype=np.int64)
    n = len(x)
    if n == 0:
        return Kappa(None, 0, "no item rated by both")
    p_o = float((x == y).mean())
    p_e = float((np.bincount(x, minlength=n_classes) / n) @ (np.bincount(y, minlength=n_classes) / n))
    if p_e >= 1.0 - 1e-12:
        return Kappa(None, n, "both raters always gave the same single class, so chance agreement is 1")
    return Kappa((p_o - p_e) / (1.0 - p_e), n)


def vote_matrix(votes: Votes, n_pairs: int, n_judges: int) -> np.ndarray:
    """Pairs x judges matrix of vote codes; -1 where the judge has no parsed vote on the pair."""
    m = np.full((n_pairs, n_judges), -1, dtype=np.int8)
    v = votes.voted
    m[votes.pair[v], votes.judge[v]] = votes.verdict[v]
    return m


def pairwise_cohen(matrix: np.ndarray) -> list[list[Kappa]]:
    """Cohen's kappa for every two judges (columns of a :func:`vote_matrix`), on the pairs both voted on."""
    n_j = matrix.shape[1]
    out: list[list[Kappa]] = [[Kappa(None, 0, "")] * n_j for _ in range(n_j)]
    for i in range(n_j):
        for j in range(i, n_j):
            both = (matrix[:, i] >= 0) & (matrix[:, j] >= 0)
            k = cohen_kappa(matrix[both, i], matrix[both, j])
            out[i][j] = out[j][i] = k
    return out
