"""Per-pair aggregation of a judgments table. The default rule is a plain majority.

An aggregator is any function ``judgments DataFrame -> DataFrame indexed by pair_id`` with the
columns of :data:`OUTCOME_COLUMNS`; ``rank_pairs(aggregate=...)`` and juries accept one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

OUTCOME_COLUMNS = ("winner", "p_a", "n_verdicts", "n_failed", "consistent", "reason")
Aggregator = Callable[["pd.DataFrame"], "pd.DataFrame"]
_SCORE = {"a": 1.0, "b": 0.0, "tie": 0.5}


def verdict_scores(judgments: pd.DataFrame):
    """p_a of each row: the soft p_a when present, else 1 / 0 / 0.5 from the winner; NaN if failed."""
    import numpy as np

    hard = judgments["winner"].map(_SCORE).astype(float)
    soft = judgments["p_a"].astype(float) if "p_a" in judgments else hard * np.nan
    return soft.where(soft.notna() & judgments["winner"].notna(), hard)


def consistency(judgments: pd.DataFrame) -> pd.Series:
    """Per pair: True when every judge that saw both orders gave equal verdicts in both, else False.

    None (missing) for pairs no judge saw in both orders with both verdicts parsed.
    """
    import pandas as pd

    ok = judgments[judgments["winner"].notna() & judgments["order"].notna()]
    if ok.empty:
        return pd.Series(dtype=object)
    per = ok.groupby(["pair_id", "judge"]).agg(orders=("order", "nunique"), winners=("winner", "nunique"))
    per = per[per["orders"] == 2]
    return (per["winners"] == 1).groupby(level="pair_id").all().astype(object)


def majority(judgments: pd.DataFrame) -> pd.DataFrame:
    """Majority of parsed verdicts per pair (a tie counts as its own vote; a split is a tie).

    ``p_a`` is the mean preference for a over parsed verdicts (a tie counts 0.5).
    """
    import pandas as pd

    df = judgments.assign(_s=verdict_scores(judgments), _ok=judgments["winner"].notna())
    g = df.groupby("pair_id", sort=False)
    n_ok = g["_ok"].sum().astype(int)
    n_all = g.size()
    counts = df[df["_ok"]].groupby(["pair_id", "winner"]).size().unstack(fill_value=0)
    for w in ("a", "b", "tie"):
        if w not in counts:
            counts[w] = 0
    counts = counts.reindex(n_all.index, fill_value=0)
    best = counts[["a", "b", "tie"]].max(axis=1)
    n_best = (counts[["a", "b", "tie"]].eq(best, axis=0)).sum(axis=1)
    winner = counts[["a", "b", "tie"]].idxmax(axis=1).where(n_best == 1, "tie").astype(object)
    winner = winner.where(n_ok > 0, None)
    out = pd.DataFrame(
        {
            "winner": winner,
            "p_a": g["_s"].mean().astype(object).where(n_ok > 0, None),
            "n_verdicts": n_ok,
            "n_failed": (n_all - n_ok).astype(int),
            "consistent": consistency(judgments).reindex(n_all.index).astype(object),
            "reason": pd.Series([None if k else "no parsed verdict" for k in n_ok], index=n_all.index, dtype=object),
        }
    )
    out["consistent"] = out["consistent"].where(out["consistent"].notna(), None)
    return out
