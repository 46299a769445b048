"""``order="adaptive"``: one call per judge and pair, the second display order only where the first
verdict could be a position artefact and the pair's decision could still change.

1. A seeded calibration sample (``CALIBRATION_SHARE`` of the pairs, at least ``MIN_CALIBRATION``) is
   judged in both orders by every judge; from it, each judge's position bias: the share of its
   decided (non-tie) verdicts that picked the answer shown first, with a Wilson 95% interval. A
   judge *favours* a position when the interval excludes 50%.
2. Every other pair gets one call per judge in the seeded random order of ``order="random"``.
3. A (judge, pair) is flagged for the other order when the first verdict
   - failed or was unreadable (``failed``),
   - is a tie (``tie``),
   - is soft and near 0.5: ``|p_a - 0.5| < SOFT_MARGIN`` (``uncertain``),
   - picked the position this judge favours (``position``), or
   - disagrees with the majority of the other judges' first verdicts on that pair (``jury``).
4. A flagged pair is asked again unless its decision cannot change: a judge's second call can only
   keep its vote or split it into a tie (as the ``majority`` rule counts a split), so when the
   majority over the judges' votes stays the same with every flagged vote turned into a tie (one at a
   time and all together), the pair is ``decided`` and no second call is made. A failed first call
   is always asked again.
Each decision is recorded (``RankResult.meta["adaptive"]``: the calibration, the counts per reason,
the decided pairs and, per pair and judge, why the second order was asked). Everything is seeded: a
rerun asks the same calls, so the store replays it.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from prefjudge.types import Judgment, Order

CALIBRATION_SHARE = 0.05
MIN_CALIBRATION = 20
SOFT_MARGIN = 0.1
Z95 = 1.959963984540054


def calibration_ids(pair_ids: Sequence[str], seed: int) -> set[str]:
    """The seeded calibration sample: the pairs whose hash with ``seed`` ranks lowest.

    >>> ids = [f"p{i}" for i in range(100)]
    >>> len(calibration_ids(ids, 0)), calibration_ids(ids, 0) == calibration_ids(list(reversed(ids)), 0)
    (20, True)
    """
    k = min(len(pair_ids), max(MIN_CALIBRATION, math.ceil(CALIBRATION_SHARE * len(pair_ids))))
    ranked = sorted(pair_ids, key=lambda pid: hashlib.sha256(f"calibration\x1f{seed}\x1f{pid}".encode()).digest())
    return set(ranked[:k])


def shown_first(j: Judgment) -> bool | None:
    """Did the verdict pick the answer shown first? None for a tie or a failure."""
    if j.winner not in ("a", "b"):
        return None
    return (j.winner == "a") == (j.order == "ab")


def wilson(k: int, n: int) -> tuple[float, float] | None:
    """Wilson 95% interval of k successes in n.

    >>> [round(x, 3) for x in wilson(8, 10)]
    [0.49, 0.943]
    """
    if n == 0:
        return None
    p = k / n
    denom = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denom
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def position_bias(calibration: list[Judgment]) -> dict[str, dict[str, Any]]:
    """Per judge: share of decided verdicts on the calibration pairs that picked the first-shown
    answer, its Wilson interval, and the favoured position ("first", "second" or None)."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for j in calibration:
        first = shown_first(j)
        if first is not None:
            counts[j.judge][0] += first
            counts[j.judge][1] += 1
    out = {}
    for judge, (k, n) in counts.items():
        ci = wilson(k, n)
        favours = None if ci is None else "first" if ci[0] > 0.5 else "second" if ci[1] < 0.5 else None
        out[judge] = {"p_first": k / n if n else None, "ci": list(ci) if ci else None, "n": n, "favours": favours}
    return out


def second_order_reasons(first: list[Judgment], bias: dict[str, dict[str, Any]],
                         decided_pairs: list[str] | None = None) -> dict[tuple[str, str], str]:
    """(pair_id, judge) -> why the other order is asked, for the first calls that need it; the pairs
    whose flags were dropped because their decision cannot change are appended to ``decided_pairs``."""
    by_pair: dict[str, list[Judgment]] = defaultdict(list)
    for j in first:
        by_pair[j.pair_id].append(j)
    out: dict[tuple[str, str], str] = {}
    for pid, calls in by_pair.items():
        flagged = {}
        for j in calls:
            reason = _reason(j, calls, bias.get(j.judge, {}).get("favours"))
            if reason is not None:
                flagged[j.judge] = reason
        if not flagged:
            continue
        if "failed" in flagged.values() or not decided(calls, set(flagged)):
            out.update({(pid, name): reason for name, reason in flagged.items()})
        elif decided_pairs is not None:
            decided_pairs.append(pid)
    return out


def _reason(j: Judgment, calls: list[Judgment], favours: str | None) -> str | None:
    if j.winner is None:
        return "failed"
    if j.winner == "tie":
        return "tie"
    if j.p_a is not None and abs(j.p_a - 0.5) < SOFT_MARGIN:
        return "uncertain"
    first = shown_first(j)
    if favours is not None and first == (favours == "first"):
        return "position"
    others = Counter(c.winner for c in calls if c is not j and c.winner in ("a", "b"))
    if others and others.most_common(1)[0][0] != j.winner and others["a"] != others["b"]:
        return "jury"
    return None


def majority(votes: list[str | None]) -> str | None:
    """The majority over judges' votes (a, b or tie; None is no vote); a shared top count is a tie.

    >>> majority(["a", "a", "b"]), majority(["a", "b"]), majority([None])
    ('a', 'tie', None)
    """
    counts = Counter(v for v in votes if v is not None)
    if not counts:
        return None
    top = counts.most_common()
    return top[0][0] if len(top) == 1 or top[0][1] > top[1][1] else "tie"


def decided(calls: list[Judgment], flagged: set[str]) -> bool:
    """True when the pair's majority cannot change whatever the flagged judges' second calls say:
    each flagged vote turned into a tie, one at a time and all together, leaves it as it is.

    >>> calls = [Judgment(pair_id="p", prompt="q", response_a="x", response_b="y", judge=n, order="ab", winner=w)
    ...          for n, w in (("J", "a"), ("K", "a"), ("L", "a"))]
    >>> decided(calls, {"J"}), decided(calls, {"J", "K"})
    (True, False)
    """
    votes = {c.judge: c.winner for c in calls}
    now = majority(list(votes.values()))
    if now is None:
        return False
    variants = [{**votes, name: "tie"} for name in flagged] + [{**votes, **{n: "tie" for n in flagged}}]
    return all(majority(list(v.values())) == now for v in variants)


def other(order: Order) -> Order:
    return "ba" if order == "ab" else "ab"


def summary(n_pairs: int, n_judges: int, calibration: set[str], bias: dict, reasons: dict[tuple[str, str], str],
            n_calls: int, n_decided: int = 0, record_limit: int = 100_000) -> dict[str, Any]:
    """What ``meta["adaptive"]`` records."""
    decisions = [{"pair_id": p, "judge": j, "reason": r} for (p, j), r in reasons.items()]
    return {
        "calibration_pairs": len(calibration), "soft_margin": SOFT_MARGIN, "position": bias,
        "second_order": dict(Counter(reasons.values())), "n_second_order": len(reasons), "decided": n_decided,
        "calls_per_judge_pair": n_calls / (n_pairs * n_judges) if n_pairs and n_judges else None,
        "decisions": decisions[:record_limit], "decisions_truncated": len(decisions) > record_limit,
    }
