"""RankResult: per-pair outcomes plus the judgments table they came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prefjudge.io import none_for_missing, str_labels, text_as_objects
from prefjudge.types import OUTCOME_COLUMNS, RESULT_COLUMNS

if TYPE_CHECKING:
    import datasets
    import pandas as pd


@dataclass
class RankResult:
    """What ``rank_pairs`` returns (and ``aggregate`` rebuilds from recorded judgments).

    ``pairs``: one row per input pair (id, prompt, response_a, response_b, system, model_a,
    model_b, human, identical, plus any extra input columns).
    ``judgments``: the judgments table, one row per judge call.
    ``outcomes``: per-pair aggregate indexed by pair id (see :mod:`prefjudge.aggregation.jury`).
    ``meta``: provenance (judges, template hashes, order mode, seed, aggregation rule...).
    """

    pairs: pd.DataFrame
    judgments: pd.DataFrame
    outcomes: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    def to_pandas(self) -> pd.DataFrame:
        """One row per pair with the columns of :data:`prefjudge.types.RESULT_COLUMNS`.

        Failures are None (never NaN): winner, chosen, rejected, p_a, consistent, reason and every
        text column have object dtype."""
        out = str_labels(self.pairs).copy()
        oc = self.outcomes.reindex(out["id"])
        for col in OUTCOME_COLUMNS:
            out[col] = oc[col].to_numpy() if col in oc else None
        for col in self.outcomes.columns:
            if col not in OUTCOME_COLUMNS:
                out[col] = oc[col].to_numpy()
        ident = out.get("identical")
        if ident is not None:
            out.loc[ident.astype(bool), "reason"] = "identical responses (not sent to a judge)"
        w = out["winner"]
        out["chosen"] = [ra if x == "a" else rb if x == "b" else None for x, ra, rb in zip(w, out["response_a"], out["response_b"])]
        out["rejected"] = [rb if x == "a" else ra if x == "b" else None for x, ra, rb in zip(w, out["response_a"], out["response_b"])]
        out["n_verdicts"] = out["n_verdicts"].fillna(0).astype(int)
        out["n_failed"] = out["n_failed"].fillna(0).astype(int)
        for col in ("winner", "p_a", "consistent", "reason", "chosen", "rejected"):
            out[col] = none_for_missing(out[col])
        text_as_objects(out)  # every text column: None for missing, whatever dtype pandas inferred
        rest = [c for c in out.columns if c not in RESULT_COLUMNS]
        return out[list(RESULT_COLUMNS) + rest].reset_index(drop=True)

    def to_dataset(self) -> datasets.Dataset:
        import datasets

        return datasets.Dataset.from_pandas(self.to_pandas(), preserve_index=False)

    def __len__(self) -> int:
        return len(self.pairs)

    def __repr__(self) -> str:
        n_calls = len(self.judgments)
        failed = int(self.judgments["winner"].isna().sum()) if n_calls else 0
        return f"RankResult({len(self.pairs)} pairs, {n_calls} judgments, {failed} failed)"
