"""The ranking planners with a noiseless oracle (quality = candidate index), and Bradley-Terry."""

from __future__ import annotations

import numpy as np
import pytest

from prefjudge.curate.selection import strength_order
from prefjudge.curate.strategies import Adaptive, Knockout, RoundRobin, phase_one_cost
from prefjudge.stats.bt import fit_bt
from prefjudge.stats.posterior import all_pairs, extreme_probabilities, round_robin_extremes, tie_priority


def _drive(planner, quality):
    rounds = 0
    while pairs := planner.next_pairs():
        rounds += 1
        assert len(set(pairs)) == len(pairs) and all(i < j for i, j in pairs)
        for i, j in pairs:
            assert (i, j) not in planner.outcomes  # never the same comparison twice
            planner.observe((i, j), 1.0 if quality[i] > quality[j] else 0.0, 3)
    s, _ = fit_bt(len(quality), planner.bt_outcomes())
    return int(np.argmax(s)), int(np.argmin(s)), len(planner.outcomes), rounds


@pytest.mark.parametrize("n", range(2, 12))
@pytest.mark.parametrize("kind", ["knockout", "adaptive"])
def test_efficient_planners_find_best_and_worst_within_2n(kind, n):
    rng = np.random.default_rng(n)
    quality = list(rng.permutation(n))
    planner = Knockout(n, seed=1, key="p") if kind == "knockout" else Adaptive(n, seed=1, key="p", samples=256)
    best, worst, used, _ = _drive(planner, quality)
    assert (best, worst) == (quality.index(n - 1), quality.index(0))
    assert used <= min(2 * n, n * (n - 1) // 2)
    if kind == "knockout":
        assert used >= phase_one_cost(n)


def test_round_robin_is_every_pair_once():
    best, worst, used, rounds = _drive(RoundRobin(6), [3, 5, 0, 1, 4, 2])
    assert (best, worst, used, rounds) == (1, 2, 15, 1)


def test_budget_caps_the_refinement():
    _, _, used, _ = _drive(Knockout(8, budget=10), list(range(8)))
    assert used == 10
    _, _, used, _ = _drive(Adaptive(8, budget=6, samples=128), list(range(8)))
    assert used == 6


def test_ties_and_failed_comparisons_use_a_seeded_coin():
    k1, k2 = Knockout(4, seed=3, key="x"), Knockout(4, seed=3, key="x")
    for k in (k1, k2):
        for pair in k.next_pairs():
            k.observe(pair, None, 0)  # every first-round comparison failed
    assert k1.next_pairs() == k2.next_pairs()


def test_bradley_terry_recovers_strengths_and_uncertainty_shrinks_with_data():
    true = np.array([1.0, 0.0, -1.0])
    few = [(0, 1, 0.73, 3), (1, 2, 0.73, 3), (0, 2, 0.88, 3)]
    many = [(i, j, y, w * 100) for i, j, y, w in few]
    s_few, se_few = fit_bt(3, few)
    s_many, se_many = fit_bt(3, many)
    assert np.allclose(s_many - s_many.mean(), true, atol=0.05)
    assert (se_many < se_few / 5).all()


def _complete(n, rng, ties=False):
    """Outcomes of a full round robin: shares of 3 verdicts (ties: every pair split 1.5 / 1.5 or decided)."""
    values = [0.5] if ties else [0.0, 1 / 3, 2 / 3, 1.0]
    return [(i, j, float(rng.choice(values)), 3) for i, j in all_pairs(n)]


def test_round_robin_rule_matches_the_strength_order_including_exact_ties():
    rng = np.random.default_rng(0)
    for t in range(40):
        n = int(rng.integers(3, 9))
        obs = _complete(n, rng, ties=t % 10 == 0)
        key = f"p{t}"
        s, _ = fit_bt(n, obs)
        order = strength_order(s, key)
        x = np.array([[y for *_, y, _ in obs]])
        best, worst = round_robin_extremes(x, n, tie_priority(n, key))
        assert (int(best[0]), int(worst[0])) == (order[0], order[-1])


def test_exact_ties_go_by_the_seeded_priority_not_by_index_or_rounding():
    obs = [(i, j, 0.5, 3) for i, j in all_pairs(5)]  # every candidate ties with every other
    for key in ("a", "b", "c"):
        s, _ = fit_bt(5, obs)
        prio = tie_priority(5, key)
        order = strength_order(s, key)
        assert order == sorted(range(5), key=lambda k: -prio[k])
    assert len({tuple(strength_order(fit_bt(5, obs)[0], k)) for k in "abcdefgh"}) > 1


def test_extreme_probabilities_are_a_distribution_that_follows_the_evidence():
    n = 6
    chain = [(i, i + 1, 1.0, 3) for i in range(n - 1)]  # 0 > 1 > ... > 5, each by 3 verdicts to 0
    joint = extreme_probabilities(n, chain, "p", samples=4000)
    assert joint.shape == (n, n) and np.isclose(joint.sum(), 1.0) and (np.diag(joint) == 0).all()
    assert joint.sum(axis=1).argmax() == 0 and joint.sum(axis=0).argmax() == n - 1
    assert (extreme_probabilities(n, chain, "p", samples=4000) == joint).all()  # seeded by the key
    flipped = extreme_probabilities(n, [(i, j, 1.0 - y, w) for i, j, y, w in chain], "p", samples=4000)
    assert flipped.sum(axis=1).argmax() == n - 1 and flipped.sum(axis=0).argmax() == 0
    rng = np.random.default_rng(1)
    full = _complete(n, rng)
    joint = extreme_probabilities(n, full, "q", samples=500)
    x = np.array([[y for *_, y, _ in full]])
    b, w = round_robin_extremes(x, n, tie_priority(n, "q"))
    assert joint[int(b[0]), int(w[0])] == 1.0  # nothing left to guess


def test_adaptive_targets_the_round_robin_of_a_noisy_jury_as_well_as_strengths_alone():
    """Replayed verdict shares of a 3-judge jury (Binomial(3, BT p)); the full round robin is the reference."""
    rng = np.random.default_rng(7)
    n, hits_post, hits_bt, prompts = 8, 0, 0, 60
    for t in range(prompts):
        strength = rng.normal(0, 1.5, n)
        full = {(i, j): rng.binomial(3, 1 / (1 + np.exp(strength[j] - strength[i]))) / 3 for i, j in all_pairs(n)}
        key = f"q{t}"
        ref_s, _ = fit_bt(n, [(i, j, y, 3) for (i, j), y in full.items()])
        ref = strength_order(ref_s, key)
        planner = Adaptive(n, seed=0, key=key, samples=512)
        while pairs := planner.next_pairs():
            for pair in pairs:
                planner.observe(pair, full[pair], 3)
        assert len(planner.outcomes) == 2 * n
        obs = planner.bt_outcomes()
        joint = extreme_probabilities(n, obs, key, samples=2000)
        s, _ = fit_bt(n, obs)
        order = strength_order(s, key)
        hits_post += divmod(int(joint.argmax()), n) == (ref[0], ref[-1])
        hits_bt += (order[0], order[-1]) == (ref[0], ref[-1])
    # seeded: 53 of 60 for the posterior, 52-54 for strengths alone depending on the BLAS build: the
    # two are within noise of each other, so the posterior must not be clearly worse (3 of 60)
    assert hits_post / prompts >= 0.8 and hits_post >= hits_bt - 3
