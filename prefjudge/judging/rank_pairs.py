"""``rank_pairs``: judge every pair with every judge in the chosen display order(s)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union

from prefjudge.aggregation.jury import Jury, RuleName
from prefjudge.errors import ConfigError, InputError
from prefjudge.judging.budget import Budget
from prefjudge.judging.engine import Engine
from prefjudge.judging.inputs import known_length
from prefjudge.judging.judge import Judge, display_orders
from prefjudge.judging.pairs import iter_pairs, normalize_pairs
from prefjudge.judging.shard import Shard, in_shard, parse_shard
from prefjudge.judging.store import Store
from prefjudge.judging.stream import (
    Done,
    PartWriter,
    Run,
    aggregate_parts,
    budget_meta,
    calls_per_pair,
    check_window,
    judge_one,
    judgments_part,
    not_judged_frame,
    not_judged_part,
    pair_row,
    pairs_part,
    prepare_folder,
    work_items,
    write_meta,
)
from prefjudge.judging.templates import Template
from prefjudge.result import FolderRankResult, RankResult
from prefjudge.types import OUTCOME_COLUMNS, Judgment, Order, Pair

if TYPE_CHECKING:
    import datasets
    import pandas as pd

log = logging.getLogger("prefjudge")
OrderPolicy = Literal["random", "both", "fixed", "adaptive"]
# the data arguments name pandas/datasets types only as strings: resolving them needs those libraries
PairsInput = Union["pd.DataFrame", "datasets.Dataset", "datasets.IterableDataset", str, Path, Iterable[Mapping[str, Any]]]
JudgesInput = Union[Judge, Sequence[Judge], Jury]
StoreInput = Union[str, Path, Store, None]
Aggregate = Union[RuleName, Callable[["pd.DataFrame"], "pd.DataFrame"]]


def run_sync(coro):
    """Run a coroutine from sync code, also inside a notebook that already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def resolve_judges(judges: Any, aggregate: Any = None) -> tuple[list[Judge], Any]:
    """Judges to ask and the jury that aggregates their verdicts.

    ``judges``: a Judge or a list of Judges (aggregated by ``Jury(judges, aggregate=aggregate or
    "majority")``, so a list and a default Jury give the same outcomes), or a Jury (``.judges`` +
    ``.aggregate_table``; ``aggregate`` must then be None: the jury's own rule applies).
    """
    from prefjudge.aggregation.jury import Jury, check_rule

    is_jury = hasattr(judges, "aggregate_table") and hasattr(judges, "judges")
    if is_jury and aggregate is not None:
        raise ConfigError(f"aggregate={_rule_label(aggregate)!r} was given together with a Jury, which has its own rule "
                          f"({getattr(judges, 'rule_name', '?')!r}); set it with Jury(..., aggregate=...) instead")
    if not is_jury and aggregate is not None:
        check_rule(aggregate)
    judge_list = list(judges.judges) if is_jury else [judges] if isinstance(judges, Judge) else list(judges or [])
    if not judge_list:
        raise InputError("no judges given")
    for j in judge_list:
        if not isinstance(j, Judge):
            raise InputError(f"judges must be prefjudge.Judge objects, got {type(j).__name__}", field="judges")
    names = [j.name for j in judge_list]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise InputError(f"judge names must be unique; repeated: {sorted(dupes)} (set name=...)", field="judges")
    return judge_list, judges if is_jury else Jury(judge_list, aggregate=aggregate or "majority")


def _rule_label(rule: Any) -> str:
    return rule if isinstance(rule, str) else getattr(rule, "__name__", "custom")


def _guarded(aggregate_table: Callable, name: str, after: Callable[[Any], str] | None = None) -> Callable:
    """``aggregate_table`` whose failures become a ConfigError naming the rule and what happened.

    ``after`` (run after the calls): the message's tail, given the judgments table, which the error
    also carries as ``.judgments``. Without it (the check before any call) an InputError passes as is.
    """
    def run(table: Any) -> Any:
        try:
            return aggregate_table(table)
        except Exception as exc:
            if after is None and isinstance(exc, InputError):
                raise
            detail = str(exc) if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {exc}"
            if after is None:
                msg = f"aggregate={name!r} failed on a synthetic judgments table before any call was made: {detail}"
            else:
                msg = f"aggregate={name!r} failed on the judged table after the run: {detail}. {after(table)}"
            err = ConfigError(msg)
            err.judgments = table  # type: ignore[attr-defined]
            raise err from exc
    return run


def check_aggregator(jury: Any, judge_list: list[Judge], name: str) -> None:
    """Run the jury's rule on a tiny synthetic judgments table (the real columns) before the first call:
    every judge says a on one pair, b on another, tie on a third, in both orders."""
    plist = [Pair(id=f"aggregator-check-{w}", prompt="Which answer is better?", response_a="First answer.",
                  response_b="Second answer.") for w in ("a", "b", "tie")]
    calls = [Judgment(pair_id=p.id, prompt=p.prompt, response_a=p.response_a, response_b=p.response_b, judge=j.name,
                      judge_family=j.family, order=o, winner=p.id.rsplit("-", 1)[1], cached=True)  # type: ignore[arg-type]
             for p in plist for j in judge_list for o in ("ab", "ba")]
    before = getattr(jury, "_reliability", None)
    build_result(plist, calls, _guarded(jury.aggregate_table, name), meta={})
    if hasattr(jury, "_reliability"):
        jury._reliability = before  # the check leaves no synthetic reliabilities behind


def _calls_kept(n_calls: int, store_path: Any) -> Callable[[Any], str]:
    def tail(_table: Any) -> str:
        if store_path:
            return (f"The {n_calls} judged calls are not lost: they are in the store {store_path}; rerun with a fixed "
                    f"aggregate= and store={str(store_path)!r} to replay them without new calls, or re-aggregate this "
                    "error's .judgments table with prefjudge.aggregate(err.judgments, aggregate=...)")
        return (f"The {n_calls} judged calls were kept in memory only (store=None), so a rerun would call again; "
                "re-aggregate this error's .judgments table with prefjudge.aggregate(err.judgments, aggregate=...)")
    return tail


async def judge_pair(engine: Engine, judge: Judge, pair: Pair, order: Order) -> Judgment:
    """One judgment: render in ``order``, call, parse, re-ask once if unreadable, map back to a/b.

    (A call a budget refuses comes back as a judgment without a winner whose error is the reason;
    runs use :func:`prefjudge.judging.stream.judge_one`, which keeps such calls apart.)
    """
    done = await judge_one(engine, judge, pair, order)
    if done.judgment is not None:
        return done.judgment
    return Judgment(pair_id=pair.id, prompt=pair.prompt, response_a=pair.response_a, response_b=pair.response_b,
                    model_a=pair.model_a, model_b=pair.model_b, judge=judge.name, judge_family=judge.family,
                    order=order, error=done.skipped[0].reason, human=pair.human)


MaxCost = Union[float, Mapping[str, float]]
MaxCalls = Union[int, Mapping[str, int]]


def _check_order(order: Any, streaming: bool = False) -> None:
    if order not in ("random", "both", "fixed", "adaptive"):
        raise InputError(f"order must be 'random', 'both', 'fixed' or 'adaptive', not {order!r}", field="order")
    if streaming and order == "adaptive":
        raise ConfigError("order='adaptive' decides the second calls after the first ones, with the whole run in "
                          "memory; it cannot stream (drop out=, or use order='random' or 'both')")


async def arank_pairs(
    pairs: PairsInput,
    judges: JudgesInput,
    *,
    order: OrderPolicy = "random",
    seed: int = 0,
    store: StoreInput = None,
    aggregate: Aggregate | None = None,
    progress: bool | None = None,
    out: str | Path | None = None,
    max_cost_usd: MaxCost | None = None,
    max_calls: MaxCalls | None = None,
    shard: tuple[int, int] | None = None,
    max_in_flight: int | None = None,
    batch: bool | Mapping[str, Any] = False,
) -> RankResult:
    """Async :func:`rank_pairs`."""
    prep = _prepare_run(pairs, judges, order=order, shard=shard, max_in_flight=max_in_flight,
                        max_cost_usd=max_cost_usd, max_calls=max_calls, streaming=out is not None,
                        ranking=True, aggregate=aggregate)
    part, plist = prep.part, prep.plist
    if prep.scorers:
        return await _with_scorers(plist, prep.judges, prep.scorers, aggregate=aggregate, order=order, seed=seed,
                                   store=store, progress=progress, out=out, budget_given=(max_cost_usd, max_calls),
                                   batch=batch, max_in_flight=max_in_flight, part=part)
    judge_list, jury, agg_name, budget = prep.judge_list, prep.jury, prep.agg_name, prep.budget
    extra: dict[str, Any] = {}
    if part is not None:
        extra["shard"] = list(part)
    batch_options = _batch_options(batch, out, budget)
    if plist is None:
        return await _rank_to_folder(pairs, prep, order=order, seed=seed, store=store, progress=progress,
                                     max_in_flight=max_in_flight, out=out, extra=extra)  # type: ignore[arg-type]
    async with prep.open_run(store, max_in_flight=max_in_flight, progress=progress) as run:
        if batch_options is not None:
            extra["batch"] = await _prefill(run, plist, judge_list, seed, order, batch_options)
        return await rank_in_run(run, plist, judge_list, jury, agg_name, order=order, seed=seed, extra=extra)


@dataclass
class _Prepared:
    """A run's arguments after the checks :func:`_prepare_run` makes before the first call."""

    part: Shard | None
    plist: list[Pair] | None = None
    """The pairs (of the shard), all checked, when the run holds them in memory; None when they stream."""
    judges: Any = None
    """With ``scorers``: the LLM judges as given (not checked yet: the scorers' path does it)."""
    scorers: list[Any] = field(default_factory=list)
    judge_list: list[Judge] = field(default_factory=list)
    jury: Any = None
    agg_name: str = ""
    budget: Budget | None = None

    def open_run(self, store: StoreInput, *, max_in_flight: int | None, progress: bool | None,
                 pairs: Any = None, order: str = "random") -> Run:
        """The run (store, engine, budget, progress bar). ``pairs``: the rows as given, when they
        stream: their number, when known, sizes the progress bar."""
        total = None
        if pairs is not None:
            n_rows = known_length(pairs)
            if n_rows is not None:
                total = n_rows * calls_per_pair(self.judge_list, order) // (self.part[1] if self.part else 1)
        return Run(store, self.judge_list, budget=self.budget, max_in_flight=max_in_flight, progress=progress,
                   total=total)


def _prepare_run(pairs: Any, judges: Any, *, order: Any, shard: Any, max_in_flight: Any, max_cost_usd: Any,
                 max_calls: Any, streaming: bool, ranking: bool = False, aggregate: Any = None) -> _Prepared:
    """What :func:`arank_pairs` and :func:`aiter_judgments` check before the first call, in this order:
    ``order``, ``shard`` and ``max_in_flight``; every pair when the run holds them (``streaming`` False);
    with ``ranking``, reward models among the judges (then returned at once, for their own path);
    the judges (their templates, backends and key variables: :meth:`Judge.preflight`); with
    ``ranking``, the aggregator on a synthetic table; the budget (an unknown price under a cost limit)."""
    _check_order(order, streaming=streaming)
    prep = _Prepared(parse_shard(shard))
    check_window(max_in_flight)
    if not streaming:  # the result holds every pair anyway: all of them are checked before the first call
        prep.plist = [p for p in normalize_pairs(pairs) if in_shard(p.id, prep.part)]
    if ranking:
        judges, prep.scorers = split_scorers(judges)
        if prep.scorers:
            prep.judges = judges
            return prep
    prep.judge_list, prep.jury = resolve_judges(judges, aggregate)
    prep.agg_name = getattr(prep.jury, "rule_name", type(prep.jury).__name__)
    for j in prep.judge_list:
        j.preflight()  # a bad template, backend or missing key variable fails before the first call
    if ranking:
        check_aggregator(prep.jury, prep.judge_list, prep.agg_name)  # so does a bad aggregator
    prep.budget = Budget.for_judges(prep.judge_list, max_cost_usd, max_calls)  # and an unknown price under a cost budget
    return prep


def _batch_options(batch: Any, out: Any, budget: Any) -> dict[str, Any] | None:
    """The options of :func:`prefjudge.judging.batch.prefill` for ``batch=`` (None: live calls only)."""
    if batch is False or batch is None:
        return None
    if out is not None:
        raise ConfigError("batch=True needs the pairs in memory (it renders every request before submitting); "
                          "drop out=, or split the input and run each part with batch=True")
    if budget is not None:
        raise ConfigError("max_cost_usd/max_calls are not applied to provider batches yet; drop the budget "
                          "(a batch is priced at half the list price) or judge live without batch=")
    if batch is True:
        return {}
    if not isinstance(batch, Mapping):
        raise InputError(f"batch must be True, False or a mapping of prefill options, not {type(batch).__name__}",
                         field="batch")
    return dict(batch)


async def _prefill(run: Run, plist: list[Pair], judge_list: list[Judge], seed: int, order: str,
                   options: dict[str, Any]) -> dict[str, Any]:
    """Submit every call of the run through the providers' batch APIs into the run's store (what is
    already there is not submitted again); the live pass that follows then reads them as cached calls.
    Re-asks of unreadable verdicts depend on the first answer: they go live, at list price."""
    from prefjudge.errors import BatchPending
    from prefjudge.judging.batch import BatchRequest, prefill

    engine = run.engine
    requests = (BatchRequest(j, j.render(p, o, template=engine.template(j)), engine.params(j))
                for _, j, p, o in work_items(plist, judge_list, seed, order))
    try:
        summary = await prefill(engine, requests, **options)
    except TypeError as exc:
        raise InputError(f"batch options: {exc}", field="batch") from exc
    if summary.pending or summary.timed_out:
        raise BatchPending(f"{summary.pending} request(s) are still in provider batches ({', '.join(summary.batch_ids)}); "
                           "nothing is lost: rerun the same call later and it collects them without submitting again "
                           "(or pass batch={'timeout_s': ...} to wait longer)", summary=summary)
    return summary.model_dump(mode="json", exclude={"batches"})


def _is_scorer(obj: Any) -> bool:
    """A local reward model (prefjudge.RewardModel or a PairRM-style pairwise model), not an LLM judge."""
    return not isinstance(obj, Judge) and hasattr(obj, "name") and (hasattr(obj, "prefer") or hasattr(obj, "compare"))


def split_scorers(judges: Any) -> tuple[Any, list[Any]]:
    """(the LLM judges as given, the reward-model scorers among them). For a ``Jury`` holding reward
    models, the LLM judges come back as a list whose ``jury`` attribute is that Jury: its rule,
    quorum, same_family, weights and families then apply to every juror, the reward models too."""
    if _is_scorer(judges):
        return [], [judges]
    if isinstance(judges, (list, tuple)):
        return [j for j in judges if not _is_scorer(j)], [j for j in judges if _is_scorer(j)]
    inner = getattr(judges, "judges", None)
    if isinstance(inner, list) and any(_is_scorer(j) for j in inner):
        llm = [j for j in inner if not _is_scorer(j)]
        return _JuryOf(llm, judges), [j for j in inner if _is_scorer(j)]
    return judges, []


def jury_with_scorers(names: list[str], llm_judges: Any, aggregate: Any) -> Any:
    """The Jury over ``names`` (LLM judges and reward models): the settings of the ``pj.Jury`` the
    reward models came in (:func:`split_scorers`), when they came in one, with ``aggregate`` over its
    rule when given; else ``aggregate`` (default majority)."""
    from prefjudge.aggregation.jury import Jury

    given = getattr(llm_judges, "jury", None)
    if given is None:
        return Jury(names, aggregate=aggregate or "majority")
    settings = given.model_dump(exclude={"judges"})
    if aggregate is not None:
        settings["aggregate"] = aggregate
    return Jury(names, **settings)


class _JuryOf(list):
    """The LLM judges of a ``Jury`` that also holds reward models, with that Jury (its settings)."""

    def __init__(self, judges: list[Any], jury: Any):
        super().__init__(judges)
        self.jury = jury


async def _with_scorers(plist: list[Pair] | None, judges: Any, scorers: list[Any], *, aggregate: Any, order: str,
                        seed: int, store: StoreInput, progress: bool | None, out: Any, budget_given: tuple,
                        batch: Any, max_in_flight: int | None, part: Any) -> RankResult:
    """A jury with reward models among its jurors: the LLM judges as usual, then each reward model
    scores every pair once (order "ab": a reward model has no position; its soft p_a is
    sigmoid(reward_a - reward_b)), and the jury's rule aggregates all of them."""
    from prefjudge.aggregation.jury import check_rule

    if plist is None or batch or any(v is not None for v in budget_given):
        raise ConfigError("reward models as jurors need the pairs in memory and no budget or batch: drop out=, "
                          "max_cost_usd/max_calls and batch=, or rank with the LLM judges alone")
    if aggregate is not None:
        check_rule(aggregate)
    names = [j.name for j in judges] + [s.name for s in scorers]
    if len(set(names)) != len(names):
        raise InputError(f"judge names must be unique; repeated: {sorted({n for n in names if names.count(n) > 1})}",
                         field="judges")
    jury = jury_with_scorers(names, judges, aggregate)
    judges = list(judges)
    agg_name = getattr(jury, "rule_name", "majority")
    judgments: list[Judgment] = []
    meta: dict[str, Any] = {"order": order, "seed": seed, "aggregate": agg_name, "n_pairs": len(plist),
                            "n_calls_made": 0, "n_calls_cached": 0, "judges": []}
    if judges:
        judge_list, _ = resolve_judges(judges, None)
        for j in judge_list:
            j.preflight()
        async with Run(store, judge_list, max_in_flight=max_in_flight, progress=progress) as run:
            llm = await rank_in_run(run, plist, judge_list, jury, agg_name, order=order, seed=seed)
        judgments = [Judgment(**{k: _none(v) for k, v in r.items() if k in Judgment.model_fields})
                     for r in llm.judgments.to_dict(orient="records")]
        meta.update({k: llm.meta[k] for k in ("judges", "n_calls_made", "n_calls_cached", "store") if k in llm.meta})
    from prefjudge.backends.reward import areward_judgments

    live = [p for p in plist if not p.identical]
    for s in scorers:
        rows = await areward_judgments(s, live)
        judgments += [Judgment(**{k: v for k, v in r.items() if k in Judgment.model_fields}) for r in rows]
        meta["judges"].append({"name": s.name, "kind": "reward_model", "model": str(getattr(s, "path", type(s).__name__)),
                               "family": getattr(s, "family", None)})
    if part is not None:
        meta["shard"] = list(part)
    aggregator = _guarded(jury.aggregate_table, agg_name, after=_calls_kept(len(judgments), None))
    return build_result(plist, judgments, aggregator, meta=meta)


def _none(v: Any) -> Any:
    return None if isinstance(v, float) and v != v else v


async def rank_in_run(run: Run, plist: list[Pair], judge_list: list[Judge], jury: Any, agg_name: str, *,
                      order: str, seed: int, extra: dict[str, Any] | None = None) -> RankResult:
    """Judge ``plist`` within ``run`` (its engine, budget and progress bar) and aggregate in memory."""
    made, cached = run.engine.calls_made, run.engine.calls_cached
    if order == "adaptive":
        dones, adaptive_meta = await _adaptive(run, plist, judge_list, seed)
        extra = {**(extra or {}), "adaptive": adaptive_meta}
    else:
        run.bar.add_total(sum(not p.identical for p in plist) * calls_per_pair(judge_list, order))
        async with aclosing(run.judge(work_items(plist, judge_list, seed, order))) as stream:
            dones = [d async for d in stream]
    dones.sort(key=lambda d: d.seq)  # the order of the calls, whatever order they finished in
    judgments = [d.judgment for d in dones if d.judgment is not None]
    skipped = not_judged_frame([s for d in dones for s in d.skipped])
    aggregator = _guarded(jury.aggregate_table, agg_name, after=_calls_kept(len(judgments), run.store.path))
    meta = {
        "judges": [judge_meta(j, run.engine.template(j)) for j in judge_list], "order": order, "seed": seed,
        "aggregate": agg_name, "n_pairs": len(plist), "n_calls_made": run.engine.calls_made - made,
        "n_calls_cached": run.engine.calls_cached - cached, "store": str(run.store.path) if run.store.path else None,
        **(extra or {}),
    }
    if run.budget is not None:
        meta["budget"] = budget_meta(run.budget, skipped)
    return build_result(plist, judgments, aggregator, meta=meta, not_judged=skipped)


async def _adaptive(run: Run, plist: list[Pair], judge_list: list[Judge], seed: int) -> tuple[list[Done], dict[str, Any]]:
    """order="adaptive" (prefjudge.judging.adaptive): a seeded calibration sample in both orders,
    one seeded random order elsewhere, then the other order where the first verdict could be a
    position artefact."""
    from prefjudge.judging import adaptive as ad

    live = [p for p in plist if not p.identical]
    calib = ad.calibration_ids([p.id for p in live], seed)
    first_items: list[tuple[int, Judge, Pair, Order]] = []
    for p in live:
        for j in judge_list:
            orders = ["ab", "ba"] if p.id in calib else display_orders(p.id, j.name, seed, "random")
            first_items += [(len(first_items), j, p, o) for o in orders]  # type: ignore[misc]
    run.bar.add_total(len(first_items))
    async with aclosing(run.judge(iter(first_items))) as stream:
        dones = [d async for d in stream]
    judged = [d.judgment for d in dones if d.judgment is not None]
    bias = ad.position_bias([j for j in judged if j.pair_id in calib])
    decided: list[str] = []
    reasons = ad.second_order_reasons([j for j in judged if j.pair_id not in calib], bias, decided)
    by_id = {p.id: p for p in live}
    position = {pid: k for k, pid in enumerate(by_id)}
    first_order = {(j.pair_id, j.judge): j.order for j in judged if j.pair_id not in calib}
    judges_by_name = {j.name: j for j in judge_list}
    second = [(len(first_items) + k, judges_by_name[jn], by_id[pid], ad.other(first_order[(pid, jn)]))
              for k, (pid, jn) in enumerate(sorted(reasons, key=lambda key: (position[key[0]], key[1])))]
    run.bar.add_total(len(second))
    async with aclosing(run.judge(iter(second))) as stream:
        dones += [d async for d in stream]
    meta = ad.summary(len(live), len(judge_list), calib, bias, reasons, len(first_items) + len(second), len(decided))
    return dones, meta


async def _rank_to_folder(pairs: Any, prep: _Prepared, *, order: str, seed: int, store: StoreInput,
                          progress: bool | None, max_in_flight: int | None, out: str | Path,
                          extra: dict[str, Any]) -> RankResult:
    """Stream the pairs through the run and write the tables as parquet parts in ``out``; outcomes are
    aggregated at the end from the judgments parts (never from Python objects)."""
    from prefjudge.judging.pairs import IdSet

    judge_list, jury, agg_name, budget, shard = prep.judge_list, prep.jury, prep.agg_name, prep.budget, prep.part
    folder = prepare_folder(out)
    pw = PartWriter(folder, "pairs", pairs_part)
    jw = PartWriter(folder, "judgments", judgments_part)
    nw = PartWriter(folder, "not_judged", not_judged_part)
    skipped_pairs = IdSet()
    n_failed = 0
    async with prep.open_run(store, max_in_flight=max_in_flight, progress=progress, pairs=pairs, order=order) as run:
        work = work_items(iter_pairs(pairs, shard, stats := {"rows": 0}), judge_list, seed, order,
                          on_pair=lambda p: pw.add(pair_row(p)))
        async with aclosing(run.judge(work)) as stream:
            async for d in stream:
                if d.judgment is not None:
                    jw.add({**d.judgment.row(), "cached": d.judgment.cached, "call_index": d.seq})
                    n_failed += d.judgment.winner is None
                for s in d.skipped:
                    nw.add(s.row())
                    skipped_pairs.add(s.pair_id, 0)
        for w in (pw, jw, nw):
            w.close()
        made, cached, path = run.engine.calls_made, run.engine.calls_cached, run.store.path
        judges_meta = [judge_meta(j, run.engine.template(j)) for j in judge_list]
    if not stats["rows"]:
        raise InputError("no pairs given")
    aggregator = _guarded(jury.aggregate_table, agg_name, after=_calls_kept(jw.count, path))
    outcome_info = aggregate_parts(folder, jury, aggregator)
    meta: dict[str, Any] = {
        "judges": judges_meta, "order": order, "seed": seed, "aggregate": agg_name,
        "n_pairs": pw.count, "n_calls_made": made, "n_calls_cached": cached, "store": str(path) if path else None,
        **extra, "out": str(folder), "n_judgments": jw.count, "n_failed": n_failed,
        "outcomes": outcome_info,
    }
    if budget is not None:
        meta["budget"] = {**budget.summary(), "n_calls_not_made": nw.count, "n_pairs_not_judged": len(skipped_pairs)}
    write_meta(folder, meta)
    return FolderRankResult(folder, meta)


def rank_pairs(
    pairs: PairsInput,
    judges: JudgesInput,
    *,
    order: OrderPolicy = "random",
    seed: int = 0,
    store: StoreInput = None,
    aggregate: Aggregate | None = None,
    progress: bool | None = None,
    out: str | Path | None = None,
    max_cost_usd: MaxCost | None = None,
    max_calls: MaxCalls | None = None,
    shard: tuple[int, int] | None = None,
    max_in_flight: int | None = None,
    batch: bool | Mapping[str, Any] = False,
) -> RankResult:
    """Judge ``pairs`` with ``judges`` and return a :class:`RankResult`.

    ``pairs``: rows with prompt, response_a, response_b (optional id, system, model_a, model_b,
    human): a list of dicts or any iterable of them (a generator too), a DataFrame, a
    ``datasets.Dataset``/``IterableDataset``, or a ``.jsonl``/``.parquet`` path (read lazily).
    ``judges``: a Judge, a list of Judges or a Jury; a list is aggregated exactly as
    ``Jury(judges, aggregate=aggregate)``. ``order``: ``"random"`` (seeded per pair and judge,
    recorded), ``"both"`` or ``"fixed"``. ``store``: SQLite path that makes reruns resume without
    repeating finished calls (``None``: in memory). ``aggregate``: a rule name (``"majority"``, the
    default: one vote per judge, then the majority over judges; ``"call_majority"``: every call one
    vote; ``"mean"``, ``"weighted"``, ``"dawid_skene"``) or a function judgments -> outcomes, checked
    on a synthetic table before the first call (not with a Jury, which has its own rule:
    ConfigError). See docs/juries.md.

    Scale (docs/scaling.md): calls stream through a window of ``max_in_flight`` (default four times
    the judges' total ``max_concurrency``). ``out``: a folder; the judgments are written there as
    parquet parts while the run goes (``judgments-00000.parquet``...), with the pairs, the outcomes
    and meta.json, and the result reads them when first accessed, so memory stays flat in the number
    of pairs (without ``out`` every pair is checked before the first call and the result is in memory).
    ``max_cost_usd``/``max_calls``: a limit for the run, or a mapping judge name -> limit; the run
    makes no call that would cross it (cost estimated before each call), stores every finished
    call, and lists what it did not make in ``result.not_judged``; a rerun with a higher limit makes
    only the missing calls. ``shard=(i, n)``: judge only the pairs whose id hashes to ``i`` of ``n``
    (the same requests as the unsharded run; merge the stores afterwards). ``batch=True`` (or a
    mapping of :func:`prefjudge.judging.batch.prefill` options such as ``poll_interval_s``,
    ``timeout_s``, ``provider``): submit the calls through the providers' batch APIs at the batch
    price first, then read them from the store (docs/batch.md); a batch still running when the wait
    ends raises :class:`~prefjudge.errors.BatchPending`, and the same call later collects it.
    """
    return run_sync(arank_pairs(pairs, judges, order=order, seed=seed, store=store, aggregate=aggregate,
                                progress=progress, out=out, max_cost_usd=max_cost_usd, max_calls=max_calls,
                                shard=shard, max_in_flight=max_in_flight, batch=batch))


async def aiter_judgments(
    pairs: PairsInput,
    judges: JudgesInput,
    *,
    order: OrderPolicy = "random",
    seed: int = 0,
    store: StoreInput = None,
    progress: bool | None = None,
    max_cost_usd: MaxCost | None = None,
    max_calls: MaxCalls | None = None,
    shard: tuple[int, int] | None = None,
    max_in_flight: int | None = None,
) -> AsyncGenerator[Judgment, None]:
    """Async :func:`iter_judgments`."""
    prep = _prepare_run(pairs, judges, order=order, shard=shard, max_in_flight=max_in_flight,
                        max_cost_usd=max_cost_usd, max_calls=max_calls, streaming=True)
    skipped = 0
    async with prep.open_run(store, max_in_flight=max_in_flight, progress=progress, pairs=pairs, order=order) as run:
        work = work_items(iter_pairs(pairs, prep.part), prep.judge_list, seed, order)
        async with aclosing(run.judge(work)) as stream:
            async for d in stream:
                skipped += len(d.skipped)
                if d.judgment is not None:
                    yield d.judgment
        if skipped:
            log.warning("%d call(s) were not made (%s); a rerun with a higher limit and the same store makes only those",
                        skipped, run.stopped_reason())


def iter_judgments(
    pairs: PairsInput,
    judges: JudgesInput,
    *,
    order: OrderPolicy = "random",
    seed: int = 0,
    store: StoreInput = None,
    progress: bool | None = None,
    max_cost_usd: MaxCost | None = None,
    max_calls: MaxCalls | None = None,
    shard: tuple[int, int] | None = None,
    max_in_flight: int | None = None,
) -> Iterator[Judgment]:
    """Judge ``pairs`` and yield each :class:`~prefjudge.types.Judgment` as soon as it is finished
    (not in input order; ``Judgment.pair_id``, ``judge`` and ``order`` say which call it is).

    The arguments are those of :func:`rank_pairs` (no aggregation: outcomes need every judgment).
    Rows are read and checked lazily, calls go through a bounded window and every finished call is
    stored, so memory stays flat and a stopped iteration loses nothing that finished. Calls a
    budget refuses are not yielded (a warning counts them). The calls run on an event loop in a
    background thread; leaving the loop early cancels the calls in flight.
    """
    import queue
    import threading

    agen = aiter_judgments(pairs, judges, order=order, seed=seed, store=store, progress=progress,
                           max_cost_usd=max_cost_usd, max_calls=max_calls, shard=shard, max_in_flight=max_in_flight)
    items: queue.Queue = queue.Queue(maxsize=1024)
    stop = threading.Event()
    finished = object()
    loop = asyncio.new_event_loop()
    task: list[asyncio.Task] = []

    async def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                items.put_nowait(item)
                return True
            except queue.Full:
                await asyncio.sleep(0.005)
        return False

    async def produce() -> None:
        try:
            async for judgment in agen:
                if not await put(judgment):
                    return
        except Exception as exc:  # handed to the consumer, which raises it
            await put(_Raised(exc))
        finally:
            await agen.aclose()
            await put(finished)

    def thread() -> None:
        asyncio.set_event_loop(loop)
        task.append(loop.create_task(produce()))
        try:
            loop.run_until_complete(task[0])
        except asyncio.CancelledError:
            pass
        finally:
            loop.close()

    worker = threading.Thread(target=thread, name="prefjudge-iter-judgments", daemon=True)
    worker.start()
    try:
        while True:
            item = items.get()
            if item is finished:
                return
            if isinstance(item, _Raised):
                raise item.exc
            yield item
    finally:
        stop.set()
        if task and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(task[0].cancel)
            except RuntimeError:  # the loop closed in between
                pass
        worker.join()


class _Raised:
    def __init__(self, exc: BaseException):
        self.exc = exc


def judge_meta(judge: Judge, template: Template | None = None) -> dict:
    """Provenance of a judge (no secrets: the base_url without its credentials). ``template``: the one
    its calls used (:meth:`Engine.template <prefjudge.judging.engine.Engine.template>`), else loaded now."""
    from prefjudge.secrets import redact_url

    t = template if template is not None else judge.load_template()
    return {"name": judge.name, "model": judge.model, "backend": judge.backend, "family": judge.family,
            "template": judge.template, "template_sha256": t.sha256, "mode": judge.mode or t.mode,
            "temperature": judge.temperature, "base_url": redact_url(judge.base_url)}


def build_result(plist: list[Pair], judgments: list[Judgment], aggregator: Callable, meta: dict,
                 not_judged: Any = None) -> RankResult:
    import pandas as pd

    from prefjudge.judgments import judgments_frame

    table = judgments_frame([j.row() for j in judgments])  # object columns: failures are None, never NaN
    if judgments:
        table["cached"] = [j.cached for j in judgments]
    pairs_df = pd.DataFrame([_pair_row(p) for p in plist])
    outcomes = aggregator(table) if len(table) else pd.DataFrame(columns=list(OUTCOME_COLUMNS))
    return RankResult(pairs=pairs_df, judgments=table, outcomes=outcomes, meta=meta, not_judged=not_judged)


_pair_row = pair_row
