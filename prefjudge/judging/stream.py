"""The streaming engine: judge pairs read one by one through a bounded window of calls in flight.

Nothing is created per call up front: a fixed pool of workers (``max_in_flight``, by default four
times the judges' total ``max_concurrency``) takes the next (judge, pair, order) from a lazy
iterator, makes the call (through the one :class:`~prefjudge.judging.engine.Engine` of the run,
which stores every finished call at once), and hands the judgment on. Memory is bounded by the
window, not by the number of pairs: results leave through a queue as they finish, to be yielded
(:func:`prefjudge.iter_judgments`), written to parquet parts (``rank_pairs(out=...)``), or
collected (``rank_pairs`` without ``out=``, whose result holds every judgment anyway).

One :class:`Run` is one engine, one budget and one progress bar; ``rank_responses`` keeps one Run
for all its rounds.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Iterator
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from prefjudge.errors import InputError
from prefjudge.judging.engine import Engine
from prefjudge.judging.judge import Judge, display_orders, to_original
from prefjudge.judging.progress import ProgressBar
from prefjudge.judging.store import Store
from prefjudge.types import Judgment, Order, Pair

if TYPE_CHECKING:
    import pandas as pd

    from prefjudge.judging.budget import Budget

log = logging.getLogger("prefjudge")
T = TypeVar("T")
R = TypeVar("R")

WINDOW_PER_SLOT = 4
"""Default ``max_in_flight``: this many times the judges' total ``max_concurrency``."""
ROWS_PER_FILE = 10_000
"""Rows per parquet part written by ``out=`` (``judgments-00000.parquet``, ...)."""
NOT_JUDGED_COLUMNS = ("pair_id", "judge", "order", "kind", "reason")


@dataclass(frozen=True)
class NotJudged:
    """A call that was not made, and why (``"budget: max_calls=100"``)."""

    pair_id: str
    judge: str | None
    order: str | None
    kind: str
    reason: str

    def row(self) -> dict[str, Any]:
        return {"pair_id": self.pair_id, "judge": self.judge, "order": self.order, "kind": self.kind,
                "reason": self.reason}


@dataclass
class Done:
    """One finished work item: its position in the work order, its judgment (None when its call was
    not made), the calls not made, and the dollars newly spent on it."""

    seq: int
    judgment: Judgment | None
    skipped: list[NotJudged] = field(default_factory=list)
    cost: float | None = None


def _sum(values: Iterable[Any]) -> Any:
    vals = [v for v in values if v is not None]
    return sum(vals) if vals else None


async def judge_one(engine: Engine, judge: Judge, pair: Pair, order: Order, seq: int = 0) -> Done:
    """One judgment: render in ``order``, call, parse, re-ask once if unreadable, map back to a/b.

    A call the budget refuses is not made: without the first call there is no judgment; without
    the re-ask the judgment keeps its unreadable verdict and says why no re-ask was made.
    """
    template = engine.template(judge)
    messages = judge.render(pair, order, template=template)
    params = engine.params(judge)
    out = await engine.complete(judge, messages, params)
    if out.skipped is not None:
        return Done(seq, None, [NotJudged(pair.id, judge.name, order, "judge", out.skipped)])
    raw, error, verdict = None, out.error, None
    calls = [out]
    skipped: list[NotJudged] = []
    if out.completion is not None:
        raw = out.completion.text
        verdict = judge.parse(out.completion, pair, order, template=template)
        followup = None if verdict.ok else judge.followup(pair, order, verdict, template=template)
        if followup is not None:
            ask, read = followup
            follow = messages + [{"role": "assistant", "content": raw}, {"role": "user", "content": ask}]
            again = await engine.complete(judge, follow, params, kind="reask")
            if again.skipped is not None:
                skipped.append(NotJudged(pair.id, judge.name, order, "reask", again.skipped))
            else:
                calls.append(again)
                if again.completion is not None:
                    raw = f"{raw}\n\n[re-ask]\n{again.completion.text}"
                    retry_verdict = read(again.completion)
                    verdict = retry_verdict if retry_verdict.ok else verdict
        error = None if verdict.ok else (verdict.error if calls[-1].error is None else calls[-1].error)
        if error is not None and skipped:
            error = f"{error} (no re-ask: {skipped[0].reason})"
    winner, p_a = to_original(verdict, order) if verdict is not None else (None, None)
    judgment = Judgment(
        pair_id=pair.id, prompt=pair.prompt, response_a=pair.response_a, response_b=pair.response_b,
        model_a=pair.model_a, model_b=pair.model_b, judge=judge.name, judge_family=judge.family,
        order=order, winner=winner, p_a=p_a, raw=raw, error=error,
        latency_s=_sum(c.latency_s for c in calls), prompt_tokens=_sum(c.completion and c.completion.prompt_tokens for c in calls),
        completion_tokens=_sum(c.completion and c.completion.completion_tokens for c in calls),
        cost_usd=_sum(c.cost_usd for c in calls), human=pair.human, cached=all(c.cached for c in calls),
    )
    return Done(seq, judgment, skipped, _sum(c.cost_usd for c in calls if not c.cached))


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


_FINISHED = object()


async def bounded(items: Iterator[T], fn: Callable[[T], Awaitable[R]], window: int) -> AsyncGenerator[R, None]:
    """``fn(item)`` for every item, at most ``window`` at once, yielded as they finish.

    ``items`` is read lazily (by the workers, one item at a time); an exception from it or from
    ``fn`` stops the workers and is raised here. Finished results wait in a queue of ``window``
    places, so a slow consumer holds the workers back instead of piling results up.
    """
    queue: asyncio.Queue = asyncio.Queue(maxsize=window)
    state = {"exhausted": False}

    async def worker() -> None:
        try:
            while not state["exhausted"]:
                try:
                    item = next(items)
                except StopIteration:
                    state["exhausted"] = True
                    break
                await queue.put(await fn(item))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # handed to the consumer, which raises it
            state["exhausted"] = True
            await queue.put(_Failure(exc))
        await queue.put(_FINISHED)

    workers = [asyncio.ensure_future(worker()) for _ in range(max(1, window))]
    try:
        running = len(workers)
        while running:
            got = await queue.get()
            if got is _FINISHED:
                running -= 1
            elif isinstance(got, _Failure):
                raise got.exc
            else:
                yield got
    finally:
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


def check_window(max_in_flight: Any) -> int | None:
    if max_in_flight is None:
        return None
    if not isinstance(max_in_flight, int) or isinstance(max_in_flight, bool) or max_in_flight < 1:
        raise InputError(f"max_in_flight must be a positive integer, not {max_in_flight!r}", field="max_in_flight")
    return max_in_flight


class Run:
    """One run: a store, one engine (clients, semaphores and rate limiters per endpoint), an optional
    budget and one progress bar. ``async with Run(...)`` closes the clients (and the store it opened)."""

    def __init__(self, store: Store | str | Path | None, callers: list[Any], *, budget: Budget | None = None,
                 max_in_flight: int | None = None, progress: bool | None = None, description: str = "judging",
                 total: int | None = None):
        self.store = store if isinstance(store, Store) else Store(store)
        self._owned = self.store is not store
        self.budget = budget
        self.engine = Engine(self.store, budget)
        self.callers = callers
        self.window = check_window(max_in_flight) or WINDOW_PER_SLOT * self.engine.max_concurrency(callers)
        self.bar = ProgressBar(total, description, progress)

    async def __aenter__(self) -> Run:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self.bar.close()
        try:
            await self.engine.aclose()
        finally:
            if self._owned:
                self.store.close()

    async def map(self, items: Iterator[T], fn: Callable[[T], Awaitable[R]]) -> AsyncGenerator[R, None]:
        async with aclosing(bounded(items, fn, self.window)) as results:
            async for r in results:
                yield r

    async def judge(self, work: Iterator[tuple[int, Judge, Pair, Order]]) -> AsyncGenerator[Done, None]:
        """Judge every (seq, judge, pair, order) of ``work``; yields each :class:`Done` as it finishes."""
        engine, bar = self.engine, self.bar

        async def one(item: tuple[int, Judge, Pair, Order]) -> Done:
            seq, judge, pair, order = item
            done = await judge_one(engine, judge, pair, order, seq)
            failed = done.judgment is None or done.judgment.winner is None
            bar.advance(failed=failed, cost=done.cost)
            return done

        async with aclosing(bounded(work, one, self.window)) as results:  # stopped early: the workers stop too
            async for done in results:
                yield done

    def stopped_reason(self) -> str | None:
        return None if self.budget is None or not self.budget.stopped else "; ".join(self.budget.stopped)


def work_items(pairs: Iterable[Pair], judges: list[Judge], seed: int, order: str,
               on_pair: Callable[[Pair], None] | None = None) -> Iterator[tuple[int, Judge, Pair, Order]]:
    """(seq, judge, pair, order) in the order ``rank_pairs`` always used: pairs, then judges, then
    display orders. Identical pairs are passed to ``on_pair`` but not judged."""
    seq = 0
    for p in pairs:
        if on_pair is not None:
            on_pair(p)
        if p.identical:
            continue
        for j in judges:
            for o in display_orders(p.id, j.name, seed, order):  # type: ignore[arg-type]
                yield seq, j, p, o
                seq += 1


def calls_per_pair(judges: list[Judge], order: str) -> int:
    return len(judges) * (2 if order == "both" else 1)


def pair_row(p: Pair) -> dict:
    row = {"id": p.id, "prompt": p.prompt if isinstance(p.prompt, str) else [m.model_dump() for m in p.prompt],
           "response_a": p.response_a, "response_b": p.response_b, "system": p.system,
           "model_a": p.model_a, "model_b": p.model_b, "human": p.human, "identical": p.identical}
    row.update(p.meta)
    return row


def not_judged_frame(rows: list[NotJudged]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame([r.row() for r in rows], columns=list(NOT_JUDGED_COLUMNS), dtype=object)


def budget_meta(budget: Budget | None, skipped: pd.DataFrame | None) -> dict[str, Any] | None:
    if budget is None:
        return None
    n = 0 if skipped is None else len(skipped)
    pairs = 0 if skipped is None or not n else int(skipped["pair_id"].nunique())
    return {**budget.summary(), "n_calls_not_made": n, "n_pairs_not_judged": pairs}


# -- out=: parquet parts --------------------------------------------------------------------------------
OUR_FILES = ("pairs-[0-9]*.parquet", "judgments-[0-9]*.parquet", "not_judged-[0-9]*.parquet",
             "outcomes-[0-9]*.parquet", "meta.json", "*.parquet.tmp")


def prepare_folder(out: str | Path) -> Path:
    """``out`` created if needed; the files of an earlier run there (ours only) removed."""
    folder = Path(out).expanduser()
    if folder.exists() and not folder.is_dir():
        raise InputError(f"out={str(out)!r} is a file; give a folder for the parquet parts", field="out")
    folder.mkdir(parents=True, exist_ok=True)
    for pattern in OUR_FILES:
        for f in folder.glob(pattern):
            f.unlink()
    return folder


class PartWriter:
    """Rows of one table, written as ``{name}-00000.parquet``, ``{name}-00001.parquet``... every
    ``rows_per_file`` rows (and at :meth:`close`)."""

    def __init__(self, folder: Path, name: str, frame: Callable[[list[dict]], pd.DataFrame],
                 rows_per_file: int | None = None):
        self.folder, self.name, self.frame = folder, name, frame
        self.rows_per_file = rows_per_file or ROWS_PER_FILE
        self.rows: list[dict] = []
        self.parts = 0
        self.count = 0

    def add(self, row: dict) -> None:
        self.rows.append(row)
        self.count += 1
        if len(self.rows) >= self.rows_per_file:
            self.flush()

    def flush(self) -> None:
        from prefjudge.result import write_frame

        if not self.rows:
            return
        write_frame(self.frame(self.rows), self.folder / f"{self.name}-{self.parts:05d}.parquet")
        self.parts += 1
        self.rows = []

    close = flush


def judgments_part(rows: list[dict]) -> pd.DataFrame:
    from prefjudge.judgments import judgments_frame

    df = judgments_frame([{k: v for k, v in r.items() if k not in ("cached", "call_index")} for r in rows])
    df["cached"] = [r["cached"] for r in rows]
    df["call_index"] = [r["call_index"] for r in rows]
    return df


def pairs_part(rows: list[dict]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(rows)


def not_judged_part(rows: list[dict]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(rows, columns=list(NOT_JUDGED_COLUMNS), dtype=object)


AGGREGATION_COLUMNS = ["pair_id", "judge", "judge_family", "order", "winner", "p_a", "model_a", "model_b", "human"]
"""What a built-in rule reads of the judgments; ``out=`` runs aggregate from these columns of the parts."""


LOCAL_RULES = ("majority", "call_majority", "mean")
"""Rules whose outcome for a pair depends on that pair's judgments only: aggregated chunk by chunk."""
AGGREGATE_ROWS = 50_000
"""Judgments per chunk when a local rule aggregates the parts (a pair's calls are never split)."""


def aggregate_parts(folder: Path, jury: Any, aggregator: Callable[[pd.DataFrame], pd.DataFrame]) -> dict[str, Any]:
    """Outcomes of the judgments parts in ``folder``, written as ``outcomes-00000.parquet``...;
    returns what reading them back needs (for meta.json).

    A local rule (:data:`LOCAL_RULES`, or ``"weighted"`` with given weights) reads the columns it
    needs as one Arrow table and aggregates it a chunk of whole pairs at a time, so memory does not
    grow with the run. Any other rule (estimated reliabilities, Dawid-Skene, a custom function)
    needs every judgment at once: the built-in ones get the columns they read, a custom function
    the whole table.
    """
    import pandas as pd
    import pyarrow as pa

    from prefjudge.judgments import as_objects
    from prefjudge.result import read_judgments_arrow, read_judgments_parts, write_outcomes
    from prefjudge.types import OUTCOME_COLUMNS

    rule = getattr(jury, "aggregate", None)
    local = rule in LOCAL_RULES or (rule == "weighted" and getattr(jury, "weights", None) is not None)
    table = read_judgments_arrow(folder, AGGREGATION_COLUMNS) if local else None
    if table is None:
        builtin = isinstance(rule, str)
        frame = read_judgments_parts(folder, AGGREGATION_COLUMNS if builtin else None)
        outcomes = aggregator(frame) if len(frame) else pd.DataFrame(columns=list(OUTCOME_COLUMNS))
        del frame
        return write_outcomes(outcomes, folder / "outcomes-00000.parquet")
    info = None
    pid = table.column("pair_id")
    start, n, part = 0, table.num_rows, 0
    while start < n:
        end = min(start + AGGREGATE_ROWS, n)
        while end < n and pid[end].as_py() == pid[end - 1].as_py():
            end += 1  # the calls of one pair are consecutive: never split them
        chunk = as_objects(table.slice(start, end - start).to_pandas())
        info = write_outcomes(aggregator(chunk), folder / f"outcomes-{part:05d}.parquet", info)
        start, part = end, part + 1
        pa.default_memory_pool().release_unused()
    if info is None:
        info = write_outcomes(pd.DataFrame(columns=list(OUTCOME_COLUMNS)), folder / "outcomes-00000.parquet")
    return info


def write_meta(folder: Path, meta: dict[str, Any]) -> None:
    tmp = folder / "meta.json.tmp"
    tmp.write_text(json.dumps(meta, indent=1, default=str), encoding="utf-8")
    tmp.replace(folder / "meta.json")
