"""``rank_responses``: rank N candidate answers per prompt with pairwise judges.

Every comparison goes through :func:`prefjudge.judging.rank_pairs.arank_pairs` (same judges, order policy,
store, retries and aggregation as pairwise judging). A comparison of candidates i < j of a prompt
has the pair id ``"{prompt_id}#{i}~{j}"`` with a = candidate i, so the same comparison made by
two strategies (or two runs) is the same request and is read from the store the second time.

The result is a :class:`ResponseRanking`: a :class:`~prefjudge.result.RankResult` over all the
comparisons made (so ``audit`` accepts it), plus a ``candidates`` table (Bradley-Terry strength,
standard error, rank per candidate) and ``selections`` (best and worst per prompt).
``to_preferences(ranking)`` makes one pair per prompt: chosen = best, rejected = worst.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Union

from prefjudge._renamed import renamed_kwargs
from prefjudge.curate.candidates import Group, normalize_candidates
from prefjudge.curate.strategies import Adaptive, Knockout, Planner, RoundRobin, phase_one_cost
from prefjudge.errors import InputError
from prefjudge.judging.rank_pairs import Aggregate, JudgesInput, OrderPolicy, StoreInput
from prefjudge.result import RankResult

if TYPE_CHECKING:
    import datasets
    import pandas as pd

CandidatesInput = Union["pd.DataFrame", "datasets.Dataset", Iterable[Mapping[str, Any]]]
Strategy = Literal["round_robin", "knockout", "adaptive"]
STRATEGIES = ("round_robin", "knockout", "adaptive")


@dataclass
class ResponseRanking(RankResult):
    """Comparisons (a RankResult) plus per-candidate strengths and per-prompt selections."""

    candidates: pd.DataFrame | None = None
    selections: pd.DataFrame | None = None
    groups: list[Group] = field(default_factory=list, repr=False)

    def preference_rows(self) -> pd.DataFrame:
        """One working row per prompt (best vs worst), for ``to_preferences``."""
        from prefjudge.curate.selection import preference_rows

        return preference_rows(self)

    def __repr__(self) -> str:
        n_prompts = 0 if self.selections is None else len(self.selections)
        return f"ResponseRanking({n_prompts} prompts, {len(self.pairs)} comparisons, {len(self.judgments)} judgments)"


@renamed_kwargs(cands="candidates")
def rank_responses(candidates: CandidatesInput, judges: JudgesInput, *, strategy: Strategy = "adaptive", seed: int = 0,
                   store: StoreInput = None, order: OrderPolicy = "random", budget: int | None = None,
                   aggregate: Aggregate | None = None, progress: bool | None = None) -> ResponseRanking:
    """Rank the candidates of each prompt; see :func:`arank_responses` for the arguments."""
    from prefjudge.judging.rank_pairs import run_sync

    return run_sync(arank_responses(candidates, judges, strategy=strategy, seed=seed, store=store, order=order,
                                    budget=budget, aggregate=aggregate, progress=progress))


@renamed_kwargs(cands="candidates")
async def arank_responses(candidates: CandidatesInput, judges: JudgesInput, *, strategy: Strategy = "adaptive",
                          seed: int = 0, store: StoreInput = None, order: OrderPolicy = "random",
                          budget: int | None = None, aggregate: Aggregate | None = None,
                          progress: bool | None = None) -> ResponseRanking:
    """Async :func:`rank_responses`.

    ``candidates`` (``cands=`` is its deprecated old name): one row per candidate (prompt, response, optional model, prompt_id, system) or one
    row per prompt (prompt, responses list, optional models list). ``judges``: a Judge, a list or a Jury.
    ``strategy``: ``"round_robin"`` (all N(N-1)/2 pairs), ``"adaptive"`` (default) or ``"knockout"``;
    the last two find the best and worst answer in at most ``budget`` comparisons per prompt
    (default 2N), see :mod:`prefjudge.curate.strategies`. ``order``, ``seed``, ``store``,
    ``aggregate``: as for ``rank_pairs`` (each comparison is judged by every judge).
    """
    from prefjudge.judging.rank_pairs import arank_pairs, resolve_judges
    from prefjudge.judging.store import Store

    groups, skipped = normalize_candidates(candidates)
    resolve_judges(judges, aggregate)  # bad judges fail before the first call
    planners = [_planner(strategy, g, seed, budget) for g in groups]
    st = store if isinstance(store, Store) else Store(store)
    owned = st is not store
    results: list[RankResult] = []
    try:
        while True:
            batch = [_pair(g, i, j) for g, p in zip(groups, planners) for i, j in p.next_pairs()]
            if not batch:
                break
            res = await arank_pairs(batch, judges, order=order, seed=seed, store=st, aggregate=aggregate, progress=progress)
            _feed(res, groups, planners)
            results.append(res)
    finally:
        if owned:
            st.close()
    meta = {"strategy": strategy, "seed": seed, "order": order, "skipped_failed_generations": skipped,
            "duplicates_removed": sum(g.duplicates for g in groups), "budget": budget}
    return _assemble(results, groups, meta)


def _planner(strategy: str, g: Group, seed: int, budget: int | None) -> Planner:
    n = len(g.responses)
    if strategy == "round_robin":
        return RoundRobin(n, seed, g.prompt_id)
    if strategy == "knockout":
        if budget is not None and budget < phase_one_cost(n):
            raise InputError(f"budget {budget} is below the {phase_one_cost(n)} comparisons a knockout over {n} "
                             f"candidates needs (prompt {g.prompt_id!r})", field="budget")
        return Knockout(n, seed, g.prompt_id, budget)
    if strategy == "adaptive":
        if budget is not None and budget < n // 2:
            raise InputError(f"budget {budget} is below the {n // 2} comparisons of the first round over {n} "
                             f"candidates (prompt {g.prompt_id!r})", field="budget")
        return Adaptive(n, seed, g.prompt_id, budget)
    raise InputError(f"strategy must be one of {STRATEGIES}, not {strategy!r}", field="strategy")


def _pair(g: Group, i: int, j: int) -> dict[str, Any]:
    return {"id": f"{g.prompt_id}#{i}~{j}", "prompt": g.prompt, "system": g.system,
            "response_a": g.responses[i], "response_b": g.responses[j], "model_a": g.models[i], "model_b": g.models[j],
            "prompt_id": g.prompt_id, "cand_a": i, "cand_b": j}


def _feed(res: RankResult, groups: list[Group], planners: list[Planner]) -> None:
    index = {g.prompt_id: p for g, p in zip(groups, planners)}
    outcomes = res.outcomes
    for row in res.pairs.to_dict("records"):
        oc = outcomes.loc[row["id"]] if row["id"] in outcomes.index else None
        p_a = None if oc is None or oc["p_a"] is None or oc["p_a"] != oc["p_a"] else float(oc["p_a"])
        n = 0 if oc is None else int(oc["n_verdicts"])
        index[row["prompt_id"]].observe((int(row["cand_a"]), int(row["cand_b"])), p_a, n)


def _assemble(results: list[RankResult], groups: list[Group], meta: dict[str, Any]) -> ResponseRanking:
    import pandas as pd

    from prefjudge.curate.selection import candidate_table, selection_table

    pairs = pd.concat([r.pairs for r in results], ignore_index=True)
    judgments = pd.concat([r.judgments for r in results if len(r.judgments)], ignore_index=True) \
        if any(len(r.judgments) for r in results) else results[0].judgments
    outcomes = pd.concat([r.outcomes for r in results])
    base = results[0].meta
    meta = {**{k: base.get(k) for k in ("judges", "aggregate")}, **meta,
            "n_calls_made": sum(r.meta.get("n_calls_made", 0) for r in results),
            "n_calls_cached": sum(r.meta.get("n_calls_cached", 0) for r in results)}
    cand = candidate_table(groups, pairs, outcomes)
    return ResponseRanking(pairs=pairs, judgments=judgments, outcomes=outcomes, meta=meta, candidates=cand,
                           selections=selection_table(cand, pairs, judgments), groups=groups)
