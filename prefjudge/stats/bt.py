"""Bradley-Terry strengths from pairwise outcomes, with standard errors. Pure numpy.

Model: P(i beats j) = sigmoid(s_i - s_j). Each comparison contributes its mean outcome ``y`` in
[0, 1] (a tie counts 0.5) weighted by its number of parsed verdicts. A small ridge penalty
``ridge * sum(s**2) / 2`` fixes the scale's origin and keeps strengths finite when a candidate
wins everything. Newton's method; standard errors from the inverse Hessian.

>>> s, se = fit_bt(3, [(0, 1, 1.0, 3), (1, 2, 1.0, 3), (0, 2, 1.0, 3)])
>>> bool(s[0] > s[1] > s[2]), bool((se > 0).all())
(True, True)
>>> s, _ = fit_bt(2, [(0, 1, 0.5, 4)])
>>> [round(float(x), 6) for x in s]
[0.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from prefjudge.mathutil import sigmoid

Outcome = tuple[int, int, float, float]
"""(index i, index j, mean outcome for i in [0, 1], weight = number of verdicts)."""


def fit_bt(n: int, outcomes: Sequence[Outcome], ridge: float = 0.1, iters: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Strengths (mean zero) and their standard errors for ``n`` items."""
    s, cov = fit_bt_cov(n, outcomes, ridge, iters)
    return s, np.sqrt(np.clip(np.diag(cov), 0, None))


def fit_bt_cov(n: int, outcomes: Sequence[Outcome], ridge: float = 0.1, iters: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Strengths and their covariance, projected on mean-zero strengths.

    Only differences of strengths are identified; a common shift is fixed by the ridge alone and
    would put about ``1 / (ridge n)`` of meaningless variance on every strength. The projection
    removes it, so the standard errors reflect what the comparisons tell.
    """
    s = np.zeros(n)
    if n == 0:
        return s, np.zeros((0, 0))
    obs = [(i, j, y, w) for i, j, y, w in outcomes if w > 0]
    ii = np.array([o[0] for o in obs], dtype=int)
    jj = np.array([o[1] for o in obs], dtype=int)
    y = np.array([o[2] for o in obs], dtype=float)
    w = np.array([o[3] for o in obs], dtype=float)
    for _ in range(iters):
        grad, hess = _derivatives(s, ii, jj, y, w, ridge)
        step = np.linalg.solve(hess, grad)
        s -= step
        if np.abs(step).max() < 1e-10:
            break
    _, hess = _derivatives(s, ii, jj, y, w, ridge)
    center = np.eye(n) - 1.0 / n
    return s, center @ np.linalg.inv(hess) @ center


def _derivatives(s, ii, jj, y, w, ridge):
    """Gradient and Hessian of the penalized negative log-likelihood."""
    n = len(s)
    p = sigmoid(s[ii] - s[jj])
    r = w * (p - y)
    grad = ridge * s
    np.add.at(grad, ii, r)
    np.add.at(grad, jj, -r)
    v = w * p * (1 - p)
    hess = ridge * np.eye(n)
    np.add.at(hess, (ii, ii), v)
    np.add.at(hess, (jj, jj), v)
    np.add.at(hess, (ii, jj), -v)
    np.add.at(hess, (jj, ii), -v)
    return grad, hess
