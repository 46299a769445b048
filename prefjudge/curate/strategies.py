"""Which comparisons to make among the N candidates of one prompt.

A planner proposes pairs of candidate indices a round at a time and is told each outcome (the
preference for the lower index ``i`` of the pair ``(i, j)``, i < j). Rounds are synchronised
across prompts, so each round is one batched, concurrent ``rank_pairs`` call.

- :class:`RoundRobin`: every pair once, N(N-1)/2 comparisons.
- :class:`Adaptive`: a random matching, then one comparison per round chosen by simulating the
  round robin from the current Bradley-Terry fit (see the class).
- :class:`Knockout`: a max-min tournament, then refinement up to a budget (default 2N).
  Round 1 pairs the candidates at random (seeded); winners play a single-elimination bracket
  for the best, losers one for the worst (3N/2 - 2 comparisons). The remaining budget goes to
  the places where the answer is least certain: Bradley-Terry strengths are fitted on every
  outcome so far, and the current best (worst) meets the strongest (weakest) candidate it has
  not met yet. The best and worst are the Bradley-Terry extremes over all outcomes, the same
  estimator the round robin uses.
"""

from __future__ import annotations

import hashlib
import random
from typing import Protocol

Pair = tuple[int, int]


def _rng(seed: int, key: str) -> random.Random:
    return random.Random(int.from_bytes(hashlib.sha256(f"{seed}\x1f{key}".encode()).digest()[:8], "big"))


class Planner(Protocol):
    def next_pairs(self) -> list[Pair]: ...

    def observe(self, pair: Pair, p_i: float | None, n: int) -> None: ...


class _Base:
    def __init__(self, n: int, seed: int, key: str):
        self.n = n
        self.rng = _rng(seed, key)
        self.outcomes: dict[Pair, tuple[float | None, int]] = {}

    def observe(self, pair: Pair, p_i: float | None, n: int) -> None:
        self.outcomes[pair] = (p_i, n)

    def beats(self, x: int, y: int) -> bool:
        """Whether x won its comparison with y (an exact tie or a failed comparison: a seeded coin)."""
        pair = (min(x, y), max(x, y))
        p, _ = self.outcomes[pair]
        if p is None or p == 0.5:
            return self.rng.random() < 0.5
        p_x = p if x == pair[0] else 1.0 - p
        return p_x > 0.5

    def bt_outcomes(self) -> list[tuple[int, int, float, float]]:
        return [(i, j, p, n) for (i, j), (p, n) in self.outcomes.items() if p is not None and n > 0]


def _pairs(items: list[int]) -> tuple[list[Pair], int | None]:
    """Consecutive pairs of ``items`` (each as (min, max)) and the odd one out, if any."""
    pairs = [(min(a, b), max(a, b)) for a, b in zip(items[0::2], items[1::2])]
    return pairs, (items[-1] if len(items) % 2 else None)


class RoundRobin(_Base):
    def __init__(self, n: int, seed: int = 0, key: str = ""):
        super().__init__(n, seed, key)
        self._done = False

    def next_pairs(self) -> list[Pair]:
        if self._done:
            return []
        self._done = True
        return [(i, j) for i in range(self.n) for j in range(i + 1, self.n)]


class Knockout(_Base):
    def __init__(self, n: int, seed: int = 0, key: str = "", budget: int | None = None):
        super().__init__(n, seed, key)
        self.budget = 2 * n if budget is None else budget
        self.stage = "start"
        self.upper: list[int] = []
        self.lower: list[int] = []
        self._pending: list[Pair] = []
        self._byes: tuple[int | None, int | None] = (None, None)

    @property
    def used(self) -> int:
        return len(self.outcomes)

    def next_pairs(self) -> list[Pair]:
        """The next round's comparisons; [] once the budget is used or nothing is left to learn."""
        while self.stage != "done":
            pairs = self._step()
            if pairs:
                return pairs
        return []

    def _step(self) -> list[Pair]:
        if self.stage == "start":
            order = list(range(self.n))
            self.rng.shuffle(order)
            self._pending, odd = _pairs(order)
            self._byes = (odd, odd)
            self.stage = "split"
            return self._pending
        if self.stage == "split":
            self.upper = [i if self.beats(i, j) else j for i, j in self._pending]
            self.lower = [j if self.beats(i, j) else i for i, j in self._pending]
            self.upper += [self._byes[0]] if self._byes[0] is not None else []
            self.lower += [self._byes[1]] if self._byes[1] is not None else []
            self.stage = "brackets"
            return self._bracket_round()
        if self.stage == "brackets":
            self.upper = self._advance(self.upper, winners=True)
            self.lower = self._advance(self.lower, winners=False)
            if len(self.upper) > 1 or len(self.lower) > 1:
                return self._bracket_round()
            self.stage = "refine"
            return []
        return self._refine()

    def _bracket_round(self) -> list[Pair]:
        up, self._up_bye = _pairs(self.upper) if len(self.upper) > 1 else ([], None)
        low, self._low_bye = _pairs(self.lower) if len(self.lower) > 1 else ([], None)
        self._up_pairs, self._low_pairs = up, low
        return sorted(set(up) | set(low))

    def _advance(self, items: list[int], winners: bool) -> list[int]:
        if len(items) <= 1:
            return items
        pairs, bye = (self._up_pairs, self._up_bye) if winners else (self._low_pairs, self._low_bye)
        out = [(i if self.beats(i, j) else j) if winners else (j if self.beats(i, j) else i) for i, j in pairs]
        return out + ([bye] if bye is not None else [])

    def _refine(self) -> list[Pair]:
        if self.used >= self.budget:
            self.stage = "done"
            return []
        from .bt import fit_bt

        s, _ = fit_bt(self.n, self.bt_outcomes())
        ranked = sorted(range(self.n), key=lambda k: -s[k])
        picks: list[Pair] = []
        for anchor, others in ((ranked[0], ranked[1:]), (ranked[-1], list(reversed(ranked[:-1])))):
            new = next(((min(anchor, o), max(anchor, o)) for o in others
                        if (min(anchor, o), max(anchor, o)) not in self.outcomes), None)
            if new is not None and new not in picks and self.used + len(picks) < self.budget:
                picks.append(new)
        if not picks:
            self.stage = "done"
        return picks


class Adaptive(_Base):
    """Random matching, then each round the one comparison that makes the best and worst most certain.

    Before each round, ``samples`` completions of the full round robin are drawn: strengths from
    the Bradley-Terry fit (estimate and covariance), and for every comparison not made yet the
    share of ``m`` verdicts won, Binomial(m, P(i beats j)) / m, with m the usual number of
    verdicts per comparison. Each completion names a best and a worst answer (by total score,
    which orders a complete round robin as Bradley-Terry does). The comparison chosen is the
    one whose outcome, once known, leaves the most probable (best, worst) pair most probable on
    average: ``sum over outcomes v of max_k #{samples with X_q = v and (best, worst) = k} / samples``.
    """

    def __init__(self, n: int, seed: int = 0, key: str = "", budget: int | None = None, samples: int = 2048):
        super().__init__(n, seed, key)
        import numpy as np

        self.budget = 2 * n if budget is None else budget
        self.samples = samples
        self.stage = "start"
        self.all_pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
        inc_i, inc_j = np.zeros((len(self.all_pairs), n)), np.zeros((len(self.all_pairs), n))
        for q, (i, j) in enumerate(self.all_pairs):
            inc_i[q, i] = inc_j[q, j] = 1.0
        self._inc = (inc_i, inc_j)
        self._np = np.random.default_rng(self.rng.getrandbits(63))

    def next_pairs(self) -> list[Pair]:
        if self.stage == "start":
            self.stage = "adapt"
            order = list(range(self.n))
            self.rng.shuffle(order)
            return _pairs(order)[0]
        if self.stage == "done" or len(self.outcomes) >= min(self.budget, len(self.all_pairs)):
            self.stage = "done"
            return []
        q = self._query(*self._simulate())
        if q is None:
            self.stage = "done"
            return []
        return [self.all_pairs[q]]

    def _simulate(self):
        """(sampled outcomes, shape samples x pairs; (best, worst) code of each sample)."""
        import numpy as np

        from .bt import fit_bt_cov

        obs = self.bt_outcomes()
        s, cov = fit_bt_cov(self.n, obs)
        m = max(1, int(np.median([o[3] for o in obs]))) if obs else 1
        draw = self._np.multivariate_normal(s, cov, size=self.samples, method="eigh")
        ii, jj = (np.array(x) for x in zip(*self.all_pairs))
        p = 1.0 / (1.0 + np.exp(-(draw[:, ii] - draw[:, jj])))
        x = self._np.binomial(m, p) / m
        for q, pair in enumerate(self.all_pairs):
            if pair in self.outcomes and self.outcomes[pair][0] is not None:
                x[:, q] = self.outcomes[pair][0]
        score = x @ self._inc[0] + (1.0 - x) @ self._inc[1]
        return x, score.argmax(1) * self.n + score.argmin(1)

    def _query(self, x, codes) -> int | None:
        import numpy as np

        best, best_q = -1.0, None
        for q, pair in enumerate(self.all_pairs):
            if pair in self.outcomes:
                continue
            conf = sum(np.bincount(codes[x[:, q] == v]).max() for v in np.unique(x[:, q])) / len(codes)
            if conf > best:
                best, best_q = conf, q
        return best_q


def phase_one_cost(n: int) -> int:
    """Comparisons the max-min tournament needs before refinement (3N/2 - 2 for even N).

    >>> [phase_one_cost(n) for n in (2, 3, 4, 8, 9)]
    [1, 3, 4, 10, 12]
    """
    if n < 2:
        return 0
    half, odd = divmod(n, 2)
    upper = half + odd
    return half + 2 * (upper - 1)
