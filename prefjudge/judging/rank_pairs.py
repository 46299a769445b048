"""``rank_pairs``: judge every pair with every judge in the chosen display order(s)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union

from prefjudge.aggregation.jury import Jury, RuleName
from prefjudge.errors import ConfigError, InputError
from prefjudge.judging.engine import Engine
from prefjudge.judging.judge import Judge, display_orders, to_original
from prefjudge.judging.pairs import normalize_pairs
from prefjudge.judging.progress import ProgressBar
from prefjudge.judging.store import Store
from prefjudge.result import RankResult
from prefjudge.types import Judgment, Order, Pair

if TYPE_CHECKING:
    import datasets
    import pandas as pd

OrderPolicy = Literal["random", "both", "fixed"]
# the data arguments name pandas/datasets types only as strings: resolving them needs those libraries
PairsInput = Union["pd.DataFrame", "datasets.Dataset", Iterable[Mapping[str, Any]]]
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
    """One judgment: render in ``order``, call, parse, re-ask once if unreadable, map back to a/b."""
    messages = judge.render(pair, order)
    params = engine.params(judge)
    out = await engine.complete(judge, messages, params)
    raw, error, verdict = None, out.error, None
    calls = [out]
    if out.completion is not None:
        raw = out.completion.text
        verdict = judge.parse(out.completion, pair, order)
        followup = None if verdict.ok else judge.followup(pair, order, verdict)
        if followup is not None:
            ask, read = followup
            follow = messages + [{"role": "assistant", "content": raw}, {"role": "user", "content": ask}]
            again = await engine.complete(judge, follow, params, kind="reask")
            calls.append(again)
            if again.completion is not None:
                raw = f"{raw}\n\n[re-ask]\n{again.completion.text}"
                retry_verdict = read(again.completion)
                verdict = retry_verdict if retry_verdict.ok else verdict
        error = None if verdict.ok else (verdict.error if calls[-1].error is None else calls[-1].error)
    winner, p_a = to_original(verdict, order) if verdict is not None else (None, None)
    return Judgment(
        pair_id=pair.id, prompt=pair.prompt, response_a=pair.response_a, response_b=pair.response_b,
        model_a=pair.model_a, model_b=pair.model_b, judge=judge.name, judge_family=judge.family,
        order=order, winner=winner, p_a=p_a, raw=raw, error=error,
        latency_s=_sum(c.latency_s for c in calls), prompt_tokens=_sum(c.completion and c.completion.prompt_tokens for c in calls),
        completion_tokens=_sum(c.completion and c.completion.completion_tokens for c in calls),
        cost_usd=_sum(c.cost_usd for c in calls), human=pair.human, cached=all(c.cached for c in calls),
    )


def _sum(values) -> Any:
    vals = [v for v in values if v is not None]
    return sum(vals) if vals else None


async def arank_pairs(
    pairs: PairsInput,
    judges: JudgesInput,
    *,
    order: OrderPolicy = "random",
    seed: int = 0,
    store: StoreInput = None,
    aggregate: Aggregate | None = None,
    progress: bool | None = None,
) -> RankResult:
    """Async :func:`rank_pairs`."""
    if order not in ("random", "both", "fixed"):
        raise InputError(f"order must be 'random', 'both' or 'fixed', not {order!r}", field="order")
    plist = normalize_pairs(pairs)
    judge_list, jury = resolve_judges(judges, aggregate)
    agg_name = getattr(jury, "rule_name", type(jury).__name__)
    for j in judge_list:
        j.preflight()  # a bad template, backend or missing key variable fails before the first call
    check_aggregator(jury, judge_list, agg_name)  # so does a bad aggregator
    st = store if isinstance(store, Store) else Store(store)
    owned = st is not store
    engine = Engine(st)
    work = [(j, p, o) for p in plist if not p.identical for j in judge_list for o in display_orders(p.id, j.name, seed, order)]  # type: ignore[arg-type]
    bar = ProgressBar(len(work), "judging", progress)

    async def one(j: Judge, p: Pair, o: Order) -> Judgment:
        result = await judge_pair(engine, j, p, o)
        bar.advance(failed=result.winner is None)
        return result

    try:
        judgments = await asyncio.gather(*(one(j, p, o) for j, p, o in work))
    finally:
        bar.close()
        await engine.aclose()
        if owned:
            st.close()
    aggregator = _guarded(jury.aggregate_table, agg_name, after=_calls_kept(len(judgments), st.path))
    return build_result(plist, judgments, aggregator, meta={
        "judges": [judge_meta(j) for j in judge_list], "order": order, "seed": seed, "aggregate": agg_name,
        "n_pairs": len(plist), "n_calls_made": engine.calls_made, "n_calls_cached": engine.calls_cached,
        "store": str(st.path) if st.path else None,
    })


def rank_pairs(
    pairs: PairsInput,
    judges: JudgesInput,
    *,
    order: OrderPolicy = "random",
    seed: int = 0,
    store: StoreInput = None,
    aggregate: Aggregate | None = None,
    progress: bool | None = None,
) -> RankResult:
    """Judge ``pairs`` with ``judges`` and return a :class:`RankResult`.

    ``pairs``: list of dicts, DataFrame or Dataset with prompt, response_a, response_b (optional id,
    system, model_a, model_b, human). ``judges``: a Judge, a list of Judges or a Jury; a list is
    aggregated exactly as ``Jury(judges, aggregate=aggregate)``. ``order``: ``"random"`` (seeded per
    pair and judge, recorded), ``"both"`` or ``"fixed"``. ``store``: SQLite path that makes reruns
    resume without repeating finished calls (``None``: in memory). ``aggregate``: a rule name
    (``"majority"``, the default: one vote per judge, then the majority over judges;
    ``"call_majority"``: every call one vote; ``"mean"``, ``"weighted"``, ``"dawid_skene"``) or a
    function judgments -> outcomes, checked on a synthetic table before the first call (not with a
    Jury, which has its own rule: ConfigError). See docs/juries.md.
    """
    return run_sync(arank_pairs(pairs, judges, order=order, seed=seed, store=store, aggregate=aggregate,
                                progress=progress))


def judge_meta(judge: Judge) -> dict:
    """Provenance of a judge (no secrets: the base_url without its credentials)."""
    from prefjudge.secrets import redact_url

    t = judge.load_template()
    return {"name": judge.name, "model": judge.model, "backend": judge.backend, "family": judge.family,
            "template": judge.template, "template_sha256": t.sha256, "mode": judge.verdict_mode,
            "temperature": judge.temperature, "base_url": redact_url(judge.base_url)}


def build_result(plist: list[Pair], judgments: list[Judgment], aggregator: Callable, meta: dict) -> RankResult:
    import pandas as pd

    from prefjudge.judgments import judgments_frame

    table = judgments_frame([j.row() for j in judgments])  # object columns: failures are None, never NaN
    if judgments:
        table["cached"] = [j.cached for j in judgments]
    pairs_df = pd.DataFrame([_pair_row(p) for p in plist])
    outcomes = aggregator(table) if len(table) else pd.DataFrame(columns=["winner", "p_a", "n_verdicts", "n_failed", "consistent", "reason"])
    return RankResult(pairs=pairs_df, judgments=table, outcomes=outcomes, meta=meta)


def _pair_row(p: Pair) -> dict:
    row = {"id": p.id, "prompt": p.prompt if isinstance(p.prompt, str) else [m.model_dump() for m in p.prompt],
           "response_a": p.response_a, "response_b": p.response_b, "system": p.system,
           "model_a": p.model_a, "model_b": p.model_b, "human": p.human, "identical": p.identical}
    row.update(p.meta)
    return row
