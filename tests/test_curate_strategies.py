"""The ranking planners with a noiseless oracle (quality = candidate index), and Bradley-Terry."""

from __future__ import annotations

import numpy as np
import pytest

from prefjudge.curate.bt import fit_bt
from prefjudge.curate.strategies import Adaptive, Knockout, RoundRobin, phase_one_cost


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
