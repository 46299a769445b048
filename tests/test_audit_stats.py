"""Every audit statistic on a small hand-computed table (exact numbers), plus the CI helpers.

The table: judges gpt-4o (openai, both orders) and llama-3-70b (meta, order ab only).
  p1: a = "- item\\n" + 93 chars (100, a list), b = 10 chars; gpt-4o-mini vs llama-3-8b; human a
  p2: a = 20 chars, b = 60 chars; llama-3-8b vs mistral-7b; human b
  p3: a = 50 chars, b = "1. x\\n" + 50 chars (55, a list); gpt-4o-mini vs mistral-7b; human a
  p4: a, b 10 chars each; no models, no human label
  gpt-4o: p1 ab a, ba a | p2 ab a, ba b | p3 ab tie, ba tie | p4 ab a, ba (failed)
  llama-3-70b: p1 ab b | p2 ab b | p3 ab a
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from prefjudge.audit import audit
from prefjudge.stats.intervals import bootstrap_clustered, bootstrap_mean, wilson
from prefjudge.stats.lc import fit_logistic, length_slope

TEXTS = {
    "p1": ("- item\n" + "a" * 93, "b" * 10, "gpt-4o-mini", "llama-3-8b", "a"),
    "p2": ("c" * 20, "d" * 60, "llama-3-8b", "mistral-7b", "b"),
    "p3": ("e" * 50, "1. x\n" + "f" * 50, "gpt-4o-mini", "mistral-7b", "a"),
    "p4": ("g" * 10, "h" * 10, None, None, None),
}
CALLS = [
    ("gpt-4o", "p1", "ab", "a"), ("gpt-4o", "p1", "ba", "a"), ("gpt-4o", "p2", "ab", "a"), ("gpt-4o", "p2", "ba", "b"),
    ("gpt-4o", "p3", "ab", "tie"), ("gpt-4o", "p3", "ba", "tie"), ("gpt-4o", "p4", "ab", "a"), ("gpt-4o", "p4", "ba", None),
    ("llama-3-70b", "p1", "ab", "b"), ("llama-3-70b", "p2", "ab", "b"), ("llama-3-70b", "p3", "ab", "a"),
]


def hand_table() -> pd.DataFrame:
    rows = []
    for k, (judge, pid, order, winner) in enumerate(CALLS):
        a, b, ma, mb, human = TEXTS[pid]
        row = {"pair_id": pid, "prompt": f"prompt of {pid}", "response_a": a, "response_b": b, "model_a": ma, "model_b": mb,
               "judge": judge, "order": order, "winner": winner, "human": human}
        if judge == "gpt-4o":
            row.update(latency_s=float(k + 1), cost_usd=0.01, prompt_tokens=100, completion_tokens=10)
        rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def report():
    return audit(hand_table()).to_dict()


def _ci(k, n):
    return list(wilson(k, n))


def test_texts_have_the_intended_lengths():
    assert [len(TEXTS[p][0]) for p in TEXTS] == [100, 20, 50, 10]
    assert [len(TEXTS[p][1]) for p in TEXTS] == [10, 60, 55, 10]


def test_counts_and_parse_rate(report):
    g = report["judges"]["gpt-4o"]
    assert (g["n"], g["n_parsed"], g["parsed_rate"]) == (8, 7, 0.875)
    assert g["family"] == "openai" and report["judges"]["llama-3-70b"]["family"] == "meta"


def test_p_first(report):
    # decisive with known order: p1 ab a (first), p1 ba a (not), p2 ab a (first), p2 ba b (first), p4 ab a (first)
    assert report["judges"]["gpt-4o"]["p_first"] == {"value": 0.8, "ci": _ci(4, 5), "n": 5, "reason": None}
    assert report["judges"]["llama-3-70b"]["p_first"]["value"] == pytest.approx(1 / 3)


def test_consistency(report):
    # seen in both orders with both parsed: p1 (a, a), p2 (a, b), p3 (tie, tie); p4 has a failed call
    assert report["judges"]["gpt-4o"]["consistency"] == {"value": pytest.approx(2 / 3), "ci": _ci(2, 3), "n": 3, "reason": None}
    c = report["judges"]["llama-3-70b"]["consistency"]
    assert c["value"] is None and c["reason"] == "no pair seen in both orders with both verdicts parsed"


def test_p_longer(report):
    # |diff| > 30: p1 (a longer: a, a won) and p2 (b longer: a, b) -> 3 of 4; p3 differs by 5 only
    assert report["judges"]["gpt-4o"]["p_longer"] == {"value": 0.75, "ci": _ci(3, 4), "n": 4, "reason": None}
    assert report["judges"]["llama-3-70b"]["p_longer"]["value"] == 0.5


def test_p_lists(report):
    # exactly one list: p1 (a) and p3 (b); p3's verdicts are ties, so gpt-4o: 2 of 2; llama: 0 of 2
    assert report["judges"]["gpt-4o"]["p_lists"] == {"value": 1.0, "ci": _ci(2, 2), "n": 2, "reason": None}
    assert report["judges"]["llama-3-70b"]["p_lists"]["value"] == 0.0


def test_human_agreement_with_pair_clustered_ci(report):
    h = report["judges"]["gpt-4o"]["human_agreement"]
    # p1: 2 of 2 agree, p2: 1 of 2, p3: 0 of 2 -> 3/6. Cluster variance: (1^2 + 0 + 1^2) / 6^2 -> n_eff = .25 / (2/36) = 4.5
    assert h["value"] == 0.5 and h["n"] == 6
    assert h["ci"] == pytest.approx(_ci(0.5 * 4.5, 4.5))
    assert report["judges"]["llama-3-70b"]["human_agreement"]["value"] == pytest.approx(2 / 3)


def test_alpaca_eval_agreement_and_cohen_kappa(report):
    g = report["judges"]["gpt-4o"]
    # 1 - |pred - target| with a=1, b=2, tie=1.5: p1 1, 1; p2 0, 1; p3 .5, .5
    assert g["human_agreement_alpaca_eval"]["value"] == pytest.approx(4 / 6)
    # pred (a,a,a,b,tie,tie) vs human (a,a,b,b,a,a): po = 3/6, pe = (3*4 + 1*2)/36
    assert g["cohen_kappa"] == pytest.approx(4 / 22)


def test_self_preference_against_the_other_judge(report):
    sp = report["judges"]["gpt-4o"]["self_preference"]
    # openai answer is a in p1 and p3: gpt-4o scores 1 and .5, llama-3-70b 0 and 1 -> (1 + -.5) / 2
    assert (sp["value"], sp["n"], sp["family"], sp["reference"]) == (0.25, 2, "openai", "other judges")
    assert (sp["judge_rate"], sp["reference_rate"]) == (0.75, 0.5)
    lo, hi = sp["ci"]
    assert lo == -0.5 and hi == 1.0  # bootstrap over two pairs: means in {-.5, .25, 1}
    sp2 = report["judges"]["llama-3-70b"]["self_preference"]
    # meta answer: p1 b (llama 1 vs gpt-4o 0), p2 a (llama 0 vs gpt-4o .5)
    assert (sp2["value"], sp2["n"]) == (0.25, 2)


def test_self_preference_falls_back_to_human_labels():
    t = pd.DataFrame([
        {"pair_id": "q1", "judge": "gpt-4o", "winner": "a", "model_a": "gpt-4o-mini", "model_b": "llama-3-8b", "human": "b"},
        {"pair_id": "q2", "judge": "gpt-4o", "winner": "a", "model_a": "llama-3-8b", "model_b": "gpt-4o-mini", "human": "tie"},
        {"pair_id": "q3", "judge": "gpt-4o", "winner": "a", "model_a": "llama-3-8b", "model_b": "gpt-4o-mini", "human": None},
    ])
    sp = audit(t).to_dict()["judges"]["gpt-4o"]["self_preference"]
    # q1: 1 - 0 = 1; q2: openai is b, judge 0 vs human .5 -> -.5; q3 has no reference
    assert (sp["value"], sp["n"], sp["reference"]) == (0.25, 2, "human labels")


def test_human_reference_rates(report):
    h = report["human"]
    # labels: p1 a (the longer, the list), p2 b (the longer), p3 a (5 chars apart; b has the list)
    assert h["n"] == 3 and h["p_longer"]["value"] == 1.0 and h["p_longer"]["n"] == 2
    assert h["p_lists"]["value"] == 0.5 and h["p_lists"]["n"] == 2


def test_usage_columns(report):
    g = report["judges"]["gpt-4o"]
    assert g["tokens"] == {"prompt": 800, "completion": 80, "n": 8, "reason": None}
    assert g["cost_usd"]["total"] == pytest.approx(0.08) and g["cost_usd"]["n"] == 8
    assert g["latency_s"]["mean"] == 4.5 and g["latency_s"]["p95"] == pytest.approx(7.65)
    assert report["judges"]["llama-3-70b"]["cost_usd"] == {"total": None, "per_call": None, "n": 0, "reason": "no cost recorded"}


def test_jury_entry(report):
    j = report["jury"]
    # votes: gpt-4o p1 a, p2 tie (split), p3 tie, p4 a; llama p1 b, p2 b, p3 a -> tie, tie, tie, a
    assert (j["rule"], j["n"], j["n_parsed"], j["parsed_rate"]) == ("majority", 4, 4, 1.0)
    assert j["human_agreement"]["value"] == 0.0 and j["human_agreement"]["n"] == 3
    assert j["consistency"]["value"] == pytest.approx(2 / 3)  # p1 True, p2 False, p3 True, p4 None
    assert j["p_first"]["value"] is None and "different orders" in j["p_first"]["reason"]
    ag = j["agreement"]
    assert ag["fleiss_kappa"]["value"] == pytest.approx(-0.5) and ag["fleiss_kappa"]["n"] == 3
    assert ag["mean_agreement"]["value"] == 0.5
    assert ag["cohen_kappa_pairs"]["gpt-4o"]["llama-3-70b"] == {"value": pytest.approx(-0.125), "n": 3}


def test_generators_win_rates_and_matrix(report):
    g = report["generators"]
    # jury: p1 tie (gpt-4o-mini vs llama-3-8b), p2 tie, p3 tie; p4 has no models
    assert set(g["models"]) == {"gpt-4o-mini", "llama-3-8b", "mistral-7b"}
    assert g["models"]["gpt-4o-mini"]["win_rate"]["value"] == 0.5 and g["models"]["gpt-4o-mini"]["n"] == 2
    assert g["win_matrix"]["gpt-4o-mini"]["llama-3-8b"] == {"wins": 0.5, "n": 1}


def test_missing_columns_give_none_with_reasons():
    t = pd.DataFrame({"pair_id": ["p", "q", "r"], "judge": "x", "winner": ["a", "b", "a"]})
    e = audit(t).to_dict()
    j = e["judges"]["x"]
    assert j["p_first"] == {"value": None, "ci": None, "n": 0, "reason": "the display order was not recorded"}
    assert j["p_longer"]["reason"] == "the response texts are missing"
    assert j["p_lists"]["reason"] == "the response texts are missing"
    assert j["human_agreement"]["reason"] == "no human labels" and j["cohen_kappa"] is None
    assert "model_a/model_b" in j["self_preference"]["reason"]
    assert j["length_slope"]["value"] is None and j["length_slope"]["reason"]
    assert e["generators"]["models"] == {} and "generator" in e["generators"]["reason"]


def test_wilson_and_cluster_effective_n():
    assert [round(x, 4) for x in wilson(8, 10)] == [0.4902, 0.9433]
    assert wilson(0, 0) == (None, None)
    # four pairs judged twice; on p0, p1 the first shown wins both times, on p2, p3 it loses both times:
    # 4 of 8, but only 4 independent clusters -> Wilson with n_eff = 4
    first = {"ab": "a", "ba": "b"}
    second = {"ab": "b", "ba": "a"}
    t = pd.DataFrame([{"pair_id": f"p{i}", "judge": "j", "order": o, "winner": (first if i < 2 else second)[o]}
                      for i in range(4) for o in ("ab", "ba")])
    pf = audit(t).to_dict()["judges"]["j"]["p_first"]
    assert pf["value"] == 0.5 and pf["n"] == 8 and pf["ci"] == pytest.approx(_ci(2, 4))


def test_bootstrap_helpers_are_exact_where_they_can_be():
    assert bootstrap_mean(np.array([])) == (None, None)
    assert bootstrap_mean(np.ones(7)) == (1.0, 1.0)
    v = np.array([0.0, 1.0] * 50)
    lo, hi = bootstrap_mean(v, seed=1)
    assert lo < 0.5 < hi and hi - lo == pytest.approx(2 * 1.96 * 0.05, abs=0.03)
    # singleton clusters: the clustered bootstrap is the plain one, draw for draw
    assert bootstrap_clustered(v, np.arange(100), seed=1) == (lo, hi)
    # many distinct values use index resampling; same seed, same answer
    w = np.random.default_rng(0).normal(size=2000)
    assert bootstrap_mean(w, seed=3) == bootstrap_mean(w, seed=3)
    a, b = bootstrap_mean(w, seed=3)
    assert a < w.mean() < b


def test_logistic_fit_matches_the_closed_form():
    # x = +1: 8 of 10 won; x = -1: 4 of 10 -> slope = (logit .8 - logit .4) / 2
    x = np.array([1.0] * 10 + [-1.0] * 10)
    y = np.array([1] * 8 + [0] * 2 + [1] * 4 + [0] * 6, dtype=float)
    s = length_slope(y, x)
    expected = (math.log(0.8 / 0.2) - math.log(0.4 / 0.6)) / 2
    assert s["value"] == pytest.approx(expected, abs=1e-9)
    fit = fit_logistic(np.column_stack([np.ones(20), x]), y)
    se = math.sqrt(fit.cov[1, 1])
    assert s["ci"] == pytest.approx([expected - 1.959963984540054 * se, expected + 1.959963984540054 * se])
    # the Wald variance of the slope: (1/(n1 p1 q1) + 1/(n0 p0 q0)) / 4
    assert se**2 == pytest.approx((1 / (10 * 0.8 * 0.2) + 1 / (10 * 0.4 * 0.6)) / 4)


def test_separated_length_slope_is_none_with_reason():
    x = np.linspace(-1, 1, 20)
    s = length_slope((x > 0).astype(float), x)
    assert s["value"] is None and "separated" in s["reason"]
