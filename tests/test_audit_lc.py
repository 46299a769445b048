"""Length-controlled win rate: the Schur-complement Newton solver and what it is for."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prefjudge.audit import audit
from prefjudge.stats.lc import LCProblem, _design, fit_lc, lc_win_rates


def _dense_newton(pb: LCProblem, ridge_instr=1.0, ridge=1e-3, iters=100):
    """Reference: plain Newton on the full design [length, models..., instructions...]."""
    xv = _design(pb)
    onehot = np.zeros((len(pb.y), pb.n_instr))
    onehot[np.arange(len(pb.y)), pb.instr] = 1.0
    X = np.hstack([xv, onehot])
    pen = np.r_[np.full(xv.shape[1], ridge), np.full(pb.n_instr, ridge_instr)]
    beta = np.zeros(X.shape[1])
    for _ in range(iters):
        p = 1 / (1 + np.exp(-(X @ beta)))
        g = X.T @ (pb.y - p) - pen * beta
        h = (X * (p * (1 - p))[:, None]).T @ X + np.diag(pen)
        beta = beta + np.linalg.solve(h, g)
    return beta[: xv.shape[1]], beta[xv.shape[1]:]


def _problem(seed=0, n=400, n_models=4, n_instr=60):
    rng = np.random.default_rng(seed)
    ma = rng.integers(0, n_models, n)
    mb = (ma + rng.integers(1, n_models, n)) % n_models
    instr = rng.integers(0, n_instr, n)
    x = np.tanh(rng.normal(size=n))
    theta = np.linspace(-0.5, 0.5, n_models)
    eta = theta[ma] - theta[mb] + 0.8 * x + rng.normal(scale=0.5, size=n_instr)[instr]
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    y[::7] = 0.5  # some ties
    return LCProblem(ma, mb, n_models, instr, n_instr, x, y)


def test_schur_newton_equals_dense_newton():
    pb = _problem()
    fit = fit_lc(pb)
    v, delta = _dense_newton(pb)
    assert fit.converged
    assert np.allclose(fit.v, v, atol=1e-8) and np.allclose(fit.delta, delta, atol=1e-8)


def test_lc_win_rate_is_the_mean_prediction_without_the_length_term():
    pb = _problem(seed=1)
    fit = fit_lc(pb)
    rates = lc_win_rates(pb, fit)
    v, delta = _dense_newton(pb)
    theta = np.r_[0.0, v[1:]]
    for m in range(pb.n_models):
        rows_a, rows_b = pb.ma == m, pb.mb == m
        eta0 = theta[pb.ma] - theta[pb.mb] + delta[pb.instr]
        p = 1 / (1 + np.exp(-eta0))
        expected = np.r_[p[rows_a], 1 - p[rows_b]].mean()
        assert rates[m]["value"] == pytest.approx(expected, abs=1e-9)
        lo, hi = rates[m]["ci"]
        assert lo < rates[m]["value"] < hi and hi - lo < 0.3


def _verbose_world(seed=0, n=3000):
    """Two models of equal quality; "verbose-7b" writes longer answers; the judge likes length."""
    rng = np.random.default_rng(seed)
    len_v = rng.integers(100, 900, n)
    len_c = rng.integers(50, 500, n)
    verbose_is_a = rng.random(n) < 0.5
    la, lb = np.where(verbose_is_a, len_v, len_c), np.where(verbose_is_a, len_c, len_v)
    margin = rng.normal(size=n) + 1.2 * np.tanh((la - lb) / 200)
    rows = [{"pair_id": f"p{i}", "prompt": f"q{i}", "response_a": "x" * int(la[i]), "response_b": "y" * int(lb[i]),
             "model_a": "verbose-7b" if verbose_is_a[i] else "concise-7b", "model_b": "concise-7b" if verbose_is_a[i] else "verbose-7b",
             "judge": "gpt-4o", "winner": "a" if margin[i] > 0 else "b"} for i in range(n)]
    return pd.DataFrame(rows)


def test_length_control_removes_a_length_advantage():
    gen = audit(_verbose_world()).to_dict()["generators"]
    raw = gen["models"]["verbose-7b"]["win_rate"]
    lc = gen["models"]["verbose-7b"]["lc_win_rate"]
    assert raw["value"] > 0.6 and raw["ci"][0] > 0.5  # the judge's length bias inflates the raw rate
    assert lc["ci"][0] < 0.5 < lc["ci"][1]  # equal quality once length is controlled
    assert abs(lc["value"] - 0.5) < 0.04
    assert gen["length_coefficient"]["value"] > 0.5 and gen["length_coefficient"]["ci"][0] > 0
    assert gen["models"]["verbose-7b"]["lc_win_rate"]["value"] + gen["models"]["concise-7b"]["lc_win_rate"]["value"] == pytest.approx(1.0)


def test_win_matrix_counts_ties_as_half():
    t = pd.DataFrame({"pair_id": ["1", "2", "3"], "judge": "j", "winner": ["a", "tie", "b"],
                      "model_a": ["m1", "m1", "m2"], "model_b": ["m2", "m2", "m1"],
                      "response_a": ["a" * 10, "b" * 20, "c" * 30], "response_b": ["d" * 40, "e" * 5, "f" * 12]})
    gen = audit(t).to_dict()["generators"]
    # m1 beats m2 on 1, ties on 2, m2 (as a) loses to... 3: winner b = m1
    assert gen["win_matrix"]["m1"]["m2"] == {"wins": 2.5, "n": 3}
    assert gen["win_matrix"]["m2"]["m1"] == {"wins": 0.5, "n": 3}
    assert gen["models"]["m1"]["win_rate"]["value"] == pytest.approx(2.5 / 3)


def test_no_length_controlled_rate_when_one_model_is_always_longer():
    """Length and model are the same variable: the LC value would be an extrapolation, so None with the reason."""
    rng = np.random.default_rng(1)
    n = 60
    rows = [{"pair_id": f"p{i}", "prompt": f"q{i}", "judge": "j",
             "response_a": "long answer " * int(rng.integers(5, 20)), "response_b": "short",
             "model_a": "trained", "model_b": "base", "winner": "a" if rng.random() < 0.8 else "b"} for i in range(n)]
    gen = audit(pd.DataFrame(rows)).to_dict()["generators"]
    lc = gen["models"]["trained"]["lc_win_rate"]
    assert lc["value"] is None and lc["ci"] is None and lc["n"] == n
    assert "longer than its opponent's in every one of its 60 pairs" in lc["reason"]
    assert "shorter" in gen["models"]["base"]["lc_win_rate"]["reason"]
    assert gen["models"]["trained"]["win_rate"]["value"] > 0.6  # the raw rate is still reported
    # one pair the other way (1 in 60): the value comes back, with the caveat as its reason
    rows[0]["response_b"] = "x" * 500
    lc2 = audit(pd.DataFrame(rows)).to_dict()["generators"]["models"]["trained"]["lc_win_rate"]
    assert lc2["value"] is not None and "98% of its 60 pairs" in lc2["reason"]
