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

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union

from prefjudge._renamed import renamed_kwargs
from prefjudge.curate.candidates import Group, normalize_candidates, readable_rows
from prefjudge.curate.rating_result import RatingResult
from prefjudge.curate.strategies import Adaptive, Knockout, Planner, RoundRobin, phase_one_cost
from prefjudge.errors import InputError
from prefjudge.judging.rank_pairs import Aggregate, JudgesInput, MaxCalls, MaxCost, OrderPolicy, StoreInput
from prefjudge.result import RankResult

if TYPE_CHECKING:
    import datasets
    import pandas as pd

CandidatesInput = Union["pd.DataFrame", "datasets.Dataset", "datasets.IterableDataset", str, Path,
                        Iterable[Mapping[str, Any]]]
Strategy = Literal["round_robin", "knockout", "adaptive", "rating"]
STRATEGIES = ("round_robin", "knockout", "adaptive", "rating")


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
                   aggregate: Aggregate | None = None, progress: bool | None = None,
                   max_cost_usd: MaxCost | None = None, max_calls: MaxCalls | None = None,
                   shard: tuple[int, int] | None = None, max_in_flight: int | None = None) -> ResponseRanking | RatingResult:
    """Rank the candidates of each prompt; see :func:`arank_responses` for the arguments."""
    from prefjudge.judging.rank_pairs import run_sync

    return run_sync(arank_responses(candidates, judges, strategy=strategy, seed=seed, store=store, order=order,
                                    budget=budget, aggregate=aggregate, progress=progress, max_cost_usd=max_cost_usd,
                                    max_calls=max_calls, shard=shard, max_in_flight=max_in_flight))


@renamed_kwargs(cands="candidates")
async def arank_responses(candidates: CandidatesInput, judges: JudgesInput, *, strategy: Strategy = "adaptive",
                          seed: int = 0, store: StoreInput = None, order: OrderPolicy = "random",
                          budget: int | None = None, aggregate: Aggregate | None = None,
                          progress: bool | None = None, max_cost_usd: MaxCost | None = None,
                          max_calls: MaxCalls | None = None, shard: tuple[int, int] | None = None,
                          max_in_flight: int | None = None) -> ResponseRanking | RatingResult:
    """Async :func:`rank_responses`.

    ``candidates`` (``cands=`` is its deprecated old name): one row per candidate (prompt, response, optional model, prompt_id, system) or one
    row per prompt (prompt, responses list, optional models list), as a list, any iterable of rows, a
    DataFrame, a Dataset/IterableDataset or a .jsonl/.parquet path (the candidates are grouped by
    prompt in memory). ``judges``: a Judge, a list or a Jury. A list may hold local reward models
    (:class:`~prefjudge.RewardModel`, PairRM-style models), alone or beside LLM judges: every
    strategy then judges its rounds through ``rank_pairs``' reward-model path (one verdict per
    comparison and reward model, aggregated with the LLM judges' by ``aggregate``), and a reward
    model scores each answer once per run (:mod:`prefjudge.curate.run_scores`); as in
    ``rank_pairs``, not with ``max_cost_usd``/``max_calls``, and each round opens its own engine.
    ``strategy``: ``"round_robin"`` (all N(N-1)/2 pairs), ``"adaptive"`` (default) or ``"knockout"``;
    the last two find the best and worst answer in at most ``budget`` comparisons per prompt
    (default 2N), see :mod:`prefjudge.curate.strategies`; ``"rating"`` rates each candidate once per
    judge instead of comparing (N calls per judge: :func:`prefjudge.rate` with the ``single``
    template; LLM judges and :class:`~prefjudge.RewardModel` scorers) and returns its
    :class:`~prefjudge.RatingResult`, which ``to_preferences`` reads the same way (best against
    lowest score). ``order``, ``seed``, ``store``,
    ``aggregate``: as for ``rank_pairs`` (each comparison is judged by every judge).

    Without reward models every round runs on one engine (one client, semaphore and rate-limit
    window per endpoint).
    ``max_cost_usd``/``max_calls`` (a number for the run or a mapping judge name -> limit; not to be
    confused with ``budget``, comparisons per prompt) bound the whole run, all rounds together:
    no round starts once the run's limit (or every judge's) is reached, and the calls not made are
    in ``not_judged``. ``shard=(i, n)`` ranks the prompts whose prompt_id hashes to ``i`` of ``n``.
    """
    from prefjudge.judging.budget import Budget
    from prefjudge.judging.pairs import normalize_pairs
    from prefjudge.judging.rank_pairs import (
        _check_order,
        check_aggregator,
        judge_meta,
        rank_in_run,
        resolve_judges,
        split_scorers,
    )
    from prefjudge.judging.shard import in_shard, parse_shard
    from prefjudge.judging.stream import Run, budget_meta, check_window

    _check_order(order)
    part = parse_shard(shard)
    check_window(max_in_flight)
    if strategy == "rating":
        return await _by_rating(candidates, judges, seed=seed, store=store, progress=progress, budget=budget,
                                aggregate=aggregate, limits=(max_cost_usd, max_calls, shard, max_in_flight))
    groups, skipped = normalize_candidates(readable_rows(candidates))
    llm_judges, scorers = split_scorers(judges)
    if not scorers:
        judge_list, jury = resolve_judges(judges, aggregate)  # bad judges fail before the first call
        agg_name = getattr(jury, "rule_name", type(jury).__name__)
    planners = [_planner(strategy, g, seed, budget) for g in groups]  # every group checked, whatever the shard
    kept = [(g, p) for g, p in zip(groups, planners) if in_shard(g.prompt_id, part)]
    groups, planners = [g for g, _ in kept], [p for _, p in kept]
    meta = {"strategy": strategy, "seed": seed, "order": order, "skipped_failed_generations": skipped,
            "duplicates_removed": sum(g.duplicates for g in groups), "budget": budget}
    if scorers:
        ranking = await _with_reward_models(groups, planners, llm_judges, scorers, meta, order=order, seed=seed,
                                            store=store, aggregate=aggregate, progress=progress,
                                            max_cost_usd=max_cost_usd, max_calls=max_calls,
                                            max_in_flight=max_in_flight)
        if part is not None:
            ranking.meta["shard"] = list(part)
        return ranking
    for j in judge_list:
        j.preflight()
    check_aggregator(jury, judge_list, agg_name)
    money = Budget.for_judges(judge_list, max_cost_usd, max_calls)
    names = [j.name for j in judge_list]
    async with Run(store, judge_list, budget=money, max_in_flight=max_in_flight, progress=progress) as run:
        async def judge_round(batch: list[dict[str, Any]]) -> RankResult:
            return await rank_in_run(run, normalize_pairs(batch), judge_list, jury, agg_name, order=order, seed=seed)

        # once the run's limit is reached the next round could only read the store: stop (a rerun with a
        # higher limit goes on)
        results = await _rounds(groups, planners, judge_round,
                                stop=lambda: money is not None and money.exhausted(names))
        made, cached = run.engine.calls_made, run.engine.calls_cached
    base = {"judges": [judge_meta(j) for j in judge_list], "aggregate": agg_name}
    ranking = _assemble(results, groups, meta, base, made, cached)
    if part is not None:
        ranking.meta["shard"] = list(part)
    if money is not None:
        ranking.meta["spend"] = budget_meta(money, ranking.not_judged)
    return ranking


async def _rounds(groups: list[Group], planners: list[Planner], judge_round: Callable[[list], Awaitable[RankResult]],
                  stop: Callable[[], bool] = lambda: False) -> list[RankResult]:
    """Round after round: every planner's next pairs judged together, each outcome fed back, until no
    planner asks for more (or ``stop()`` after a round)."""
    results: list[RankResult] = []
    while True:
        batch = [_pair(g, i, j) for g, p in zip(groups, planners) for i, j in p.next_pairs()]
        if not batch:
            break
        res = await judge_round(batch)
        _feed(res, groups, planners)
        results.append(res)
        if stop():
            break
    return results


async def _with_reward_models(groups: list[Group], planners: list[Planner], llm_judges: Any, scorers: list[Any],
                              meta: dict[str, Any], *, order: str, seed: int, store: Any, aggregate: Any,
                              progress: bool | None, max_cost_usd: Any, max_calls: Any,
                              max_in_flight: int | None) -> ResponseRanking:
    """Reward models among the jurors: every round goes through :func:`arank_pairs`' scorer path (the
    LLM judges as usual, each reward model one verdict per comparison, the jury's rule over all of
    them). Each reward model is seen through :class:`~prefjudge.curate.run_scores.RunScores`, so it
    scores each answer once per run, whatever the number of comparisons and rounds."""
    from prefjudge.curate.run_scores import RunScores
    from prefjudge.judging.rank_pairs import arank_pairs, judge_meta, jury_with_scorers, resolve_judges

    llm_list = resolve_judges(llm_judges)[0] if llm_judges else []  # bad judges fail before the first call
    for s in scorers:
        if hasattr(s, "preflight"):
            s.preflight()  # a folder without a loadable model fails before the first call too
    listed = [*llm_list, *(RunScores(s) for s in scorers)]
    rule = jury_with_scorers([j.name for j in listed], llm_judges, aggregate)  # a bad rule fails before the first call
    given = getattr(llm_judges, "jury", None)  # a pj.Jury holding the reward models: its settings stay for every round
    jurors: Any = given.model_copy(update={"judges": listed}) if given is not None else listed

    async def judge_round(batch: list[dict[str, Any]]) -> RankResult:
        return await arank_pairs(batch, jurors, order=order, seed=seed, store=store, aggregate=aggregate,
                                 progress=progress, max_cost_usd=max_cost_usd, max_calls=max_calls,
                                 max_in_flight=max_in_flight)

    results = await _rounds(groups, planners, judge_round)
    made = sum(int(r.meta.get("n_calls_made") or 0) for r in results)
    cached = sum(int(r.meta.get("n_calls_cached") or 0) for r in results)
    base = {"judges": [judge_meta(j) for j in llm_list] + [
        {"name": s.name, "kind": "reward_model", "model": str(getattr(s, "path", type(s).__name__)),
         "family": getattr(s, "family", None)} for s in scorers], "aggregate": getattr(rule, "rule_name", "majority")}
    return _assemble(results, groups, meta, base, made, cached)


async def _by_rating(candidates: Any, judges: Any, *, seed: int, store: Any, progress: bool | None, budget: Any,
                     aggregate: Any, limits: tuple) -> RatingResult:
    """strategy="rating": one rating call per candidate and judge (:func:`prefjudge.curate.rating.arate`)."""
    from prefjudge.curate.rating import arate
    from prefjudge.errors import ConfigError

    given = [name for name, v in zip(("budget", "aggregate", "max_cost_usd", "max_calls", "shard", "max_in_flight"),
                                     (budget, aggregate, *limits)) if v is not None]
    if given:
        raise ConfigError(f"strategy='rating' rates every candidate once per judge; {', '.join(given)} "
                          "apply to pairwise strategies only (call prefjudge.rate for the rating options)")
    return await arate(readable_rows(candidates), judges, template="single", seed=seed, store=store, progress=progress)


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


def _assemble(results: list[RankResult], groups: list[Group], meta: dict[str, Any], base: dict[str, Any],
              made: int, cached: int) -> ResponseRanking:
    """The ranking of the rounds' results; ``base``: the judges and aggregate of the meta when no round ran."""
    import pandas as pd

    from prefjudge.curate.selection import candidate_table, selection_table
    from prefjudge.judging.stream import not_judged_frame
    from prefjudge.judgments import empty_judgments
    from prefjudge.types import OUTCOME_COLUMNS

    if results:
        pairs = pd.concat([r.pairs for r in results], ignore_index=True)
        judgments = pd.concat([r.judgments for r in results if len(r.judgments)], ignore_index=True) \
            if any(len(r.judgments) for r in results) else results[0].judgments
        outcomes = pd.concat([r.outcomes for r in results])
        frames = [r.not_judged for r in results if r.not_judged is not None and len(r.not_judged)]
        not_judged = pd.concat(frames, ignore_index=True) if frames else results[0].not_judged
    else:  # no prompt in this shard
        pairs = pd.DataFrame(columns=["id", "prompt", "response_a", "response_b", "system", "model_a", "model_b",
                                      "human", "identical", "prompt_id", "cand_a", "cand_b"])
        judgments, outcomes = empty_judgments(), pd.DataFrame(columns=list(OUTCOME_COLUMNS))
        not_judged = not_judged_frame([])
    base = results[0].meta if results else base
    meta = {**{k: base.get(k) for k in ("judges", "aggregate")}, **meta, "n_calls_made": made, "n_calls_cached": cached}
    cand = candidate_table(groups, pairs, outcomes)
    return ResponseRanking(pairs=pairs, judgments=judgments, outcomes=outcomes, meta=meta, not_judged=not_judged,
                           candidates=cand, selections=selection_table(cand, pairs, judgments), groups=groups)
