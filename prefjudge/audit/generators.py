"""Per generator model: raw win rate, length-controlled win rate (AlpacaEval 2 style), win matrix.

Computed on the per-pair outcomes (the jury's verdicts, or the single judge's), on pairs whose two
answers come from two different known models.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from prefjudge.aggregation.votes import CLASS_SCORE
from prefjudge.audit.facts import PairFacts
from prefjudge.audit.stats import length_sd, rate
from prefjudge.stats.lc import LCProblem, fit_lc, lc_win_rates, length_coefficient, length_feature


def generators_entry(winner: np.ndarray, has: np.ndarray, facts: PairFacts) -> dict:
    """The report's "generators" section: {"models": {...}, "length_coefficient", "win_matrix", "reason"}."""
    ma, mb = facts.model_a, facts.model_b
    usable = has & pd.notna(ma) & pd.notna(mb)
    usable &= np.asarray(ma != mb, dtype=bool)
    if not usable.any():
        reason = "no pair names two different generator models (model_a/model_b)" if not (pd.notna(ma) & pd.notna(mb)).any() \
            else "no pair with a verdict between two different models"
        return {"models": {}, "length_coefficient": None, "win_matrix": {}, "reason": reason}
    codes, models = pd.factorize(np.concatenate([ma[usable], mb[usable]]))
    n = int(usable.sum())
    pb_ma, pb_mb = codes[:n].astype(np.int64), codes[n:].astype(np.int64)
    y = CLASS_SCORE[winner[usable].astype(np.int64)]
    entry = {"models": {}, "win_matrix": _win_matrix(models, pb_ma, pb_mb, y), "reason": None}
    raw = _raw_rates(len(models), pb_ma, pb_mb, y)
    lc, coef = _lc(facts, usable, pb_ma, pb_mb, len(models), y)
    fam = dict(zip(list(ma[usable]) + list(mb[usable]), list(facts.fam_a[usable]) + list(facts.fam_b[usable])))
    for m, name in enumerate(models):
        entry["models"][str(name)] = {"family": fam.get(name), "n": raw[m]["n"], "win_rate": raw[m], "lc_win_rate": lc[m]}
    entry["length_coefficient"] = coef
    return entry


def _raw_rates(n_models: int, ma: np.ndarray, mb: np.ndarray, y: np.ndarray) -> list[dict]:
    wins = np.bincount(ma, weights=y, minlength=n_models) + np.bincount(mb, weights=1 - y, minlength=n_models)
    games = np.bincount(ma, minlength=n_models) + np.bincount(mb, minlength=n_models)
    return [rate(wins[m], int(games[m]), "no pair") for m in range(n_models)]


def _lc(facts: PairFacts, usable: np.ndarray, ma, mb, n_models: int, y) -> tuple[list[dict], dict | None]:
    sd = length_sd(facts)
    dlen = facts.dlen[usable]
    if sd is None or np.isnan(dlen).any():
        reason = "the response texts are missing, so length cannot be controlled"
        return [{"value": None, "ci": None, "n": 0, "reason": reason}] * n_models, None
    if n_models < 2:
        return [{"value": None, "ci": None, "n": 0, "reason": "one model only"}], None
    instr, uniq = pd.factorize(facts.instruction[usable])
    pb = LCProblem(ma, mb, n_models, instr.astype(np.int64), max(len(uniq), 1), length_feature(dlen, sd), y)
    fit = fit_lc(pb)
    rates = lc_win_rates(pb, fit)
    if not fit.converged:
        for r in rates:
            r["reason"] = "the length-controlled fit did not converge; treat the value with care"
    return [_confounded(r, dlen, ma, mb, m) for m, r in enumerate(rates)], length_coefficient(fit)


def _confounded(entry: dict, dlen: np.ndarray, ma: np.ndarray, mb: np.ndarray, m: int) -> dict:
    """No length-controlled rate when a model's answer is longer (or shorter) than its opponent's in every pair.

    Then length and model are the same variable and the fit's value at equal length is an
    extrapolation the data cannot check (it lands near 0 or 1 whatever the quality). When 90% or
    more of the pairs go one way the value stays, with that caveat as its reason.
    """
    own = np.where(ma == m, dlen, np.where(mb == m, -dlen, np.nan))
    own = own[~np.isnan(own)]
    if len(own) == 0 or entry.get("value") is None:
        return entry
    longer, shorter = float((own > 0).mean()), float((own < 0).mean())
    side, share = ("longer", longer) if longer >= shorter else ("shorter", shorter)
    if share == 1.0:
        return {"value": None, "ci": None, "n": entry["n"],
                "reason": f"the model's answer is {side} than its opponent's in every one of its {len(own)} pairs, "
                          "so length and model cannot be separated"}
    if share >= 0.9:
        return {**entry, "reason": f"the model's answer is {side} in {100 * share:.0f}% of its {len(own)} pairs; "
                                   "the length-controlled value extrapolates to equal length"}
    return entry


def _win_matrix(models, ma: np.ndarray, mb: np.ndarray, y: np.ndarray) -> dict[str, dict[str, dict]]:
    """row model -> column model -> {"wins": row's wins over column (a tie counts 0.5), "n": pairs}."""
    k = len(models)
    ab, ba = ma * k + mb, mb * k + ma
    wins = (np.bincount(ab, weights=y, minlength=k * k) + np.bincount(ba, weights=1 - y, minlength=k * k)).reshape(k, k)
    games = (np.bincount(ab, minlength=k * k) + np.bincount(ba, minlength=k * k)).reshape(k, k)
    return {str(models[i]): {str(models[j]): {"wins": float(wins[i, j]), "n": int(games[i, j])}
                             for j in range(k) if games[i, j]} for i in range(k)}
