"""``generate``: candidate answers from several models, through the same engine as judging.

Each generator is a :class:`prefjudge.Generator` (an endpoint + sampling settings): calls go through
:class:`prefjudge.judging.engine.Engine`, so they share the store (reruns read finished answers back), the
retry policy, rate limits and cost tracking. The output has one row per candidate and is what
``rank_responses`` takes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union

from prefjudge.content import content_id
from prefjudge.errors import InputError
from prefjudge.formatting.rows import check_prompt, clean_optional, is_missing
from prefjudge.textcheck import check_chars

if TYPE_CHECKING:
    from pathlib import Path

    import datasets
    import pandas as pd

    from prefjudge.curate.generator import Generator
    from prefjudge.judging.engine import Engine
    from prefjudge.judging.rank_pairs import MaxCalls, MaxCost, StoreInput

    #: strings, chat message lists, dicts with ``prompt`` (optional ``prompt_id``, ``system``), or a table
    PromptsInput = Union[pd.DataFrame, datasets.Dataset, datasets.IterableDataset, str, Path,
                         Iterable[Union[str, Sequence[Mapping[str, Any]], Mapping[str, Any]]]]

#: Columns of the generate output, one row per (prompt, generator, sample).
GENERATION_COLUMNS = (
    "prompt_id", "prompt", "system", "response", "model", "sample", "temperature", "finish_reason", "error",
    "prompt_tokens", "completion_tokens", "cost_usd", "latency_s", "cached",
)


def normalize_prompts(prompts: Any, system: str | None = None) -> list[dict[str, Any]]:
    """Prompts as dicts (prompt_id, prompt, system) from strings, message lists, dicts or a table."""
    rows = list(iter_prompts(prompts, system))
    if not rows:
        raise InputError("no prompts given", field="prompts")
    return rows


def iter_prompts(prompts: Any, system: str | None = None, shard: tuple[int, int] | None = None) -> Iterator[dict[str, Any]]:
    """Prompts one by one, read lazily (a list, any iterable, a table, a Dataset, a .jsonl/.parquet path).

    Each row is a prompt (a string or a chat message list) or a dict with ``prompt`` (optional
    ``prompt_id``, ``system``). Every row is checked (errors name the row and the field); only the
    prompts of ``shard`` (by prompt_id) are yielded. prompt_ids must be unique.
    """
    from prefjudge.judging.inputs import is_path, iter_rows
    from prefjudge.judging.pairs import IdSet
    from prefjudge.judging.shard import in_shard

    if isinstance(prompts, str) and not is_path(prompts):
        raise InputError("prompts must be a list of prompts, not one string", field="prompts")
    columns = getattr(prompts, "columns", None) if hasattr(prompts, "iloc") else getattr(prompts, "column_names", None)
    if columns is not None and "prompt" not in [str(c) for c in columns]:
        raise InputError(f"prompts need a 'prompt' column; got {[str(c) for c in columns]}", field="prompt")
    seen = IdSet()
    for i, r in enumerate(iter_rows(prompts, "prompts")):
        if isinstance(r, (str, list)):
            r = {"prompt": r}
        elif not isinstance(r, Mapping):
            raise InputError(f"expected a prompt (a string or a message list) or a dict per row, got {type(r).__name__}",
                             row=i, field="prompt")
        elif i == 0 and "prompt" not in r:
            raise InputError(f"prompts need a 'prompt' column; got {[str(k) for k in r]}", field="prompt")
        prompt = check_prompt(r.get("prompt"), i)
        sys_ = clean_optional(r.get("system")) or system
        if sys_ is not None and not isinstance(sys_, str):
            raise InputError(f"expected a string, got {type(sys_).__name__}", row=i, field="system")
        check_chars(sys_, i, "system")
        pid = content_id(prompt, sys_) if is_missing(r.get("prompt_id")) else check_chars(str(r["prompt_id"]), i, "prompt_id")
        if not in_shard(pid, shard):
            continue
        if seen.add(pid, i) is not None:
            raise InputError(f"prompt_id {pid!r} appears twice", row=i, field="prompt_id")
        yield {"prompt_id": pid, "prompt": prompt, "system": sys_}


def _temperatures(temperature: float | Sequence[float] | None, n: int, gen: Generator) -> list[float]:
    if temperature is None:
        return [gen.temperature] * n
    if isinstance(temperature, (int, float)):
        return [float(temperature)] * n
    temps = [float(t) for t in temperature]
    if len(temps) != n:
        raise InputError(f"temperature has {len(temps)} values for n={n} samples; give one per sample", field="temperature")
    return temps


def _messages(p: dict[str, Any]) -> list[dict[str, str]]:
    msgs = [{"role": "user", "content": p["prompt"]}] if isinstance(p["prompt"], str) else [dict(m) for m in p["prompt"]]
    if p["system"] and msgs[0]["role"] != "system":
        msgs.insert(0, {"role": "system", "content": p["system"]})
    return msgs


def generate(prompts: PromptsInput, generators: Generator | Sequence[Generator], n: int = 1,
             temperature: float | Sequence[float] | None = None, *, system: str | None = None, seed: int | None = 0,
             store: StoreInput = None, max_tokens: int | None = None,
             progress: bool | None = None, max_cost_usd: MaxCost | None = None, max_calls: MaxCalls | None = None,
             shard: tuple[int, int] | None = None, max_in_flight: int | None = None) -> pd.DataFrame:
    """``n`` answers per prompt from each generator; see :func:`agenerate`."""
    from prefjudge.curate.generator import as_generators
    from prefjudge.judging.rank_pairs import run_sync

    generators = as_generators(generators)
    return run_sync(agenerate(prompts, generators, n, temperature, system=system, seed=seed, store=store,
                              max_tokens=max_tokens, progress=progress, max_cost_usd=max_cost_usd,
                              max_calls=max_calls, shard=shard, max_in_flight=max_in_flight))


async def agenerate(prompts: PromptsInput, generators: Generator | Sequence[Generator], n: int = 1,
                    temperature: float | Sequence[float] | None = None, *, system: str | None = None, seed: int | None = 0,
                    store: StoreInput = None, max_tokens: int | None = None,
                    progress: bool | None = None, max_cost_usd: MaxCost | None = None,
                    max_calls: MaxCalls | None = None, shard: tuple[int, int] | None = None,
                    max_in_flight: int | None = None) -> pd.DataFrame:
    """Candidate answers: one row per (prompt, generator, sample) with the columns of :data:`GENERATION_COLUMNS`.

    ``prompts``: strings, chat message lists, dicts or a table with ``prompt`` (optional ``prompt_id``,
    ``system``), as a list, any iterable (read lazily), a DataFrame, a Dataset/IterableDataset or a
    .jsonl/.parquet path. ``generators``: Generator objects (their ``temperature``, ``max_tokens`` and ``params``
    are the per-model sampling settings; Judge objects still work, with a DeprecationWarning).
    ``temperature``: one value, or one per sample
    (``n`` values), overriding the generators'. ``seed``: sample k is requested with seed ``seed + k``
    (distinct, reproducible samples where the server honours it; None sends no seed).
    A generation that fails for good is a row with ``response`` None and ``error`` set.

    ``max_cost_usd``/``max_calls``: a limit for the run or a mapping generator name -> limit; a
    generation the limit refuses is not requested and is a row with ``response`` None and ``error``
    ``"budget: ..."`` (``df.attrs["budget"]`` sums up). ``shard=(i, n)``: only the prompts whose
    prompt_id hashes to ``i`` of ``n`` (``df.attrs["shard"]``). Calls go through a window of
    ``max_in_flight`` (default four times the generators' total ``max_concurrency``); the table is
    returned in input order.
    """
    from contextlib import aclosing

    import pandas as pd

    from prefjudge.judging.budget import Budget
    from prefjudge.judging.inputs import is_path, known_length
    from prefjudge.judging.shard import parse_shard
    from prefjudge.judging.stream import Run, check_window

    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise InputError(f"n must be a positive integer, not {n!r}", field="n")
    part = parse_shard(shard)
    check_window(max_in_flight)
    n_rows = known_length(prompts)
    if n_rows is not None and not is_path(prompts):
        normalize_prompts(prompts, system)  # a list or a table: every row checked before the first call
    from prefjudge.curate.generator import as_generators

    gens = _check_generators(as_generators(generators))
    temps = {g.name: _temperatures(temperature, n, g) for g in gens}
    money = Budget.for_judges(gens, max_cost_usd, max_calls)  # type: ignore[arg-type]
    total = None if n_rows is None else n_rows * len(gens) * n // (part[1] if part else 1)
    rows_read = {"n": 0}

    def work() -> Iterator[tuple[int, dict, Generator, int, float]]:
        seq = 0
        for p in iter_prompts(prompts, system, part):
            rows_read["n"] += 1
            for g in gens:
                for k, t in enumerate(temps[g.name]):
                    yield seq, p, g, k, t
                    seq += 1

    out: list[tuple[int, dict[str, Any]]] = []
    async with Run(store, gens, budget=money, max_in_flight=max_in_flight, progress=progress,
                   description="generating", total=total) as run:
        engine, bar = run.engine, run.bar

        async def one(item: tuple[int, dict, Generator, int, float]) -> tuple[int, dict[str, Any]]:
            seq, p, g, k, t = item
            return seq, await _one(engine, p, g, k, t, seed, max_tokens, bar)

        async with aclosing(run.map(work(), one)) as results:
            async for item in results:
                out.append(item)
    if not rows_read["n"] and part is None:
        raise InputError("no prompts given", field="prompts")  # an empty file or generator
    out.sort(key=lambda x: x[0])
    df = pd.DataFrame([r for _, r in out], columns=list(GENERATION_COLUMNS))
    if part is not None:
        df.attrs["shard"] = list(part)
    if money is not None:
        not_made = int(df["error"].astype(str).str.startswith("budget:").sum()) if len(df) else 0
        df.attrs["budget"] = {**money.summary(), "n_calls_not_made": not_made}
    return df


def _check_generators(gens: list[Generator]) -> list[Generator]:
    if not gens:
        raise InputError("no generators given", field="generators")
    for g in gens:
        g.preflight()
    names = [g.name for g in gens]
    if len(set(names)) != len(names):
        raise InputError(f"generator names must be unique: {names} (set name=...)", field="generators")
    return gens


async def _one(engine: Engine, p: dict, gen: Generator, k: int, temp: float, seed: int | None, max_tokens: int | None,
               bar: Any) -> dict[str, Any]:
    from prefjudge.backends.base import CallParams

    extra = dict(gen.params)
    if seed is not None and "seed" not in extra:
        extra["seed"] = seed + k
    params = CallParams(temperature=temp, max_tokens=max_tokens or gen.max_tokens, n_index=k, extra=extra)
    res = await engine.complete(gen, _messages(p), params, kind="generate")
    c = res.completion
    text = c.text if c is not None and c.text.strip() else None
    error = res.error or (None if text is not None else "the model returned an empty answer")
    bar.advance(failed=text is None, cost=None if res.cached else res.cost_usd)
    return {"prompt_id": p["prompt_id"], "prompt": p["prompt"], "system": p["system"], "response": text,
            "model": gen.name, "sample": k, "temperature": temp, "finish_reason": c.finish_reason if c else None,
            "error": error, "prompt_tokens": c.prompt_tokens if c else None,
            "completion_tokens": c.completion_tokens if c else None, "cost_usd": res.cost_usd,
            "latency_s": res.latency_s, "cached": res.cached}
