"""Which pairs a person should look at: the contested, the inconsistent, and a seeded random sample.

Pure: a judgments table (or a RankResult) in, a table of selected pairs out; no Label Studio here.

- *contested*: the judges disagree (a pair's votes split: agreement share below 1, the statistic of
  the audit's ``contested`` list), the jury's verdict is a tie, or its ``p_a`` is within ``close`` of
  0.5. Most contested first: lowest agreement, then ``p_a`` nearest 0.5, then most votes.
- *inconsistent*: a judge changed its verdict when the display order was swapped (or the outcome
  says ``consistent == False``). Most judges that flipped first. Pairs already picked as contested
  are skipped, so the two groups are distinct.
- *random*: ``n_random`` pairs drawn with ``numpy.random.default_rng(seed)`` from every reviewable
  pair, whatever the other groups hold: human agreement on this group alone estimates agreement on
  the whole data set without the bias of the other two.
- *chosen*: the ids the caller names.

A pair picked by several groups is one task, tagged with each (``selected_because``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from prefjudge.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from prefjudge.aggregation.jury import RuleName

#: The groups a pair can be selected by, in the order they are filled.
REASONS: tuple[str, ...] = ("chosen", "contested", "inconsistent", "random")
#: Columns of :func:`select_pairs`'s table.
SELECTION_COLUMNS: tuple[str, ...] = (
    "pair_id", "prompt", "response_a", "response_b", "selected_because", "why",
    "n_votes", "votes_a", "votes_b", "votes_tie", "agreement", "n_inconsistent_judges", "winner", "p_a",
)


def _count(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"must be a whole number >= 0, not {value!r}", field=field)
    return value


def select_pairs(
    data: Any,
    *,
    n_contested: int = 20,
    n_inconsistent: int = 20,
    n_random: int = 20,
    pair_ids: Sequence[str] = (),
    seed: int = 0,
    aggregate: RuleName | Callable[..., Any] = "majority",
    close: float = 0.1,
) -> pd.DataFrame:
    """The pairs to send for review, one row each (columns :data:`SELECTION_COLUMNS`).

    ``data``: a RankResult, or a judgments table in any form :func:`prefjudge.audit` reads; the
    pairs need their prompt and both responses (a pair without them cannot be shown and is never
    selected). Without recorded outcomes (a plain judgments table) the verdicts are aggregated with
    ``aggregate``. ``selected_because`` lists the groups that picked the pair (:data:`REASONS`),
    ``why`` says it in words (vote counts, flips, the jury's winner and p_a).
    """
    import numpy as np
    import pandas as pd

    from prefjudge.aggregation.agreement import agreement_share
    from prefjudge.aggregation.votes import collapse, encode, key_consistency, pair_table
    from prefjudge.audit.importers import load_input

    n_contested = _count(n_contested, "n_contested")
    n_inconsistent = _count(n_inconsistent, "n_inconsistent")
    n_random = _count(n_random, "n_random")
    if isinstance(pair_ids, str):
        raise InputError("must be a list of pair ids, not one string", field="pair_ids")
    if not 0 <= close <= 0.5:
        raise InputError(f"must be between 0 and 0.5, not {close!r}", field="close")

    inp = load_input(data)
    table = inp.table
    if table.empty:
        raise InputError("nothing to review: the judgments table is empty")
    outcomes = inp.outcomes
    if outcomes is None:
        from prefjudge.aggregation.jury import Jury

        outcomes = Jury(list(dict.fromkeys(table["judge"])), aggregate=aggregate).aggregate_table(table)

    enc = encode(table)
    votes = collapse(enc)
    counts = pair_table(votes, enc.n_pairs)
    n_votes = counts.sum(axis=1).astype(int)
    share = agreement_share(counts)
    both, same = key_consistency(enc, votes)
    flipped = np.bincount(votes.pair[both & ~same], minlength=enc.n_pairs)
    ids = np.array([str(p) for p in enc.pair_ids], dtype=object)
    oc = outcomes.reindex(pd.Index(ids))
    winner = np.array([w if w in ("a", "b", "tie") else None for w in oc["winner"].astype(object)], dtype=object)
    p_a = pd.to_numeric(oc["p_a"], errors="coerce").to_numpy(dtype=float) if "p_a" in oc else np.full(len(ids), np.nan)
    inconsistent_outcome = np.array([c is not None and not pd.isna(c) and not bool(c) for c in oc["consistent"]], dtype=bool) \
        if "consistent" in oc else np.zeros(len(ids), dtype=bool)

    first = table.iloc[enc.first_row]
    prompt = first["prompt"].to_numpy(dtype=object)
    resp_a = first["response_a"].to_numpy(dtype=object)
    resp_b = first["response_b"].to_numpy(dtype=object)
    reviewable = np.array([_shown(p) and isinstance(a, str) and isinstance(b, str)
                           for p, a, b in zip(prompt, resp_a, resp_b)], dtype=bool)
    if not reviewable.any():
        raise InputError("no pair has its prompt and both responses: a review shows them to a person "
                         "(pass a RankResult, or a judgments table with prompt, response_a and response_b)", field="response_a")

    index = {pid: i for i, pid in enumerate(ids)}
    picked: dict[int, list[str]] = {}

    def pick(i: int, reason: str) -> None:
        picked.setdefault(i, [])
        if reason not in picked[i]:
            picked[i].append(reason)

    for k, pid in enumerate(pair_ids):
        i = index.get(str(pid))
        if i is None:
            raise InputError(f"pair id {pid!r} is not in the data", row=k, field="pair_ids")
        if not reviewable[i]:
            raise InputError(f"pair {pid!r} lacks its prompt or a response, so it cannot be shown", row=k, field="pair_ids")
        pick(i, "chosen")

    order = np.arange(len(ids))
    agreement = np.where(np.isnan(share), 1.0, share)
    nearness = np.where(np.isnan(p_a), 0.5, np.abs(p_a - 0.5))
    contested = reviewable & (((n_votes >= 2) & (agreement < 1.0)) | (winner == "tie") | (nearness <= close))
    cand = np.flatnonzero(contested)
    for i in cand[np.lexsort((order[cand], -n_votes[cand], nearness[cand], agreement[cand]))][:n_contested]:
        pick(int(i), "contested")

    taken = np.array([i in picked and "contested" in picked[i] for i in range(len(ids))], dtype=bool)
    flips = reviewable & ((flipped > 0) | inconsistent_outcome) & ~taken
    cand = np.flatnonzero(flips)
    for i in cand[np.lexsort((order[cand], agreement[cand], -flipped[cand]))][:n_inconsistent]:
        pick(int(i), "inconsistent")

    pool = np.flatnonzero(reviewable)
    if n_random and len(pool):
        draw = np.random.default_rng(seed).choice(pool, size=min(n_random, len(pool)), replace=False)
        for i in sorted(int(x) for x in draw):
            pick(i, "random")

    rows = []
    arrival = {i: k for k, i in enumerate(picked)}
    for i in sorted(picked, key=lambda i: (min(REASONS.index(r) for r in picked[i]), arrival[i])):
        reasons = sorted(picked[i], key=REASONS.index)
        rows.append({
            "pair_id": ids[i], "prompt": prompt[i], "response_a": resp_a[i], "response_b": resp_b[i],
            "selected_because": reasons,
            "why": _why(reasons, counts[i], share[i], int(flipped[i]), winner[i], p_a[i], seed),
            "n_votes": int(n_votes[i]), "votes_a": int(counts[i, 0]), "votes_b": int(counts[i, 1]), "votes_tie": int(counts[i, 2]),
            "agreement": None if np.isnan(share[i]) else float(share[i]), "n_inconsistent_judges": int(flipped[i]),
            "winner": winner[i], "p_a": None if np.isnan(p_a[i]) else float(p_a[i]),
        })
    return pd.DataFrame(rows, columns=list(SELECTION_COLUMNS))


def _shown(prompt: Any) -> bool:
    """A prompt a person can read: text, or a list of chat messages."""
    if isinstance(prompt, str):
        return True
    if hasattr(prompt, "tolist"):
        prompt = prompt.tolist()
    return isinstance(prompt, list) and bool(prompt)


def _why(reasons: list[str], counts: Any, share: float, flipped: int, winner: str | None, p_a: float, seed: int) -> str:
    """The reasons in words, e.g. ``contested: the judges' votes split a 2, b 1, tie 0 (agreement 0.67); ...``."""
    import math

    facts = []
    if counts.sum() >= 1:
        facts.append(f"the judges' votes: a {int(counts[0])}, b {int(counts[1])}, tie {int(counts[2])}"
                     + ("" if math.isnan(share) else f" (agreement {share:.2f})"))
    if flipped:
        facts.append(f"{flipped} judge{'s' if flipped > 1 else ''} changed verdict when the display order was swapped")
    if winner is not None or not math.isnan(p_a):
        facts.append(f"jury winner {winner or 'none'}" + ("" if math.isnan(p_a) else f", p_a {p_a:.2f}"))
    if "random" in reasons:
        facts.append(f"in the random sample (seed {seed})")
    if "chosen" in reasons:
        facts.append("chosen by the caller")
    return ", ".join(reasons) + ": " + "; ".join(facts)
