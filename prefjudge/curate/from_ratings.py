"""Ratings to preference pairs: one pair per prompt, chosen = the best-scored answer.

The rules are UltraFeedback's binarization (``HuggingFaceH4/ultrafeedback_binarized``, later
versions): chosen is the answer with the highest score (the mean over judges, and over aspects for
an aspect template); rejected is the lowest-scored answer (``rejected="lowest"``) or one drawn at
random among the answers scored *strictly* lower than chosen (``rejected="random"``). Ties never
make a pair: a prompt whose rated answers all share one score is dropped. When several answers
share the top (or, for ``"lowest"``, the bottom) score, one of them is drawn. Every draw comes from
an RNG seeded by (``seed``, prompt id), so a rerun, or the same prompt in another run, draws the
same answers.

``margin`` is the score gap (chosen minus rejected, in the judges' units: 1-10 for ``single``);
``agreement`` is the share of the judges that rated both answers who scored chosen strictly
higher. The output is a preference table that ``to_preferences`` accepts as it is.
"""

from __future__ import annotations

import hashlib
import random
from typing import TYPE_CHECKING, Literal

from prefjudge.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from prefjudge.curate.rating_result import RatingResult

Rejected = Literal["lowest", "random"]
#: Columns of :func:`ratings_to_preferences`' table, in order.
PREFERENCE_COLUMNS: tuple[str, ...] = (
    "id", "prompt", "system", "chosen", "rejected", "margin", "agreement", "judges", "model_chosen", "model_rejected",
    "score_chosen", "score_rejected", "chosen_id", "rejected_id", "n_candidates", "n_rated",
)


def _rng(seed: int, prompt_id: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}\x1f{prompt_id}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _evidence(ratings: pd.DataFrame | None, chosen: str, rejected: str) -> tuple[float | None, list[str]]:
    """(share of the judges who rated both that scored chosen higher, those judges)."""
    if ratings is None or not len(ratings):
        return None, []
    ok = ratings[ratings["score"].notna() & ratings["id"].isin([chosen, rejected])]
    by_judge = ok.pivot_table(index="judge", columns="id", values="score", aggfunc="first")
    if chosen not in by_judge.columns or rejected not in by_judge.columns:
        return None, []
    both = by_judge[[chosen, rejected]].dropna()
    if not len(both):
        return None, []
    return float((both[chosen].astype(float) > both[rejected].astype(float)).mean()), sorted(map(str, both.index))


def ratings_to_preferences(result: RatingResult | pd.DataFrame, *, rejected: Rejected = "lowest",
                           min_margin: float | None = None, seed: int = 0) -> pd.DataFrame:
    """One preference row per prompt from per-answer scores (see the module docstring for the rules).

    ``result``: a :class:`~prefjudge.curate.rating_result.RatingResult`, or a per-answer table with
    ``id``, ``prompt_id``, ``prompt``, ``response``, ``score`` (optional ``system``, ``model``).
    ``rejected``: ``"lowest"`` or ``"random"`` (among the answers scored strictly lower than chosen).
    ``min_margin``: drop pairs whose score gap is below it.

    Prompts that make no pair are counted in ``df.attrs["dropped"]``: ``unrated`` (answers without a
    score, left out first), ``fewer_than_two`` (prompts with under two rated answers), ``ties`` (all
    rated answers scored the same), ``min_margin``.
    """
    import pandas as pd

    if rejected not in ("lowest", "random"):
        raise InputError(f"rejected must be 'lowest' or 'random', not {rejected!r}", field="rejected")
    if min_margin is not None and (isinstance(min_margin, bool) or not isinstance(min_margin, (int, float))):
        raise InputError(f"min_margin must be a number, not {min_margin!r}", field="min_margin")
    scores = result.scores if hasattr(result, "scores") else result
    ratings = getattr(result, "ratings", None)
    missing = [c for c in ("id", "prompt_id", "prompt", "response", "score") if c not in scores.columns]
    if missing:
        raise InputError(f"the scores table lacks {missing}", field=missing[0])
    dropped = {"unrated": int(scores["score"].isna().sum()), "fewer_than_two": 0, "ties": 0, "min_margin": 0}
    rows = []
    for pid, g in scores.groupby(scores["prompt_id"].astype(str), sort=False):
        rated = g[g["score"].notna()]
        if len(rated) < 2:
            dropped["fewer_than_two"] += 1
            continue
        values = rated["score"].astype(float)
        top = values.max()
        rng = _rng(seed, pid)
        best = rated[values == top]
        chosen = best.iloc[rng.randrange(len(best))]
        lower = rated[values < top]
        if not len(lower):
            dropped["ties"] += 1
            continue
        if rejected == "lowest":
            bottom = lower[lower["score"].astype(float) == lower["score"].astype(float).min()]
            worse = bottom.iloc[rng.randrange(len(bottom))]
        else:
            worse = lower.iloc[rng.randrange(len(lower))]
        margin = float(chosen["score"]) - float(worse["score"])
        if min_margin is not None and margin < min_margin:
            dropped["min_margin"] += 1
            continue
        agreement, judges = _evidence(ratings, str(chosen["id"]), str(worse["id"]))
        rows.append({"id": pid, "prompt": chosen["prompt"], "system": chosen.get("system"),
                     "chosen": chosen["response"], "rejected": worse["response"], "margin": margin,
                     "agreement": agreement, "judges": judges, "model_chosen": chosen.get("model"),
                     "model_rejected": worse.get("model"), "score_chosen": float(chosen["score"]),
                     "score_rejected": float(worse["score"]), "chosen_id": str(chosen["id"]),
                     "rejected_id": str(worse["id"]), "n_candidates": len(g), "n_rated": len(rated)})
    out = pd.DataFrame(rows, columns=list(PREFERENCE_COLUMNS), dtype=object)
    out.attrs["dropped"] = dropped
    out.attrs["rules"] = {"chosen": "highest score", "rejected": rejected, "ties": "dropped",
                          "min_margin": min_margin, "seed": seed}
    return out

