"""From comparisons to strengths, to the best and worst answer of each prompt, to preference rows.

Candidates are ranked by Bradley-Terry strength; exact ties (equal strengths, e.g. equal total
scores in a round robin) by a priority seeded with the prompt id
(:func:`~prefjudge.stats.posterior.tie_priority`). When every pair of a prompt was compared, the
best and worst are rank 1 and rank N. Otherwise they are the answers a full round robin would most
probably pick, given the comparisons made (``p_best``, ``p_worst``: see
:mod:`prefjudge.stats.posterior`); with few comparisons these can differ from the strength order,
which weighs a win by the opponent's estimated strength rather than by what the round robin would see.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prefjudge.formatting.rows import WORK_COLUMNS
from prefjudge.mathutil import sigmoid

if TYPE_CHECKING:
    import pandas as pd

    from prefjudge.curate.candidates import Group
    from prefjudge.curate.ranking import ResponseRanking

CANDIDATE_COLUMNS = ("prompt_id", "candidate_id", "candidate", "prompt", "system", "response", "model",
                     "strength", "se", "rank", "comparisons", "p_best", "p_worst", "selected")


def _outcomes_by_prompt(pairs: pd.DataFrame, outcomes: pd.DataFrame) -> dict[str, list[tuple[int, int, float, float]]]:
    by: dict[str, list[tuple[int, int, float, float]]] = {}
    for r in pairs.to_dict("records"):
        oc = outcomes.loc[r["id"]] if r["id"] in outcomes.index else None
        p = None if oc is None else oc["p_a"]
        if p is None or p != p:
            continue
        by.setdefault(r["prompt_id"], []).append((int(r["cand_a"]), int(r["cand_b"]), float(p), float(oc["n_verdicts"])))
    return by


def candidate_table(groups: list[Group], pairs: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """One row per candidate: strength, standard error, rank (1 = best), comparisons, p_best, p_worst.

    ``p_best`` (``p_worst``): the probability that a full round robin ranks the candidate first
    (last), given the comparisons made; 1 or 0 when every pair was compared.
    """
    import pandas as pd

    from prefjudge.stats.bt import fit_bt

    by = _outcomes_by_prompt(pairs, outcomes)
    count = pairs.groupby("prompt_id")[["cand_a", "cand_b"]].agg(list) if len(pairs) else None
    rows = []
    for g in groups:
        n, obs = len(g.responses), by.get(g.prompt_id, [])
        s, se = fit_bt(n, obs)
        order = strength_order(s, g.prompt_id)
        joint = _extreme_probabilities(n, obs, order, g.prompt_id)
        p_best, p_worst = joint.sum(axis=1), joint.sum(axis=0)
        best, worst = _mode(joint, order)
        met = _met_counts(count, g)
        for k, text in enumerate(g.responses):
            rows.append({"prompt_id": g.prompt_id, "candidate_id": g.candidate_ids[k], "candidate": k, "prompt": g.prompt,
                         "system": g.system, "response": text, "model": g.models[k], "strength": float(s[k]),
                         "se": float(se[k]), "rank": order.index(k) + 1, "comparisons": met.get(k, 0),
                         "p_best": float(p_best[k]), "p_worst": float(p_worst[k]),
                         "selected": "best" if k == best else "worst" if k == worst else None})
    return pd.DataFrame(rows, columns=list(CANDIDATE_COLUMNS))


def strength_order(s: Any, key: str) -> list[int]:
    """Candidate indices from strongest to weakest; exact ties by the seeded priority of ``key``.

    >>> strength_order([0.5, 0.5, -1.0], "p") in ([0, 1, 2], [1, 0, 2])
    True
    """
    from prefjudge.stats.posterior import TIE_TOL, tie_priority

    priority = tie_priority(len(s), key)
    tied: list[list[int]] = []
    for k in sorted(range(len(s)), key=lambda k: -s[k]):
        if tied and s[tied[-1][-1]] - s[k] <= TIE_TOL:
            tied[-1].append(k)
        else:
            tied.append([k])
    return [k for group in tied for k in sorted(group, key=lambda k: -priority[k])]


def _extreme_probabilities(n: int, obs: list[tuple[int, int, float, float]], order: list[int], key: str) -> Any:
    """P(full round robin picks best = b, worst = w): one-hot on the ranking's ends when every pair was compared."""
    import numpy as np

    joint = np.zeros((n, n))
    if len({(i, j) for i, j, _, w in obs if w > 0}) == n * (n - 1) // 2:
        joint[order[0], order[-1]] = 1.0
        return joint
    from prefjudge.stats.posterior import extreme_probabilities

    return extreme_probabilities(n, obs, key)


def _mode(joint: Any, order: list[int]) -> tuple[int, int]:
    """The most probable (best, worst); equal probabilities go to the stronger best, then the weaker worst."""
    rev = order[::-1]
    b, w = divmod(int(joint[order][:, rev].argmax()), len(order))
    return order[b], rev[w]


def _met_counts(count: Any, g: Group) -> dict[int, int]:
    if count is None or g.prompt_id not in count.index:
        return {}
    out: dict[int, int] = {}
    for k in list(count.loc[g.prompt_id, "cand_a"]) + list(count.loc[g.prompt_id, "cand_b"]):
        out[int(k)] = out.get(int(k), 0) + 1
    return out


def selection_table(cand: pd.DataFrame, pairs: pd.DataFrame, judgments: pd.DataFrame) -> pd.DataFrame:
    """Per prompt: best and worst candidate, comparisons and judge calls used.

    Best and worst: the most probable (best, worst) pair of a full round robin (the candidates
    marked ``selected``); with every pair compared, rank 1 and rank N.
    """
    import pandas as pd

    prompt_of = dict(zip(pairs["id"], pairs["prompt_id"])) if len(pairs) else {}
    calls = judgments["pair_id"].map(prompt_of).value_counts() if len(judgments) else pd.Series(dtype=int)
    comps = pairs["prompt_id"].value_counts() if len(pairs) else pd.Series(dtype=int)
    rows = []
    for pid, g in cand.groupby("prompt_id", sort=False):
        best = int(g.loc[g["selected"] == "best", "candidate"].iloc[0])
        worst = int(g.loc[g["selected"] == "worst", "candidate"].iloc[0])
        rows.append({"prompt_id": pid, "best": int(best), "worst": int(worst),
                     "n_candidates": len(g), "n_comparisons": int(comps.get(pid, 0)), "n_calls": int(calls.get(pid, 0))})
    return pd.DataFrame(rows, columns=["prompt_id", "best", "worst", "n_candidates", "n_comparisons", "n_calls"])


def preference_rows(ranking: ResponseRanking) -> pd.DataFrame:
    """The working table of ``to_preferences``: one row per prompt, chosen = best, rejected = worst.

    ``margin`` = 2 P(best beats worst) - 1 under the fitted strengths. ``agreement`` = share of the
    parsed verdicts, over every comparison that involved the best or the worst answer, that side
    with the candidate the strengths rank higher. ``consistent`` = every such comparison that was
    seen in both orders got the same verdicts (None when none was).
    """
    import pandas as pd

    cand = ranking.candidates.set_index(["prompt_id", "candidate"])
    rows = []
    for sel in ranking.selections.to_dict("records"):
        pid, b, w = sel["prompt_id"], sel["best"], sel["worst"]
        best, worst = cand.loc[(pid, b)], cand.loc[(pid, w)]
        agree, consistent, judges = _evidence(ranking, pid, {b, w}, cand.loc[pid]["strength"].to_dict())
        d = best["strength"] - worst["strength"]
        rows.append({"id": pid, "prompt": best["prompt"], "system": best["system"], "chosen": best["response"],
                     "rejected": worst["response"], "winner": "a", "margin": 2 * sigmoid(d) - 1,
                     "agreement": agree, "consistent": consistent, "judges": judges,
                     "model_chosen": best["model"], "model_rejected": worst["model"],
                     "score_chosen": float(best["strength"]), "score_rejected": float(worst["strength"]),
                     "n_candidates": sel["n_candidates"], "n_comparisons": sel["n_comparisons"]})
    out = pd.DataFrame(rows, columns=list(WORK_COLUMNS) + ["score_chosen", "score_rejected", "n_candidates", "n_comparisons"],
                       dtype=object)
    return out


def _evidence(ranking: ResponseRanking, pid: str, ends: set[int], strength: dict[int, float]) -> tuple[Any, Any, list[str]]:
    pairs = ranking.pairs[(ranking.pairs["prompt_id"] == pid)
                          & (ranking.pairs["cand_a"].isin(ends) | ranking.pairs["cand_b"].isin(ends))]
    higher = {r["id"]: ("a" if strength[int(r["cand_a"])] >= strength[int(r["cand_b"])] else "b")
              for r in pairs.to_dict("records")}
    j = ranking.judgments
    j = j[j["pair_id"].isin(list(higher)) & j["winner"].notna()]
    agree = float((j["winner"] == j["pair_id"].map(higher)).mean()) if len(j) else None
    cons = [c for c in ranking.outcomes.reindex(list(higher))["consistent"] if c is not None and c == c]
    consistent = all(bool(c) for c in cons) if cons else None
    return agree, consistent, sorted(set(j["judge"].astype(str)))
