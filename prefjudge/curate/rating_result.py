"""RatingResult: what :func:`prefjudge.rate` returns: every rating, the per-answer scores, provenance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from prefjudge.audit.ratings import RatingAudit

SCORE_COLUMNS: tuple[str, ...] = ("id", "prompt_id", "prompt", "system", "response", "model", "reference", "score",
                                  "n_judges", "n_failed", "aspects")


@dataclass(eq=False)
class RatingResult:
    """The ratings of one :func:`~prefjudge.curate.rating.rate` run.

    ``ratings``: one row per (answer, judge) (:data:`prefjudge.curate.rating.RATING_COLUMNS`: the
    answer's ``id``, ``prompt_id``, prompt, response, ``model``; ``judge``, ``judge_family``, ``kind``
    (``llm`` or ``reward``), ``score`` (None when it could not be read, ``error`` says why),
    ``aspects``, ``raw`` (the judge's text), tokens, ``cost_usd``, ``cached``).
    ``items``: one row per answer. ``meta``: judges, template and its sha256, scale, seed, calls made.
    """

    ratings: pd.DataFrame
    items: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)
    _scores: pd.DataFrame | None = field(default=None, init=False, repr=False)

    @property
    def scores(self) -> pd.DataFrame:
        """One row per answer: ``score`` = the mean over the judges that gave one (when reward models
        and other judges are mixed, the mean of per-judge z-scores: their scales differ), ``n_judges``
        (scores read), ``n_failed``, ``aspects`` (per-aspect means, aspect templates)."""
        if self._scores is None:
            self._scores = _per_answer(self.ratings, self.items, standardize="z-score" in str(self.meta.get("score")))
        return self._scores

    def to_pandas(self) -> pd.DataFrame:
        """The per-answer scores (:attr:`scores`), a copy."""
        return self.scores.copy()

    def audit(self, *, seed: int | None = None) -> RatingAudit:
        """The ratings audit (:func:`prefjudge.audit.ratings.audit_ratings`): length bias, scale use,
        agreement between raters, self-preference. ``.to_dict()`` and ``.to_markdown()``."""
        from prefjudge.audit.ratings import audit_ratings

        scale = self.meta.get("scale") or None
        return audit_ratings(self.ratings, scale=tuple(scale) if scale else None,
                             seed=self.meta.get("seed", 0) if seed is None else seed, meta=self.meta)

    def preference_rows(self) -> pd.DataFrame:
        """The working table of ``to_preferences``: one pair per prompt by
        :func:`prefjudge.curate.from_ratings.ratings_to_preferences` with its defaults (rejected =
        lowest, the run's seed). ``to_preferences(result)`` calls it."""
        from prefjudge.curate.from_ratings import ratings_to_preferences
        from prefjudge.curate.inputs import from_preference_table

        return from_preference_table(ratings_to_preferences(self, seed=int(self.meta.get("seed", 0))))

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        failed = int(self.ratings["score"].isna().sum()) if len(self.ratings) else 0
        return (f"RatingResult({len(self.items)} answers, {self.ratings['judge'].nunique() if len(self.ratings) else 0} "
                f"judge(s), {len(self.ratings)} ratings, {failed} failed, template={self.meta.get('template')!r})")


def _per_answer(ratings: pd.DataFrame, items: pd.DataFrame, standardize: bool) -> pd.DataFrame:
    import pandas as pd

    ok = ratings[ratings["score"].notna()].copy()
    ok["value"] = ok["score"].astype(float)
    if standardize and len(ok):
        stats = ok.groupby("judge")["value"].agg(["mean", "std"])
        sd = ok["judge"].map(stats["std"]).fillna(0.0).astype(float)
        ok["value"] = ((ok["value"] - ok["judge"].map(stats["mean"]).astype(float)) / sd.where(sd > 0, 1.0))
    mean = ok.groupby("id", sort=False)["value"].mean()
    n_ok = ok.groupby("id", sort=False).size()
    n_all = ratings.groupby("id", sort=False).size()
    aspects: dict[str, dict[str, float]] = {}
    for rid, g in ok[ok["aspects"].notna()].groupby("id", sort=False):
        frame = pd.DataFrame(list(g["aspects"]))
        aspects[rid] = {k: float(v) for k, v in frame.mean().items()}
    out = items.copy()
    ids = out["id"]
    out["score"] = pd.Series([float(mean[i]) if i in mean.index else None for i in ids], dtype=object)
    out["n_judges"] = [int(n_ok.get(i, 0)) for i in ids]
    out["n_failed"] = [int(n_all.get(i, 0)) - int(n_ok.get(i, 0)) for i in ids]
    out["aspects"] = pd.Series([aspects.get(i) for i in ids], dtype=object)
    return out[list(SCORE_COLUMNS)].reset_index(drop=True)
