"""Logistic regressions of the audit: the length slope and the length-controlled win rate.

A small Newton (IRLS) solver in numpy; targets may be fractional (a tie is 0.5, a soft verdict its
p_a). The length-controlled model has one term per instruction, solved through the Schur
complement of their diagonal Hessian block, so a million pairs with a hundred thousand prompts
fit in a fraction of a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prefjudge.mathutil import sigmoid
from prefjudge.stats.intervals import Z95

#: |coefficient| beyond which a fit is called separated (the MLE does not exist).
SEPARATED = 15.0


def _loglik(eta: np.ndarray, y: np.ndarray) -> float:
    """Bernoulli log-likelihood (y may be fractional)."""
    return float(np.sum(y * eta - np.logaddexp(0.0, eta)))


@dataclass
class LogitFit:
    coef: np.ndarray
    cov: np.ndarray
    converged: bool
    n_iter: int
    n: int


def fit_logistic(X: np.ndarray, y: np.ndarray, *, weights: np.ndarray | None = None, ridge: float = 0.0,
                 max_iter: int = 100, tol: float = 1e-9) -> LogitFit:
    """Maximize sum w (y eta - log(1 + e^eta)) - ridge/2 |beta|^2 by Newton steps with step halving.

    ``weights`` are numbers of trials when each row aggregates several verdicts (``y`` their mean).
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    beta = np.zeros(X.shape[1])
    eye = np.eye(X.shape[1]) * ridge

    def objective(b: np.ndarray) -> float:
        eta = X @ b
        return float(np.sum(w * (y * eta - np.logaddexp(0.0, eta)))) - ridge / 2 * float(b @ b)

    obj, converged, it = objective(beta), False, 0
    for it in range(1, max_iter + 1):  # noqa: B007 (read after the loop)
        p = sigmoid(X @ beta)
        grad = X.T @ (w * (y - p)) - ridge * beta
        hess = (X * (w * p * (1 - p))[:, None]).T @ X + eye
        step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        t = 1.0
        while True:
            new = beta + t * step
            new_obj = objective(new)
            if new_obj >= obj - 1e-12 or t < 1e-6:
                break
            t /= 2
        beta, obj = new, new_obj
        if np.max(np.abs(t * step)) < tol:
            converged = True
            break
    p = sigmoid(X @ beta)
    cov = np.linalg.pinv((X * (w * p * (1 - p))[:, None]).T @ X + eye)
    return LogitFit(beta, cov, converged and bool(np.all(np.abs(beta) < SEPARATED)), it, int(w.sum()))


def length_feature(dlen: np.ndarray, sd: float) -> np.ndarray:
    """tanh of the length difference divided by its standard deviation (AlpacaEval 2's feature)."""
    return np.tanh(np.asarray(dlen, dtype=float) / sd)


def length_slope(y: np.ndarray, x: np.ndarray, weights: np.ndarray | None = None, *, robust: bool = False) -> dict:
    """Slope of logit P(a wins) on ``x`` (with an intercept): {value, ci, n, reason}, Wald 95% CI.

    Each row may aggregate ``weights`` verdicts with mean ``y`` (one judge's calls on one pair).
    ``robust``: sandwich covariance with the rows as clusters, so verdicts within a row need not
    be independent; otherwise the inverse Hessian.
    """
    n = int(len(y) if weights is None else np.sum(weights))
    if n < 10:
        return {"value": None, "ci": None, "n": n, "reason": f"too few verdicts with known lengths ({n} < 10)"}
    if np.ptp(x) == 0:
        return {"value": None, "ci": None, "n": n, "reason": "every pair has the same length difference"}
    X = np.column_stack([np.ones(len(x)), x])
    fit = fit_logistic(X, y, weights=weights)
    if not fit.converged:
        return {"value": None, "ci": None, "n": n, "reason": "the regression did not converge (verdicts separated: always a, always b, or always the longer)"}
    cov = sandwich(X, y, fit, weights) if robust else fit.cov
    b, se = float(fit.coef[1]), float(np.sqrt(cov[1, 1]))
    return {"value": b, "ci": [b - Z95 * se, b + Z95 * se], "n": n, "reason": None}


def sandwich(X: np.ndarray, y: np.ndarray, fit: LogitFit, weights: np.ndarray | None = None) -> np.ndarray:
    """Cluster-robust covariance H^-1 (sum_c g_c g_c^T) H^-1 * G / (G - 1), one cluster per row."""
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    scores = X * (w * (y - sigmoid(X @ fit.coef)))[:, None]
    g = len(y)
    return fit.cov @ (scores.T @ scores * (g / max(g - 1, 1))) @ fit.cov


@dataclass
class LCProblem:
    """Pairs with two different known models: codes, instruction codes, length feature, target p(a wins)."""

    ma: np.ndarray
    mb: np.ndarray
    n_models: int
    instr: np.ndarray
    n_instr: int
    x_len: np.ndarray
    y: np.ndarray


@dataclass
class LCFit:
    v: np.ndarray  # [length coefficient, theta_1..theta_{M-1}] (theta_0 = 0)
    delta: np.ndarray  # per-instruction terms
    d: np.ndarray  # diagonal Hessian block (instructions)
    b: np.ndarray  # cross block
    s: np.ndarray  # Schur complement
    converged: bool


def _design(pb: LCProblem) -> np.ndarray:
    xv = np.zeros((len(pb.y), pb.n_models))
    xv[:, 0] = pb.x_len
    rows = np.arange(len(pb.y))
    np.add.at(xv, (rows[pb.ma > 0], pb.ma[pb.ma > 0]), 1.0)
    np.add.at(xv, (rows[pb.mb > 0], pb.mb[pb.mb > 0]), -1.0)
    return xv


def _blocks(pb: LCProblem, xv: np.ndarray, p: np.ndarray, ridge_instr: float, ridge: float):
    w = p * (1 - p)
    d = np.bincount(pb.instr, weights=w, minlength=pb.n_instr) + ridge_instr
    b = np.column_stack([np.bincount(pb.instr, weights=w * xv[:, c], minlength=pb.n_instr) for c in range(xv.shape[1])])
    c = (xv * w[:, None]).T @ xv + ridge * np.eye(xv.shape[1])
    return d, b, c - b.T @ (b / d[:, None])


def fit_lc(pb: LCProblem, *, ridge_instr: float = 1.0, ridge: float = 1e-3, max_iter: int = 50, tol: float = 1e-8) -> LCFit:
    """Newton fit of logit P(a wins) = theta[ma] - theta[mb] + gamma * x_len + delta[instruction]."""
    xv = _design(pb)
    v, delta = np.zeros(xv.shape[1]), np.zeros(pb.n_instr)

    def objective(v_, d_):
        eta = xv @ v_ + d_[pb.instr]
        return _loglik(eta, pb.y) - ridge_instr / 2 * float(d_ @ d_) - ridge / 2 * float(v_ @ v_)

    obj, converged = objective(v, delta), False
    for _ in range(max_iter):
        p = sigmoid(xv @ v + delta[pb.instr])
        r = pb.y - p
        g_v = xv.T @ r - ridge * v
        g_u = np.bincount(pb.instr, weights=r, minlength=pb.n_instr) - ridge_instr * delta
        d, b, s = _blocks(pb, xv, p, ridge_instr, ridge)
        dv = np.linalg.solve(s, g_v - b.T @ (g_u / d))
        du = (g_u - b @ dv) / d
        t = 1.0
        while t > 1e-6 and objective(v + t * dv, delta + t * du) < obj - 1e-12:
            t /= 2
        v, delta = v + t * dv, delta + t * du
        obj = objective(v, delta)
        if max(np.max(np.abs(t * dv)), np.max(np.abs(t * du), initial=0.0)) < tol:
            converged = True
            break
    d, b, s = _blocks(pb, xv, sigmoid(xv @ v + delta[pb.instr]), ridge_instr, ridge)
    return LCFit(v, delta, d, b, s, converged)


def lc_win_rates(pb: LCProblem, fit: LCFit) -> list[dict]:
    """Per model: the mean fitted P(model wins) over its pairs with the length term set to zero, Wald CI by the delta method."""
    xv = _design(pb)
    xv0 = xv.copy()
    xv0[:, 0] = 0.0
    eta0 = xv0 @ fit.v + fit.delta[pb.instr]
    p0 = sigmoid(eta0)
    s_inv = np.linalg.inv(fit.s)
    out = []
    for m in range(pb.n_models):
        sign = np.where(pb.ma == m, 1.0, np.where(pb.mb == m, -1.0, 0.0))
        rows = sign != 0
        n = int(rows.sum())
        if n == 0:
            out.append({"value": None, "ci": None, "n": 0, "reason": "no pair with a different model"})
            continue
        win = np.where(sign[rows] > 0, p0[rows], 1 - p0[rows])
        grad_eta = sign[rows] * p0[rows] * (1 - p0[rows]) / n
        g_v = xv0[rows].T @ grad_eta
        g_u = np.bincount(pb.instr[rows], weights=grad_eta, minlength=pb.n_instr)
        h = g_v - fit.b.T @ (g_u / fit.d)
        se = float(np.sqrt(max(g_u @ (g_u / fit.d) + h @ s_inv @ h, 0.0)))
        val = float(win.mean())
        out.append({"value": val, "ci": [max(0.0, val - Z95 * se), min(1.0, val + Z95 * se)], "n": n, "reason": None})
    return out


def length_coefficient(fit: LCFit) -> dict:
    """The fitted length coefficient gamma with its Wald 95% CI."""
    se = float(np.sqrt(np.linalg.inv(fit.s)[0, 0]))
    g = float(fit.v[0])
    return {"value": g, "ci": [g - Z95 * se, g + Z95 * se], "reason": None}
