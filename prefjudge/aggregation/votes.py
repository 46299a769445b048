"""Integer-coded view of a judgments table, and each judge's vote on each pair.

Shared by the jury rules (:mod:`prefjudge.aggregation.rules`) and the audit (:mod:`prefjudge.audit`):
everything downstream is numpy on these codes, so one million judgments take well under a second.

A judge's *vote* on a pair combines all its calls on that pair (typically the two display
orders): the most frequent parsed verdict, a split being a tie (the MT-Bench convention for a
verdict that changes with the order). Its *score* is the mean preference for ``a`` over its
parsed calls (a=1, b=0, tie=0.5); its *soft score* uses ``p_a`` where the judge reported one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

#: Verdict classes, by code.
CLASSES: tuple[str, str, str] = ("a", "b", "tie")
A, B, TIE = 0, 1, 2
#: Score for ``a`` of each class code.
CLASS_SCORE = np.array([1.0, 0.0, 0.5])


def winner_codes(values) -> tuple[np.ndarray, np.ndarray]:
    """Map an array of ``"a"/"b"/"tie"/None`` to (codes int8, known bool); other values are unknown.

    >>> c, k = winner_codes(["a", None, "tie", "b"])
    >>> c.tolist(), k.tolist()
    ([0, 0, 2, 1], [True, False, True, True])
    """
    import pandas as pd

    codes = np.asarray(pd.Categorical(values, categories=list(CLASSES)).codes)
    known = codes >= 0
    return np.where(known, codes, 0).astype(np.int8), known


@dataclass
class Encoded:
    """The judgments table as arrays (one entry per row) plus pair-level first-row facts."""

    n_rows: int
    pair: np.ndarray  # int64 code of the row's pair
    pair_ids: np.ndarray  # object array: pair id of each code (first-appearance order)
    judge: np.ndarray  # int64 code of the row's judge
    judges: list[str]
    judge_family: list[str]
    parsed: np.ndarray  # bool: the row has a verdict
    w: np.ndarray  # int8 verdict code (valid where parsed)
    order_known: np.ndarray  # bool
    first_is_a: np.ndarray  # bool: display order "ab" (valid where order_known)
    soft: np.ndarray  # float: p_a where reported and parsed, else NaN
    first_row: np.ndarray  # int64 row index of each pair's first row

    @property
    def n_pairs(self) -> int:
        return len(self.pair_ids)

    @property
    def n_judges(self) -> int:
        return len(self.judges)

    def score(self) -> np.ndarray:
        """Hard score for ``a`` per row (1 / 0 / 0.5), NaN where the call failed."""
        return np.where(self.parsed, CLASS_SCORE[self.w], np.nan)


def encode(df: pd.DataFrame) -> Encoded:
    """Encode a normalized judgments table (see :func:`prefjudge.judgments.normalize_judgments`)."""
    import pandas as pd

    pair, pair_ids = pd.factorize(df["pair_id"], sort=False)
    judge, judges = pd.factorize(df["judge"], sort=False)
    w, parsed = winner_codes(df["winner"].to_numpy())
    order = np.asarray(pd.Categorical(df["order"], categories=["ab", "ba"]).codes)
    order_known = order >= 0
    first_is_a = order == 0
    soft = pd.to_numeric(df["p_a"], errors="coerce").to_numpy(dtype=float) if "p_a" in df else np.full(len(df), np.nan)
    soft = np.where(parsed, soft, np.nan)
    _, first_row = np.unique(pair, return_index=True)
    _, first_judge_row = np.unique(judge, return_index=True)
    fam = df["judge_family"].to_numpy(dtype=object)[first_judge_row] if "judge_family" in df else [None] * len(judges)
    return Encoded(
        n_rows=len(df), pair=pair.astype(np.int64), pair_ids=np.asarray(pair_ids, dtype=object),
        judge=judge.astype(np.int64), judges=[str(j) for j in judges], judge_family=[str(f) if f else "unknown" for f in fam],
        parsed=parsed, w=w, order_known=np.asarray(order_known, dtype=bool), first_is_a=np.asarray(first_is_a, dtype=bool),
        soft=soft, first_row=first_row.astype(np.int64),
    )


@dataclass
class Votes:
    """One entry per (pair, judge) that has at least one row; ``voted`` where one call parsed."""

    pair: np.ndarray
    judge: np.ndarray
    n_calls: np.ndarray
    n_parsed: np.ndarray
    counts: np.ndarray  # (K, 3) parsed verdicts per class
    verdict: np.ndarray  # int8 class code of the vote (valid where voted)
    score: np.ndarray  # hard mean score for a (NaN where not voted)
    soft: np.ndarray  # soft mean score for a (p_a where reported), NaN where not voted
    row_key: np.ndarray  # per row: index of its (pair, judge) entry

    @property
    def voted(self) -> np.ndarray:
        return self.n_parsed > 0


def collapse(enc: Encoded, keep: np.ndarray | None = None) -> Votes:
    """Each judge's vote on each pair from the rows selected by ``keep`` (default: all)."""
    rows = np.arange(enc.n_rows) if keep is None else np.flatnonzero(keep)
    key_full = enc.pair[rows] * max(enc.n_judges, 1) + enc.judge[rows]
    uniq, inv = np.unique(key_full, return_inverse=True)
    k = len(uniq)
    ok = enc.parsed[rows]
    counts = np.zeros((k, 3))
    for c in (A, B, TIE):
        counts[:, c] = np.bincount(inv, weights=(ok & (enc.w[rows] == c)).astype(float), minlength=k)
    n_parsed = counts.sum(axis=1)
    verdict = plurality(counts)
    hard = np.where(ok, CLASS_SCORE[enc.w[rows]], 0.0)
    sum_hard = np.bincount(inv, weights=hard, minlength=k)
    soft_row = np.where(ok, np.where(np.isnan(enc.soft[rows]), hard, enc.soft[rows]), 0.0)
    sum_soft = np.bincount(inv, weights=soft_row, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(n_parsed > 0, sum_hard / n_parsed, np.nan)
        soft = np.where(n_parsed > 0, sum_soft / n_parsed, np.nan)
    row_key = np.full(enc.n_rows, -1, dtype=np.int64)
    row_key[rows] = inv
    nj = max(enc.n_judges, 1)
    return Votes(
        pair=uniq // nj, judge=uniq % nj, n_calls=np.bincount(inv, minlength=k), n_parsed=n_parsed.astype(np.int64),
        counts=counts, verdict=verdict, score=score, soft=soft, row_key=row_key,
    )


def plurality(counts: np.ndarray, rtol: float = 1e-9) -> np.ndarray:
    """Class code with the largest count per row; a shared maximum (a split) is a tie.

    >>> plurality(np.array([[2, 1, 0], [1, 1, 0], [0, 0, 3], [1, 1, 1]])).tolist()
    [0, 2, 2, 2]
    """
    counts = np.asarray(counts, dtype=float)
    best = counts.max(axis=1, keepdims=True)
    n_best = np.isclose(counts, best, rtol=rtol, atol=1e-12).sum(axis=1)
    return np.where(n_best == 1, counts.argmax(axis=1), TIE).astype(np.int8)


def pair_table(votes: Votes, n_pairs: int) -> np.ndarray:
    """Class counts of the judges' votes per pair, shape (n_pairs, 3)."""
    v = votes.voted
    flat = votes.pair[v] * 3 + votes.verdict[v].astype(np.int64)
    return np.bincount(flat, minlength=n_pairs * 3).reshape(n_pairs, 3).astype(float)


def key_consistency(enc: Encoded, votes: Votes, keep: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per (pair, judge) entry: (saw both orders with parsed verdicts, all those verdicts equal)."""
    rows = enc.parsed & enc.order_known & (votes.row_key >= 0)
    if keep is not None:
        rows &= keep
    key = votes.row_key[rows]
    k = len(votes.pair)
    n_ab = np.bincount(key, weights=enc.first_is_a[rows].astype(float), minlength=k)
    n_ba = np.bincount(key, weights=(~enc.first_is_a[rows]).astype(float), minlength=k)
    present = np.zeros((k, 3), dtype=bool)
    for c in (A, B, TIE):
        present[:, c] = np.bincount(key, weights=(enc.w[rows] == c).astype(float), minlength=k) > 0
    return (n_ab > 0) & (n_ba > 0), present.sum(axis=1) == 1


def pair_consistency(votes: Votes, both: np.ndarray, same: np.ndarray, n_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """Per pair: (some judge saw both orders, every such judge was consistent)."""
    has = np.bincount(votes.pair[both], minlength=n_pairs) > 0
    broken = np.bincount(votes.pair[both & ~same], minlength=n_pairs) > 0
    return has, ~broken


def pair_human(values, enc: Encoded) -> tuple[np.ndarray, np.ndarray]:
    """First non-null human label per pair as (code, known); raises InputError on a bad label."""
    import pandas as pd

    from prefjudge.errors import InputError

    codes, known = winner_codes(values)
    arr = pd.Series(values)
    bad = np.flatnonzero(~known & arr.notna().to_numpy())
    if len(bad):
        raise InputError(f"human must be 'a', 'b', 'tie' or null, not {arr.iat[bad[0]]!r}", row=int(bad[0]), field="human")
    rows = np.flatnonzero(known)
    code = np.zeros(enc.n_pairs, dtype=np.int8)
    has = np.zeros(enc.n_pairs, dtype=bool)
    uniq, idx = np.unique(enc.pair[rows], return_index=True)
    code[uniq] = codes[rows[idx]]
    has[uniq] = True
    return code, has
