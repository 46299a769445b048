"""Dawid-Skene with position-aware confusion matrices, its semi-supervised variant, and follow_best.

The model (``"dawid_skene_order"``): each pair's true winner is ``a`` or ``b`` (prior ``pi``). A call
shows the true winner first or second (from the row's ``order``; "unknown" when the order is not
recorded), and judge ``j`` then answers *right*, *wrong* or *tie* with probabilities
``confusion[j, position, :]``. A judge that prefers the first shown answer is right more often when
the better answer is shown first than when it is shown second: position bias is part of the model,
not noise. Calls are independent given the truth. Under this model a judge that contradicts itself
across the two orders (first shown both times) adds exactly no evidence, and one that is consistent
adds the log-odds its two positions earn.

EM as in :func:`prefjudge.aggregation.rules.dawid_skene`: started from each pair's mean score,
``smoothing`` pseudo-counts on every cell, up to ``max_iter`` iterations, stopping when no posterior
moves by more than ``tol``. With ``labelled`` pairs (``"dawid_skene_semi"``) EM starts from the model
the labelled pairs alone imply, and their posterior is the label at every step, so the labels inform
the confusion matrices and the prior.

``"follow_best"`` fits the same model, takes the judge with the highest estimated accuracy and
follows its vote; where that judge has no a/b vote (it split across orders, said tie, or failed) the
model's posterior decides. Dawid-Skene assumes judges err independently; real judges do not (weaker
judges fail together on the same hard pairs), so a bloc of weaker judges can outvote a much stronger
one. Following the strongest judge is robust to that; it wastes information when the judges are about
equally good (see docs/juries.md for both cases).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from prefjudge.aggregation.votes import TIE, A, B

#: Position of the true winner in a call: shown first, shown second, order not recorded.
FIRST, SECOND, UNKNOWN = 0, 1, 2
#: A call's verdict relative to the true winner.
RIGHT, WRONG, TIED = 0, 1, 2


@dataclass
class OrderFit:
    """A fitted position-aware Dawid-Skene model."""

    post: np.ndarray  # (n_pairs, 2): P(truth = a), P(truth = b)
    prior: np.ndarray  # (2,)
    conf: np.ndarray  # (n_judges, 3 positions, 3 relative verdicts)
    seen: np.ndarray  # bool per pair: at least one parsed call
    i: np.ndarray  # per used call: pair code
    j: np.ndarray  # per used call: judge code
    lab: np.ndarray  # per used call: verdict code (a, b, tie)
    pos: np.ndarray  # (2, n_calls): position of the true winner if the truth were a / b
    rel: np.ndarray  # (2, n_calls): verdict relative to the truth if it were a / b
    n_iter: int
    converged: bool


def calls(enc: Any, keep: np.ndarray) -> tuple[np.ndarray, ...]:
    """(pair, judge, verdict, pos, rel) of the kept parsed calls; ``pos``/``rel`` have one row per candidate truth."""
    rows = np.flatnonzero(keep & enc.parsed)
    i, j, lab = enc.pair[rows], enc.judge[rows], enc.w[rows].astype(np.int64)
    known, a_first = enc.order_known[rows], enc.first_is_a[rows]
    pos = np.stack([np.where(known, np.where(a_first, FIRST, SECOND), UNKNOWN),
                    np.where(known, np.where(a_first, SECOND, FIRST), UNKNOWN)])
    rel = np.stack([np.where(lab == A, RIGHT, np.where(lab == B, WRONG, TIED)),
                    np.where(lab == B, RIGHT, np.where(lab == A, WRONG, TIED))])
    return i, j, lab, pos, rel


def fit_order_ds(enc: Any, keep: np.ndarray, *, labels: np.ndarray | None = None, labelled: np.ndarray | None = None,
                 smoothing: float = 0.01, max_iter: int = 500, tol: float = 1e-7) -> OrderFit:
    """Fit the position-aware model by EM on the kept parsed calls of an encoded table.

    ``labels`` (class code per pair) and ``labelled`` (bool per pair, a or b labels only) clamp
    those pairs' posteriors to their label.
    """
    i, j, lab, pos, rel = calls(enc, keep)
    n_p, n_j = enc.n_pairs, enc.n_judges
    n_obs = np.bincount(i, minlength=n_p)
    seen = n_obs > 0
    score = np.where(lab == A, 1.0, np.where(lab == B, 0.0, 0.5))
    p0 = (np.bincount(i, weights=score, minlength=n_p) + smoothing) / (n_obs + 2 * smoothing)
    post = np.column_stack([p0, 1 - p0])
    clamp = None
    if labelled is not None and labelled.any():
        # Semi-supervised EM starts from the labelled pairs alone: the model they imply labels the rest.
        clamp = np.column_stack([labels == A, labels == B]).astype(float)
        only = np.where(labelled[:, None], clamp, 0.0)
        prior, conf = _m_step(only, labelled & seen, i, j, pos, rel, n_j, smoothing)
        post = _e_step(prior, conf, i, j, pos, rel, n_p)
        post[labelled] = clamp[labelled]
    prior, conf = np.full(2, 0.5), np.full((n_j, 3, 3), 1 / 3)
    n_iter, converged = 0, False
    for n_iter in range(1, max_iter + 1):  # noqa: B007 (read after the loop)
        prior, conf = _m_step(post, seen, i, j, pos, rel, n_j, smoothing)
        new = _e_step(prior, conf, i, j, pos, rel, n_p)
        if clamp is not None:
            new[labelled] = clamp[labelled]
        delta = float(np.abs(new - post)[seen].max()) if seen.any() else 0.0
        post = new
        if delta < tol:
            converged = True
            break
    return OrderFit(post, prior, conf, seen, i, j, lab, pos, rel, n_iter, converged)


def _m_step(post, seen, i, j, pos, rel, n_j, smoothing):
    prior = (post[seen].sum(axis=0) + smoothing) / (seen.sum() + 2 * smoothing)
    counts = np.full(n_j * 9, float(smoothing))
    for k in range(2):
        counts += np.bincount((j * 3 + pos[k]) * 3 + rel[k], weights=post[i, k], minlength=n_j * 9)
    conf = counts.reshape(n_j, 3, 3)
    return prior, conf / conf.sum(axis=2, keepdims=True)


def _e_step(prior, conf, i, j, pos, rel, n_p, rows=None):
    log_conf = np.log(conf)
    logp = np.empty((n_p, 2))
    for k in range(2):
        w = log_conf[j, pos[k], rel[k]]
        if rows is not None:
            w = np.where(rows, w, 0.0)
        logp[:, k] = np.log(prior[k]) + np.bincount(i, weights=w, minlength=n_p)
    logp -= logp.max(axis=1, keepdims=True)
    p = np.exp(logp)
    return p / p.sum(axis=1, keepdims=True)


def judge_accuracy(fit: OrderFit, n_judges: int) -> np.ndarray:
    """Each judge's estimated agreement with the truth: mean over its parsed calls of P(truth = its verdict).

    A tie verdict never equals the truth (as in the audit's ``human_agreement``); NaN for a judge
    without a parsed call.
    """
    right = np.where(fit.lab == A, fit.post[fit.i, 0], np.where(fit.lab == B, fit.post[fit.i, 1], 0.0))
    n = np.bincount(fit.j, minlength=n_judges)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.bincount(fit.j, weights=right, minlength=n_judges) / n, np.nan)


def reliability(fit: OrderFit, judges: list[str], source: str) -> dict[str, dict[str, Any]]:
    """Per judge: estimated ``accuracy`` (see :func:`judge_accuracy`), ``accuracy_first``/``accuracy_second``
    (P(right) when the better answer is shown first / second; None without a call of known order),
    ``n_calls``, and the fit's iterations."""
    acc = judge_accuracy(fit, len(judges))
    n = np.bincount(fit.j, minlength=len(judges))
    n_known = np.bincount(fit.j[fit.pos[0] != UNKNOWN], minlength=len(judges))
    return {name: {"weight": None, "accuracy": _num(acc[k]),
                   "accuracy_first": float(fit.conf[k, FIRST, RIGHT]) if n_known[k] else None,
                   "accuracy_second": float(fit.conf[k, SECOND, RIGHT]) if n_known[k] else None,
                   "n_calls": int(n[k]), "source": source, "iterations": fit.n_iter, "converged": fit.converged}
            for k, name in enumerate(judges)}


def _num(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def posterior_winner(p_a: np.ndarray) -> np.ndarray:
    """a above 0.5, b below, a tie at exactly 0.5 (to 1e-9)."""
    return np.where(np.isclose(p_a, 0.5, atol=1e-9), TIE, np.where(p_a > 0.5, A, B)).astype(np.int8)


def best_judge(acc: np.ndarray) -> int:
    """Code of the judge with the highest estimated accuracy (the first such judge on a tie)."""
    return int(np.nanargmax(np.where(np.isnan(acc), -np.inf, acc)))


def judge_posterior(fit: OrderFit, judge: int, n_pairs: int) -> np.ndarray:
    """P(truth = a) per pair from one judge's calls alone under the fitted confusion, flat prior (0.5 without a call)."""
    flat = np.full(2, 0.5)
    return _e_step(flat, fit.conf, fit.i, fit.j, fit.pos, fit.rel, n_pairs, rows=fit.j == judge)[:, 0]
