"""PoLL-style check on simulated data: one strong judge and two weak, biased ones.

A plain majority falls below the best single judge (the published failure); the learned
weightings (dawid_skene, weighted) must not. Accuracies are against the simulator's latent truth.
"""

from __future__ import annotations

import pytest
from _audit_helpers import SimJudgeSpec, judge_pairs, make_pairs

from prefjudge.aggregation.jury import aggregate

JUDGES = [
    SimJudgeSpec("gpt-4o", noise=0.15),
    SimJudgeSpec("claude-3-haiku", noise=1.8, position_bias=0.3),
    SimJudgeSpec("llama-3-8b", noise=1.8, length_bias=0.5),
]


@pytest.mark.parametrize("order,seed", [("both", 0), ("both", 1), ("random", 2)])
def test_learned_jury_is_at_least_as_accurate_as_the_best_single_judge(order, seed, record_property):
    pairs = make_pairs(800, seed=seed)
    truth = pairs.set_index("pair_id")["gap"].gt(0).map({True: "a", False: "b"})
    table = judge_pairs(pairs, JUDGES, order=order, seed=seed)

    def accuracy(res):
        return float((res.outcomes["winner"] == truth.reindex(res.outcomes.index)).mean())

    single = {j.name: accuracy(aggregate(table[table["judge"] == j.name])) for j in JUDGES}
    jury = {rule: accuracy(aggregate(table, rule)) for rule in ("majority", "weighted", "dawid_skene")}
    best = max(single.values())
    record_property("single_judge_accuracy", single)
    record_property("jury_accuracy", jury)
    print(f"order={order} seed={seed} single={single} jury={jury}")
    assert jury["dawid_skene"] >= best, (single, jury)
    assert jury["weighted"] >= best, (single, jury)
    assert jury["majority"] < best, (single, jury)  # the failure the learned rules avoid


def test_dawid_skene_ranks_the_judges_by_their_true_accuracy():
    pairs = make_pairs(800, seed=5)
    table = judge_pairs(pairs, JUDGES, order="random", seed=5)
    rel = aggregate(table, "dawid_skene").meta["judge_reliability"]
    truth = pairs.set_index("pair_id")["gap"].gt(0).map({True: "a", False: "b"})
    real = {j: float((table[table["judge"] == j].set_index("pair_id")["winner"] == truth).mean()) for j in rel}
    assert rel["gpt-4o"]["accuracy"] > rel["claude-3-haiku"]["accuracy"]
    assert rel["gpt-4o"]["accuracy"] > rel["llama-3-8b"]["accuracy"]
    for j in rel:
        assert rel[j]["accuracy"] == pytest.approx(real[j], abs=0.06), (j, rel[j], real[j])
