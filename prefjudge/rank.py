"""``rank_pairs``: judge every pair with every judge in the chosen display order(s)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .majority import majority
from .engine import Engine
from .errors import InputError
from .judge import REASK, Judge, display_orders, to_original
from .pairs import normalize_pairs
from .progress import ProgressBar
from .result import RankResult
from .store import Store
from .types import Judgment, Order, Pair

if TYPE_CHECKING:
    import pandas as pd

REASK_JSON = 'Reply again with only the JSON object {"comparison": "...", "verdict": "A" | "B" | "tie"}.'


def run_sync(coro):
    """Run a coroutine from sync code, also inside a notebook that already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def resolve_judges(judges: Any, aggregate: Callable | None) -> tuple[list[Judge], Callable, str]:
    """Judges to ask and the aggregator: a Judge, a list of them, or a Jury (``.judges`` + ``.aggregate_table``)."""
    if hasattr(judges, "aggregate_table") and hasattr(judges, "judges"):
        judge_list = list(judges.judges)
        agg = aggregate or judges.aggregate_table
        name = getattr(judges, "rule_name", type(judges).__name__)
    else:
        judge_list = [judges] if isinstance(judges, Judge) else list(judges or [])
        agg = aggregate or majority
        name = getattr(agg, "__name__", "custom")
    if not judge_list:
        raise InputError("no judges given")
    for j in judge_list:
        if not isinstance(j, Judge):
            raise InputError(f"judges must be prefjudge.Judge objects, got {type(j).__name__}", field="judges")
    names = [j.name for j in judge_list]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise InputError(f"judge names must be unique; repeated: {sorted(dupes)} (set name=...)", field="judges")
    return judge_list, agg, name


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
        if not verdict.ok and judge.reask and judge.verdict_mode != "logprob":
            ask = REASK_JSON if judge.verdict_mode == "json" else REASK
            follow = messages + [{"role": "assistant", "content": raw}, {"role": "user", "content": ask}]
            again = await engine.complete(judge, follow, params, kind="reask")
            calls.append(again)
            if again.completion is not None:
                raw = f"{raw}\n\n[re-ask]\n{again.completion.text}"
                retry_verdict = judge.parse(again.completion, pair, order)
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
    pairs: Any,
    judges: Judge | Sequence[Judge] | Any,
    *,
    order: str = "random",
    seed: int = 0,
    store: str | Store | None = None,
    aggregate: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    progress: bool | None = None,
) -> RankResult:
    """Async :func:`rank_pairs`."""
    if order not in ("random", "both", "fixed"):
        raise InputError(f"order must be 'random', 'both' or 'fixed', not {order!r}", field="order")
    plist = normalize_pairs(pairs)
    judge_list, aggregator, agg_name = resolve_judges(judges, aggregate)
    for j in judge_list:
        j.load_template()  # a bad template fails before the first call
    owned = not isinstance(store, Store)
    st = Store(store) if owned else store
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
    return build_result(plist, judgments, aggregator, meta={
        "judges": [judge_meta(j) for j in judge_list], "order": order, "seed": seed, "aggregate": agg_name,
        "n_pairs": len(plist), "n_calls_made": engine.calls_made, "n_calls_cached": engine.calls_cached,
        "store": str(st.path) if st.path else None,
    })


def rank_pairs(pairs: Any, judges: Any, **kwargs: Any) -> RankResult:
    """Judge ``pairs`` with ``judges`` and return a :class:`RankResult`.

    ``pairs``: list of dicts, DataFrame or Dataset with prompt, response_a, response_b (optional id,
    system, model_a, model_b, human). ``judges``: a Judge, a list of Judges or a Jury. ``order``:
    ``"random"`` (seeded per pair and judge, recorded), ``"both"`` or ``"fixed"``. ``store``: SQLite
    path that makes reruns resume without repeating finished calls (``None``: in memory).
    """
    return run_sync(arank_pairs(pairs, judges, **kwargs))


def judge_meta(judge: Judge) -> dict:
    """Provenance of a judge (no secrets)."""
    t = judge.load_template()
    return {"name": judge.name, "model": judge.model, "backend": judge.backend, "family": judge.family,
            "template": judge.template, "template_sha256": t.sha256, "mode": judge.verdict_mode,
            "temperature": judge.temperature, "base_url": judge.base_url}


def build_result(plist: list[Pair], judgments: list[Judgment], aggregator: Callable, meta: dict) -> RankResult:
    import pandas as pd

    from .judgments import empty_judgments

    table = pd.DataFrame([j.row() for j in judgments]) if judgments else empty_judgments()
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
