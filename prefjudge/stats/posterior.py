"""What a full round robin would pick, predicted from the comparisons made so far. Pure numpy.

A full round robin fits Bradley-Terry strengths on all N(N-1)/2 comparisons. With every pair
compared once and the same number of verdicts each, that order is the order of the total scores
``S_i = sum_j y_ij`` (``y_ij``: the share of verdicts i won, a tie counting half), and equal
totals mean exactly equal strengths. Such exact ties are broken by :func:`tie_priority`, a
permutation seeded by the prompt id, so the round robin's best and worst are well defined
(a fit's last floating-point bits are not a rule).

A strategy that compares only some pairs can still ask which best and worst the full round robin
would pick. :func:`sample_round_robins` draws completions of the round robin: strengths from
the Bradley-Terry posterior (the penalised fit and its covariance, a Laplace approximation) and,
for every comparison not made, the share of ``m`` verdicts won, ``Binomial(m, P(i beats j)) / m``
with ``m`` the usual number of verdicts per comparison (soft preferences, e.g. from logprob
verdicts, carry no such sampling noise: their completion is ``P(i beats j)`` itself); comparisons
made keep their outcome.
:func:`round_robin_extremes` applies the round robin's rule to each completion, and
:func:`extreme_probabilities` counts them.

>>> outcomes = [(0, 1, 1.0, 3), (1, 2, 1.0, 3)]
>>> joint = extreme_probabilities(3, outcomes, "p", samples=2000)
>>> bool(joint[0, 2] > 0.9)
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from prefjudge.mathutil import sigmoid
from prefjudge.stats.bt import Outcome, fit_bt_cov

RIDGE = 0.3
"""Prior precision of the strengths (prior sd about 1.8) in the posterior the completions come from."""
TIE_TOL = 1e-6
"""Total scores (or strengths) closer than this are an exact tie."""


def all_pairs(n: int) -> list[tuple[int, int]]:
    """Every pair (i, j), i < j, in a fixed order."""
    return [(i, j) for i in range(n) for j in range(i + 1, n)]


def tie_priority(n: int, key: str) -> np.ndarray:
    """Rank among exact ties for each of ``n`` candidates (higher wins), seeded by ``key``.

    >>> sorted(tie_priority(4, "p").tolist()) == [0, 1, 2, 3]
    True
    >>> bool((tie_priority(4, "p") == tie_priority(4, "p")).all())
    True
    """
    draws = [hashlib.sha256(f"{key}\x1ftie\x1f{k}".encode()).digest() for k in range(n)]
    return np.argsort(np.argsort(draws, kind="stable"), kind="stable").astype(float)


def round_robin_extremes(x: np.ndarray, n: int, priority: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best and worst of each completed round robin (rows of ``x``, columns in :func:`all_pairs` order).

    Highest (lowest) total score; exact ties go to the higher (lower) ``priority``.

    >>> x = np.array([[1.0, 1.0, 0.0], [0.5, 0.5, 0.5]])  # pairs (0,1), (0,2), (1,2)
    >>> [a.tolist() for a in round_robin_extremes(x, 3, np.array([0.0, 1.0, 2.0]))]
    [[0, 2], [1, 0]]
    """
    ii, jj = (np.array(c, dtype=int) for c in zip(*all_pairs(n)))
    totals = np.zeros((x.shape[0], n))
    np.add.at(totals.T, ii, x.T)
    np.add.at(totals.T, jj, 1.0 - x.T)
    top = totals >= totals.max(axis=1, keepdims=True) - TIE_TOL
    bottom = totals <= totals.min(axis=1, keepdims=True) + TIE_TOL
    best = np.where(top, priority, -np.inf).argmax(axis=1)
    worst = np.where(bottom, priority, np.inf).argmin(axis=1)
    return best, worst


def has_soft_outcomes(outcomes: Sequence[Outcome]) -> bool:
    """Whether any outcome is a soft preference rather than a share of whole verdicts (a tie counting half).

    >>> has_soft_outcomes([(0, 1, 2 / 3, 3), (1, 2, 0.5, 2)]), has_soft_outcomes([(0, 1, 0.71, 3)])
    (False, True)
    """
    return any(abs(2 * w * y - round(2 * w * y)) > 1e-6 for _, _, y, w in outcomes if w > 0)


def sample_round_robins(n: int, outcomes: Sequence[Outcome], samples: int, rng: np.random.Generator,
                        ridge: float = RIDGE) -> np.ndarray:
    """``samples`` completions of the round robin, shape (samples, N(N-1)/2), from the outcomes so far."""
    pairs = all_pairs(n)
    made = {(i, j): y for i, j, y, w in outcomes if w > 0}
    s, cov = fit_bt_cov(n, outcomes, ridge=ridge)
    m = max(1, int(np.median([w for *_, w in outcomes]))) if outcomes else 1
    draw = rng.multivariate_normal(s, cov, size=samples, method="eigh")
    ii, jj = (np.array(c, dtype=int) for c in zip(*pairs))
    p = sigmoid(draw[:, ii] - draw[:, jj])
    x = p if has_soft_outcomes(outcomes) else rng.binomial(m, p) / m
    for q, pair in enumerate(pairs):
        if pair in made:
            x[:, q] = made[pair]
    return x


def extreme_probabilities(n: int, outcomes: Sequence[Outcome], key: str, samples: int = 4096,
                          rng: np.random.Generator | None = None) -> np.ndarray:
    """P(the full round robin picks best = b and worst = w), an (n, n) matrix, from the outcomes so far.

    Deterministic for a given ``key`` (the prompt id) unless ``rng`` is given.
    """
    if rng is None:
        rng = np.random.default_rng(int.from_bytes(hashlib.sha256(f"{key}\x1fposterior".encode()).digest()[:8], "big"))
    x = sample_round_robins(n, outcomes, samples, rng)
    best, worst = round_robin_extremes(x, n, tie_priority(n, key))
    return np.bincount(best * n + worst, minlength=n * n).reshape(n, n) / samples
