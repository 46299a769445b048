"""Length balance: remove the "longer answer wins" confound from a preference set.

The share reported is AlpacaEval's convention: among pairs whose answers differ in length by more
than ``min_diff`` characters (30), the share whose chosen answer is the longer one. Pairs closer
in length are neutral and always kept.

- ``"equal"``: drop pairs from the larger side (chosen longer / chosen shorter) until both sides
  are the same size, so the share is 50%.
- ``"match"``: the same inside bins of ``|log(len_chosen / len_rejected)|`` (quantile bins), so
  the length-ratio distribution of chosen-longer pairs matches that of chosen-shorter pairs:
  neither the sign nor the size of the length difference predicts which answer was chosen.

Within a side, the pairs with the smallest margin go first (ties broken by a seeded shuffle), so
the most confident pairs stay.

>>> import pandas as pd
>>> df = pd.DataFrame({"chosen": ["x" * 100] * 3 + ["x"], "rejected": ["x"] * 3 + ["x" * 100]})
>>> share_longer(df)
(0.75, 4)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

from prefjudge.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from prefjudge.curate.report import CurationReport

BalanceMode = Literal["equal", "match"]


def share_longer(df: pd.DataFrame, min_diff: int = 30) -> tuple[float | None, int]:
    """(share of pairs whose chosen answer is longer, number of pairs it rests on)."""
    diff = df["chosen"].str.len() - df["rejected"].str.len()
    decisive = diff.abs() > min_diff
    n = int(decisive.sum())
    return (float((diff[decisive] > 0).mean()) if n else None), n


def balance_lengths(df: pd.DataFrame, report: CurationReport, mode: BalanceMode = "match", *, min_diff: int = 30,
                    bins: int = 10, seed: int = 0) -> pd.DataFrame:
    """Drop pairs so that chosen-longer and chosen-shorter pairs are equally many (per ratio bin for "match")."""
    import numpy as np
    import pandas as pd

    if mode not in ("equal", "match"):
        raise InputError(f"length_balance must be 'equal', 'match' or None, not {mode!r}", field="length_balance")
    before, n_before = share_longer(df, min_diff)
    lc, lr = df["chosen"].str.len().to_numpy(), df["rejected"].str.len().to_numpy()
    decisive = np.abs(lc - lr) > min_diff
    sign = np.sign(lc - lr)
    logr = np.abs(np.log(np.maximum(lc, 1) / np.maximum(lr, 1)))
    group = _bins(logr, decisive, bins if mode == "match" else 1)
    drop = np.zeros(len(df), dtype=bool)
    rank = _drop_priority(df, seed)
    for g in np.unique(group[decisive]):
        longer = np.flatnonzero(decisive & (group == g) & (sign > 0))
        shorter = np.flatnonzero(decisive & (group == g) & (sign < 0))
        big, small = (longer, shorter) if len(longer) > len(shorter) else (shorter, longer)
        excess = len(big) - len(small)
        drop[sorted(big, key=lambda i: rank[i])[:excess]] = True
    out = report.record(f"length_balance:{mode}", _reason(mode), df, pd.Series(drop), min_diff=min_diff)
    after, n_after = share_longer(out, min_diff)
    report.length_balance = {"mode": mode, "before": before, "n_before": n_before, "after": after, "n_after": n_after,
                             "min_diff": min_diff}
    return out


def _reason(mode: str) -> str:
    if mode == "equal":
        return "dropped to make chosen-longer and chosen-shorter pairs equally many"
    return "dropped to make chosen-longer and chosen-shorter pairs equally many in each length-ratio bin"


def _bins(logr, decisive, bins: int):
    """Quantile bin of each decisive pair's |log length ratio| (0 for everything when bins == 1)."""
    import numpy as np

    group = np.zeros(len(logr), dtype=int)
    if bins <= 1 or decisive.sum() < 2:
        return group
    k = max(1, min(bins, int(math.sqrt(decisive.sum()))))
    edges = np.unique(np.quantile(logr[decisive], np.linspace(0, 1, k + 1)[1:-1]))
    group[decisive] = np.searchsorted(edges, logr[decisive], side="right")
    return group


def _drop_priority(df: pd.DataFrame, seed: int) -> list[tuple[float, float]]:
    """Sort key per row: smaller margin first, then a seeded random tie-break."""
    import numpy as np

    rng = np.random.default_rng(seed)
    noise = rng.random(len(df))
    margins = df["margin"] if "margin" in df else [None] * len(df)
    return [(m if m is not None and m == m else 0.0, float(u)) for m, u in zip(margins, noise)]
