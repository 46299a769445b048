"""The audit's statistics, vectorized over all judges at once (definitions in docs/audit.md).

Each function returns one entry per group (judge) in the report's layout:
``{"value", "ci": [lo, hi], "n", "reason"}``, value None with the reason when it cannot be computed.
"""

from __future__ import annotations

import numpy as np

from prefjudge.aggregation.agreement import cohen_kappa
from prefjudge.aggregation.votes import CLASS_SCORE, A, B
from prefjudge.audit.facts import LENGTH_MARGIN, PairFacts, VerdictView
from prefjudge.stats.intervals import bootstrap_clustered, wilson
from prefjudge.stats.lc import length_feature, length_slope

#: Length-ratio bins (longer / shorter) of the "prefers longer" curve.
RATIO_BINS = (1.0, 1.25, 1.5, 2.0, 3.0, np.inf)


def rate(k: float, n: int, reason: str, n_eff: float | None = None) -> dict:
    """A proportion entry with its Wilson 95% CI, or value None with ``reason`` when n == 0.

    ``n_eff`` (effective sample size of clustered verdicts, at most n) widens the interval.
    """
    if n <= 0:
        return {"value": None, "ci": None, "n": 0, "reason": reason}
    p = k / n
    m = n if n_eff is None else n_eff
    lo, hi = wilson(p * m, m)
    return {"value": float(p), "ci": [lo, hi], "n": int(n), "reason": None}


def _grouped(view: VerdictView, mask: np.ndarray, success: np.ndarray):
    """Per group: successes k, verdicts n, and the effective n of the cluster-robust variance.

    Var(p) = sum over clusters of (k_c - p n_c)^2 / n^2; n_eff = p (1 - p) / Var, capped at n, so
    one verdict per cluster gives n_eff = n (plain Wilson).
    """
    s = success[mask].astype(float)
    c = view.cluster[mask]
    kc = np.bincount(c, weights=s, minlength=view.n_clusters)
    nc = np.bincount(c, minlength=view.n_clusters).astype(float)
    cg = np.zeros(view.n_clusters, dtype=np.int64)
    cg[c] = view.group[mask]
    k = np.bincount(cg, weights=kc, minlength=view.n_groups)
    n = np.bincount(cg, weights=nc, minlength=view.n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        var = np.bincount(cg, weights=(kc - p[cg] * nc) ** 2, minlength=view.n_groups) / n**2
        n_eff = np.where(var > 0, p * (1 - p) / var, n)
    return k, n.astype(np.int64), np.minimum(np.nan_to_num(n_eff, nan=0.0), n)


def _rates(view: VerdictView, mask: np.ndarray, success: np.ndarray, reason: str) -> list[dict]:
    k, n, n_eff = _grouped(view, mask, success)
    return [rate(k[g], int(n[g]), reason, n_eff[g]) for g in range(view.n_groups)]


def p_first(view: VerdictView) -> list[dict]:
    """Among decisive verdicts with a known display order, the share won by the answer shown first."""
    mask = view.decisive & view.order_known
    first_won = np.where(view.first_is_a, view.w == A, view.w == B)
    reason = "no decisive verdict with a known display order" if view.order_known.any() else "the display order was not recorded"
    return _rates(view, mask, first_won, reason)


def p_longer(view: VerdictView, facts: PairFacts) -> list[dict]:
    """Among decisive verdicts on pairs whose lengths differ by more than 30 characters, the share won by the longer."""
    d = facts.dlen[view.pair]
    mask = view.decisive & (np.abs(np.nan_to_num(d)) > LENGTH_MARGIN)
    reason = (f"no decisive verdict on a pair whose lengths differ by more than {LENGTH_MARGIN} characters"
              if facts.texts_known.any() else "the response texts are missing")
    return _rates(view, mask, (d > 0) == (view.w == A), reason)


def p_lists(view: VerdictView, facts: PairFacts) -> list[dict]:
    """Among decisive verdicts on pairs where exactly one answer contains a list, the share won by that answer."""
    la, lb = facts.list_a[view.pair], facts.list_b[view.pair]
    mask = view.decisive & facts.texts_known[view.pair] & (la != lb)
    reason = "no decisive verdict on a pair where exactly one answer has a list" if facts.texts_known.any() else "the response texts are missing"
    return _rates(view, mask, la == (view.w == A), reason)


def human_agreement(view: VerdictView, facts: PairFacts) -> tuple[list[dict], list[dict], list[dict]]:
    """Per group: agreement with the human label (tie a class of its own), AlpacaEval's 1-|pred-target|, Cohen's kappa."""
    hk = facts.human_known[view.pair] & view.parsed
    h = facts.human[view.pair]
    reason = "no parsed verdict on a human-labelled pair" if facts.human_known.any() else "no human labels"
    agree = _rates(view, hk, view.w == h, reason)
    target = np.array([1.0, 2.0, 1.5])
    alpaca_score = 1.0 - np.abs(target[view.w] - target[h])
    alpaca, kappas = [], []
    for g in range(view.n_groups):
        sel = hk & (view.group == g)
        vals = alpaca_score[sel]
        lo, hi = bootstrap_clustered(vals, view.cluster[sel])
        alpaca.append({"value": float(vals.mean()), "ci": [lo, hi], "n": int(sel.sum()), "reason": None} if sel.any()
                      else {"value": None, "ci": None, "n": 0, "reason": reason})
        kp = cohen_kappa(view.w[sel], h[sel])
        kappas.append({"value": kp.value, "n": kp.n, "reason": kp.reason if sel.any() else reason})
    return agree, alpaca, kappas


def slopes(view: VerdictView, facts: PairFacts, sd: float | None) -> list[dict]:
    """Per group: slope of logit P(a wins) on tanh(length difference / sd), ties counting 0.5.

    Verdicts of one cluster (a judge's calls on one pair share the length difference) are pooled
    into one binomial row, and the CI is cluster-robust.
    """
    if sd is None or not sd > 0:
        return [{"value": None, "ci": None, "n": 0, "reason": "the response texts are missing or all of equal length"}] * view.n_groups
    d = facts.dlen[view.pair]
    ok = view.parsed & ~np.isnan(d)
    c, k = view.cluster[ok], view.n_clusters
    trials = np.bincount(c, minlength=k).astype(float)
    wins = np.bincount(c, weights=CLASS_SCORE[view.w[ok]], minlength=k)
    x = np.zeros(k)
    x[c] = length_feature(d[ok], sd)
    grp = np.full(k, -1, dtype=np.int64)
    grp[c] = view.group[ok]
    out = []
    for g in range(view.n_groups):
        sel = (grp == g) & (trials > 0)
        out.append(length_slope(wins[sel] / trials[sel], x[sel], trials[sel], robust=True))
    return out


def length_sd(facts: PairFacts) -> float | None:
    """Standard deviation of the length difference over the pairs with both texts (AlpacaEval's scale)."""
    d = facts.dlen[facts.texts_known]
    return float(np.std(d, ddof=1)) if len(d) > 1 and np.std(d) > 0 else None


def longer_by_ratio(view: VerdictView, facts: PairFacts) -> list[list[dict]]:
    """Per group, per length-ratio bin (longer/shorter): share of decisive verdicts the longer answer won."""
    la, lb = facts.len_a[view.pair], facts.len_b[view.pair]
    ok = view.decisive & ~np.isnan(la) & ~np.isnan(lb) & (la != lb)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.maximum(la, lb) / np.minimum(la, lb)
    b = np.clip(np.searchsorted(RATIO_BINS, np.nan_to_num(ratio, nan=1.0), side="right") - 1, 0, len(RATIO_BINS) - 2)
    nb = len(RATIO_BINS) - 1
    key = view.group * nb + b
    won = (la > lb) == (view.w == A)
    binned = VerdictView(key, view.n_groups * nb, view.pair, view.parsed, view.w, view.order_known, view.first_is_a,
                         view.cluster, view.n_clusters)
    k, n, n_eff = _grouped(binned, ok, won)
    k, n, n_eff = (a.reshape(view.n_groups, nb) for a in (k, n, n_eff))
    return [[{"lo": RATIO_BINS[i], "hi": None if np.isinf(RATIO_BINS[i + 1]) else RATIO_BINS[i + 1],
              **rate(k[g, i], int(n[g, i]), "no verdict in this bin", n_eff[g, i])} for i in range(nb)] for g in range(view.n_groups)]


def usage(table, group: np.ndarray, n_groups: int) -> list[dict]:
    """Per group: tokens, cost and latency from the optional columns (None with a reason when absent)."""
    cols = {c: _numeric(table, c) for c in ("prompt_tokens", "completion_tokens", "cost_usd", "latency_s")}
    out = []
    for g in range(n_groups):
        sel = group == g
        entry = {}
        pt, ct = cols["prompt_tokens"][sel], cols["completion_tokens"][sel]
        has_t = ~np.isnan(pt) | ~np.isnan(ct)
        entry["tokens"] = ({"prompt": int(np.nansum(pt)), "completion": int(np.nansum(ct)), "n": int(has_t.sum()), "reason": None}
                           if has_t.any() else {"prompt": None, "completion": None, "n": 0, "reason": "no token counts recorded"})
        c = cols["cost_usd"][sel]
        c = c[~np.isnan(c)]
        entry["cost_usd"] = ({"total": float(c.sum()), "per_call": float(c.mean()), "n": len(c), "reason": None} if len(c)
                             else {"total": None, "per_call": None, "n": 0, "reason": "no cost recorded"})
        lat = cols["latency_s"][sel]
        lat = lat[~np.isnan(lat)]
        entry["latency_s"] = ({"mean": float(lat.mean()), "p50": float(np.median(lat)), "p95": float(np.quantile(lat, 0.95)),
                               "n": len(lat), "reason": None} if len(lat)
                              else {"mean": None, "p50": None, "p95": None, "n": 0, "reason": "no latency recorded"})
        out.append(entry)
    return out


def _numeric(table, col: str) -> np.ndarray:
    import pandas as pd

    if col not in table.columns:
        return np.full(len(table), np.nan)
    s = table[col]
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        return s.to_numpy(dtype=float, na_value=np.nan)
    if s.isna().all():
        return np.full(len(table), np.nan)
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
