"""The jury's aggregation rules: majority, call_majority, mean, weighted, Dawid-Skene and its position-aware variants.

Each rule maps the judges' votes (:mod:`prefjudge.aggregation.votes`) to one outcome per pair (``call_majority``
and the Dawid-Skene rules read the individual calls instead). Rules are pure
numpy; :class:`prefjudge.aggregation.jury.Jury` adds quorum, same-family handling and the output frame.
Only ``weighted`` (labels for its weights) and ``dawid_skene_semi`` read the human labels; the
others are label-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from prefjudge.aggregation import ds
from prefjudge.aggregation.agreement import vote_matrix
from prefjudge.aggregation.votes import CLASS_SCORE, TIE, Encoded, Votes, pair_table, plurality

#: Fewest human-labelled votes each judge needs before "weighted" trusts labels over the jury.
MIN_LABELLED = 5
#: Weight of a judge estimated no better than chance: it only breaks otherwise equal votes.
WEIGHT_FLOOR = 1e-3
#: Rule names accepted by ``Jury(aggregate=...)``, ``aggregate(rule=...)`` and ``rank_pairs(aggregate=...)``.
RULES = ("majority", "call_majority", "mean", "weighted", "dawid_skene", "dawid_skene_order", "dawid_skene_semi",
         "follow_best")


@dataclass
class RuleInput:
    enc: Encoded
    votes: Votes
    keep: np.ndarray  # bool per row: rows the rule may use (same-family exclusions removed)
    human: np.ndarray  # int8 code per pair
    human_known: np.ndarray  # bool per pair
    weights: dict[str, float] | None = None


@dataclass
class RuleOutput:
    winner: np.ndarray  # int8 code per pair (valid where has_winner)
    has_winner: np.ndarray  # bool per pair
    p_a: np.ndarray  # float per pair, NaN where undefined
    reliability: dict[str, dict[str, Any]] | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    rule: str = ""


def _per_pair_mean(inp: RuleInput, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    v = inp.votes.voted
    n = inp.enc.n_pairs
    num = np.bincount(inp.votes.pair[v], weights=values[v] * weights[v], minlength=n)
    den = np.bincount(inp.votes.pair[v], weights=weights[v], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _voted_pairs(inp: RuleInput) -> np.ndarray:
    v = inp.votes.voted
    return np.bincount(inp.votes.pair[v], minlength=inp.enc.n_pairs) > 0


def _judge_weights(inp: RuleInput) -> np.ndarray:
    """Weights per judge code from ``inp.weights`` (1.0 each when none were given)."""
    if inp.weights is None:
        return np.ones(inp.enc.n_judges)
    return np.array([float(inp.weights[j]) for j in inp.enc.judges])


def majority(inp: RuleInput) -> RuleOutput:
    """Most frequent vote among the judges (a split is a tie); p_a = mean of the judges' soft scores."""
    counts = pair_table(inp.votes, inp.enc.n_pairs)
    ones = np.ones(len(inp.votes.pair))
    return RuleOutput(plurality(counts), counts.sum(axis=1) > 0, _per_pair_mean(inp, inp.votes.soft, ones))


def call_majority(inp: RuleInput) -> RuleOutput:
    """Most frequent verdict among the parsed calls (every call one vote, a split is a tie); p_a = mean over calls.

    A judge with two calls (both orders) weighs twice a judge with one; a judge inconsistent across
    orders adds one vote to each side instead of one tie vote (compare :func:`majority`).
    """
    enc = inp.enc
    rows = inp.keep & enc.parsed
    n = enc.n_pairs
    counts = np.bincount(enc.pair[rows] * 3 + enc.w[rows].astype(np.int64), minlength=n * 3).reshape(n, 3).astype(float)
    soft = np.where(np.isnan(enc.soft), CLASS_SCORE[enc.w], enc.soft)
    num = np.bincount(enc.pair[rows], weights=soft[rows], minlength=n)
    den = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_a = np.where(den > 0, num / den, np.nan)
    return RuleOutput(plurality(counts), den > 0, p_a)


def mean(inp: RuleInput) -> RuleOutput:
    """Mean of the judges' soft scores (weighted when weights are given): a above 0.5, b below, else tie."""
    w = _judge_weights(inp)[inp.votes.judge]
    p_a = _per_pair_mean(inp, inp.votes.soft, w)
    winner = np.where(p_a > 0.5 + 1e-9, 0, np.where(p_a < 0.5 - 1e-9, 1, TIE)).astype(np.int8)
    return RuleOutput(winner, _voted_pairs(inp) & ~np.isnan(p_a), p_a)


def weighted(inp: RuleInput) -> RuleOutput:
    """Weighted vote: each judge's weight is the log-odds of its estimated accuracy (or the given weights)."""
    if inp.weights is not None:
        w_j = _judge_weights(inp)
        rel = {j: {"weight": float(w), "accuracy": None, "source": "given weights"} for j, w in zip(inp.enc.judges, w_j)}
    else:
        w_j, rel = estimate_reliability(inp)
    v = inp.votes.voted
    n = inp.enc.n_pairs
    flat = inp.votes.pair[v] * 3 + inp.votes.verdict[v].astype(np.int64)
    scores = np.bincount(flat, weights=w_j[inp.votes.judge[v]], minlength=n * 3).reshape(n, 3)
    p_a = _per_pair_mean(inp, inp.votes.soft, w_j[inp.votes.judge])
    return RuleOutput(plurality(scores), _voted_pairs(inp), p_a, reliability=rel)


def estimate_reliability(inp: RuleInput) -> tuple[np.ndarray, dict[str, dict[str, Any]]]:
    """Accuracy of each judge from human labels (when every judge has enough) or from the rest of the jury.

    Without labels, judge i's accuracy comes from its agreement with each other judge, leave-one-out:
    with each vote coded x = +1 (a), -1 (b), 0 (tie or split) and c_ij = mean(x_i * x_j) over the
    pairs both voted on, independent errors give c_ij = d_i * d_j where d = 2 * accuracy - 1, so
    d_i^2 = median over other pairs (j, k) of c_ij * c_ik / c_jk (needs three judges or more).
    """
    names = inp.enc.judges
    m = vote_matrix(inp.votes, inp.enc.n_pairs, inp.enc.n_judges)
    labelled = inp.human_known[:, None] & (m >= 0)
    if inp.human_known.any() and labelled.sum(axis=0).min() >= MIN_LABELLED:
        acc = (labelled & (m == inp.human[:, None])).sum(axis=0) / labelled.sum(axis=0)
        source = "human labels"
    elif len(names) >= 3:
        acc = _accuracy_from_agreement(inp.votes, inp.enc.n_pairs, inp.enc.n_judges)
        source = "leave-one-out agreement with the rest of the jury"
    else:
        w = np.ones(len(names))
        return w, {j: {"weight": 1.0, "accuracy": None, "source": "equal weights (needs 3 judges or human labels)"} for j in names}
    w = np.maximum(np.log(np.clip(acc, 0.5, 0.99) / (1 - np.clip(acc, 0.5, 0.99))), WEIGHT_FLOOR)
    return w, {j: {"weight": float(wi), "accuracy": float(a), "source": source} for j, wi, a in zip(names, w, acc)}


def _accuracy_from_agreement(votes: Votes, n_pairs: int, n_judges: int) -> np.ndarray:
    """Accuracy (expected score of the right answer, a tie counting half) of each judge, from the jury alone."""
    x = np.full((n_pairs, n_judges), np.nan)
    v = votes.voted
    x[votes.pair[v], votes.judge[v]] = 2.0 * votes.score[v] - 1.0  # +1 a, -1 b, 0 tie or split
    c = np.full((n_judges, n_judges), np.nan)
    for i in range(n_judges):
        for j in range(i + 1, n_judges):
            both = ~np.isnan(x[:, i]) & ~np.isnan(x[:, j])
            if both.any():
                c[i, j] = c[j, i] = float(np.mean(x[both, i] * x[both, j]))
    acc = np.full(n_judges, 0.5)
    for i in range(n_judges):
        est = [c[i, j] * c[i, k] / c[j, k] for j in range(n_judges) for k in range(j + 1, n_judges)
               if i not in (j, k) and c[j, k] > 0.02 and np.isfinite(c[i, j] * c[i, k])]
        if est:
            acc[i] = (1.0 + np.sqrt(np.clip(np.median(est), 0.0, 0.98**2))) / 2.0
    return acc


def dawid_skene(inp: RuleInput, *, max_iter: int = 500, tol: float = 1e-7, smoothing: float = 0.01) -> RuleOutput:
    """Dawid-Skene EM: the true winner of each pair is a or b; each judge has a confusion matrix
    (rows: truth a/b; columns: verdict a/b/tie). Every parsed call counts, so a judge that saw a
    pair in both orders contributes both verdicts.

    Reports each judge's estimated accuracy P(verdict = truth) = sum_k prior_k * confusion[k, k].
    p_a = P(truth = a); the winner is a or b by posterior, a tie when the posterior is exactly 0.5.
    """
    enc = inp.enc
    rows = np.flatnonzero(inp.keep & enc.parsed)
    i, j, lab = enc.pair[rows], enc.judge[rows], enc.w[rows].astype(np.int64)
    n_p, n_j = enc.n_pairs, enc.n_judges
    n_obs = np.bincount(i, minlength=n_p)
    seen = n_obs > 0
    p_init = (np.bincount(i, weights=CLASS_SCORE[lab], minlength=n_p) + smoothing) / (n_obs + 2 * smoothing)
    post = np.column_stack([p_init, 1 - p_init])
    n_iter, conf, prior = 0, np.full((n_j, 2, 3), 1 / 3), np.full(2, 0.5)
    for n_iter in range(1, max_iter + 1):  # noqa: B007 (read after the loop)
        prior, conf = _ds_m_step(post, seen, i, j, lab, n_j, smoothing)
        new = _ds_e_step(prior, conf, i, j, lab, n_p)
        delta = float(np.abs(new - post)[seen].max()) if seen.any() else 0.0
        post = new
        if delta < tol:
            break
    acc = prior[0] * conf[:, 0, 0] + prior[1] * conf[:, 1, 1]
    rel = {name: {"weight": None, "accuracy": float(a), "source": "dawid_skene", "iterations": n_iter, "converged": n_iter < max_iter}
           for name, a in zip(enc.judges, acc)}
    p_a = np.where(seen, post[:, 0], np.nan)
    winner = np.where(np.isclose(post[:, 0], 0.5, atol=1e-9), TIE, np.where(post[:, 0] > 0.5, 0, 1)).astype(np.int8)
    return RuleOutput(winner, seen, p_a, reliability=rel, extra={"posterior_a": post[:, 0]})


def _ds_m_step(post, seen, i, j, lab, n_j, smoothing):
    prior = (post[seen].sum(axis=0) + smoothing) / (seen.sum() + 2 * smoothing)
    conf = np.empty((n_j, 2, 3))
    for k in range(2):
        conf[:, k, :] = np.bincount(j * 3 + lab, weights=post[i, k], minlength=n_j * 3).reshape(n_j, 3) + smoothing
    conf /= conf.sum(axis=2, keepdims=True)
    return prior, conf


def _ds_e_step(prior, conf, i, j, lab, n_p):
    log_conf = np.log(conf)
    logp = np.empty((n_p, 2))
    for k in range(2):
        logp[:, k] = np.log(prior[k]) + np.bincount(i, weights=log_conf[j, k, lab], minlength=n_p)
    logp -= logp.max(axis=1, keepdims=True)
    p = np.exp(logp)
    return p / p.sum(axis=1, keepdims=True)


def dawid_skene_order(inp: RuleInput) -> RuleOutput:
    """Dawid-Skene with a confusion matrix per judge and position of the true winner (shown first, second,
    or order unknown), so position bias is modelled (:mod:`prefjudge.aggregation.ds`). Label-free.

    p_a = P(truth = a); the winner is a or b by posterior, a tie at exactly 0.5. Each judge's estimated
    accuracy is the expected share of its parsed calls equal to the truth.
    """
    fit = ds.fit_order_ds(inp.enc, inp.keep)
    p_a = fit.post[:, 0]
    return RuleOutput(ds.posterior_winner(p_a), fit.seen, np.where(fit.seen, p_a, np.nan),
                      reliability=ds.reliability(fit, inp.enc.judges, "dawid_skene_order"), extra={"posterior_a": p_a})


def dawid_skene_semi(inp: RuleInput) -> RuleOutput:
    """``dawid_skene_order`` with the human labels that are present: EM starts from the model the
    labelled pairs imply and a labelled pair's posterior is its label (a or b; a tie label is not used)
    throughout, so a few labels anchor the confusion matrices. On labelled pairs the outcome is the
    label (``labelled`` column True); without any label this is ``dawid_skene_order``.
    """
    labelled = inp.human_known & (inp.human != TIE)
    fit = ds.fit_order_ds(inp.enc, inp.keep, labels=inp.human, labelled=labelled)
    p_a = fit.post[:, 0]
    seen = fit.seen | labelled
    rel = ds.reliability(fit, inp.enc.judges, f"dawid_skene_semi ({int(labelled.sum())} labelled pairs)")
    return RuleOutput(ds.posterior_winner(p_a), seen, np.where(seen, p_a, np.nan), reliability=rel,
                      extra={"posterior_a": p_a, "labelled": labelled})


def follow_best(inp: RuleInput) -> RuleOutput:
    """Follow the judge that ``dawid_skene_order`` estimates most accurate; where it has no a/b vote (split
    across orders, tie, failed) the model's posterior over all judges decides. Label-free.

    p_a: on followed pairs, P(truth = a) from that judge's calls alone (its fitted confusion, flat
    prior); elsewhere the posterior. ``followed`` is True where the winner is the best judge's vote;
    ``judge_reliability[name]["followed"]`` marks the judge.
    """
    enc = inp.enc
    fit = ds.fit_order_ds(enc, inp.keep)
    acc = ds.judge_accuracy(fit, enc.n_judges)
    rel = ds.reliability(fit, enc.judges, "follow_best (dawid_skene_order estimates)")
    p_a = fit.post[:, 0]
    winner = ds.posterior_winner(p_a)
    followed = np.zeros(enc.n_pairs, dtype=bool)
    if fit.seen.any():
        best = ds.best_judge(acc)
        v = inp.votes.voted & (inp.votes.judge == best) & (inp.votes.verdict != TIE)
        followed[inp.votes.pair[v]] = True
        winner[inp.votes.pair[v]] = inp.votes.verdict[v]
        own = ds.judge_posterior(fit, best, enc.n_pairs)
        p_a = np.where(followed, own, p_a)
        for k, name in enumerate(enc.judges):
            rel[name]["followed"] = k == best
    return RuleOutput(winner, fit.seen, np.where(fit.seen, p_a, np.nan), reliability=rel,
                      extra={"posterior_a": fit.post[:, 0], "followed": followed})


BUILTIN = {"majority": majority, "call_majority": call_majority, "mean": mean, "weighted": weighted, "dawid_skene": dawid_skene,
           "dawid_skene_order": dawid_skene_order, "dawid_skene_semi": dawid_skene_semi, "follow_best": follow_best}
