"""``to_pairs``: any loaded preference set as a/b pairs in random order, for re-judging and auditing.

The original label travels as ``human`` ("a" or "b": where the chosen answer landed), so
``audit(rank_pairs(to_pairs(ds), judges=...))`` reports how often the judges agree with it.
The side of each pair is drawn from a hash of (seed, pair id): reruns give the same layout and it
does not depend on the row order.

>>> pairs = to_pairs([{"prompt": "Q", "chosen": "good", "rejected": "bad"}], seed=0)
>>> row = pairs.iloc[0]
>>> (row["response_a"] if row["human"] == "a" else row["response_b"])
'good'
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from prefjudge.curate.inputs import from_preference_table

if TYPE_CHECKING:
    import pandas as pd

PAIR_COLUMNS = ("id", "prompt", "response_a", "response_b", "system", "model_a", "model_b", "human")


def chosen_goes_first(pair_id: str, seed: int) -> bool:
    """Seeded coin for one pair: True puts the chosen answer in slot a."""
    return hashlib.sha256(f"{seed}:{pair_id}".encode()).digest()[0] % 2 == 0


def to_pairs(data: Any, seed: int = 0) -> pd.DataFrame:
    """Pairs for ``rank_pairs`` (id, prompt, response_a, response_b, system, model_a, model_b, human).

    ``data``: a loaded preference set (Dataset, DataFrame, list of dicts, PreferenceSet) with
    prompt/chosen/rejected. Errors name the row and field of the first bad value.
    """
    import pandas as pd

    if hasattr(data, "dataset") and hasattr(data, "report"):
        data = data.dataset
    work = from_preference_table(data)
    rows = []
    for r in work.to_dict("records"):
        first = chosen_goes_first(r["id"], seed)
        a, b = (r["chosen"], r["rejected"]) if first else (r["rejected"], r["chosen"])
        ma, mb = (r["model_chosen"], r["model_rejected"]) if first else (r["model_rejected"], r["model_chosen"])
        rows.append({"id": r["id"], "prompt": r["prompt"], "response_a": a, "response_b": b, "system": r["system"],
                     "model_a": ma, "model_b": mb, "human": "a" if first else "b"})
    return pd.DataFrame(rows, columns=list(PAIR_COLUMNS), dtype=object)
