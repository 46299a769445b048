"""The aggregator contract (:data:`OUTCOME_COLUMNS`) and :func:`majority`, the default rule.

An aggregator is any function ``judgments DataFrame -> DataFrame indexed by pair_id`` with at
least ``winner`` and ``p_a`` (the other columns of :data:`OUTCOME_COLUMNS` are computed around it);
``rank_pairs(aggregate=...)`` and juries accept one, or a rule name (see :mod:`prefjudge.jury`).
The rules themselves live in :mod:`prefjudge.jury_rules`: there is one majority, not two.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

OUTCOME_COLUMNS = ("winner", "p_a", "n_verdicts", "n_failed", "consistent", "reason")


def majority(judgments: Any) -> pd.DataFrame:
    """The ``"majority"`` rule on a judgments table: ``Jury(<its judges>).aggregate_table(judgments)``.

    Each judge votes once per pair (its calls in both orders combined, a split being a tie), then
    the most frequent vote among the judges wins (a split is a tie). For every call as one vote use
    ``aggregate(judgments, "call_majority")``.
    """
    import pandas as pd

    from .jury import Jury, normalize

    table = normalize(judgments)
    if table.empty:
        return pd.DataFrame(columns=list(OUTCOME_COLUMNS)).rename_axis("pair_id")
    return Jury(list(dict.fromkeys(table["judge"]))).aggregate_table(table)
