"""``generate``: candidate answers from several models, through the same engine as judging.

Each generator is a :class:`prefjudge.Generator` (an endpoint + sampling settings): calls go through
:class:`prefjudge.judging.engine.Engine`, so they share the store (reruns read finished answers back), the
retry policy, rate limits and cost tracking. The output has one row per candidate and is what
``rank_responses`` takes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union

from prefjudge.content import content_id
from prefjudge.errors import InputError
from prefjudge.formatting.rows import check_prompt, clean_optional, is_missing, to_frame
from prefjudge.textcheck import check_chars

if TYPE_CHECKING:
    import datasets
    import pandas as pd

    from prefjudge.curate.generator import Generator
    from prefjudge.judging.engine import Engine
    from prefjudge.judging.rank_pairs import StoreInput

    #: strings, chat message lists, dicts with ``prompt`` (optional ``prompt_id``, ``system``), or a table
    PromptsInput = Union[pd.DataFrame, datasets.Dataset,
                         Iterable[Union[str, Sequence[Mapping[str, Any]], Mapping[str, Any]]]]

#: Columns of the generate output, one row per (prompt, generator, sample).
GENERATION_COLUMNS = (
    "prompt_id", "prompt", "system", "response", "model", "sample", "temperature", "finish_reason", "error",
    "prompt_tokens", "completion_tokens", "cost_usd", "latency_s", "cached",
)


def normalize_prompts(prompts: Any, system: str | None = None) -> list[dict[str, Any]]:
    """Prompts as dicts (prompt_id, prompt, system) from strings, message lists, dicts or a table."""
    if isinstance(prompts, str):
        raise InputError("prompts must be a list of prompts, not one string", field="prompts")
    if isinstance(prompts, Sequence) and all(isinstance(p, (str, list)) for p in prompts):
        rows = [{"prompt": p} for p in prompts]
    else:
        df = to_frame(prompts)
        if "prompt" not in df.columns:
            raise InputError(f"prompts need a 'prompt' column; got {list(df.columns)}", field="prompt")
        rows = df.to_dict("records")
    if not rows:
        raise InputError("no prompts given", field="prompts")
    out, seen = [], set()
    for i, r in enumerate(rows):
        prompt = check_prompt(r["prompt"], i)
        sys_ = clean_optional(r.get("system")) or system
        if sys_ is not None and not isinstance(sys_, str):
            raise InputError(f"expected a string, got {type(sys_).__name__}", row=i, field="system")
        check_chars(sys_, i, "system")
        pid = content_id(prompt, sys_) if is_missing(r.get("prompt_id")) else check_chars(str(r["prompt_id"]), i, "prompt_id")
        if pid in seen:
            raise InputError(f"prompt_id {pid!r} appears twice", row=i, field="prompt_id")
        seen.add(pid)
        out.append({"prompt_id": pid, "prompt": prompt, "system": sys_})
    return out


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
             progress: bool | None = None) -> pd.DataFrame:
    """``n`` answers per prompt from each generator; see :func:`agenerate`."""
    from prefjudge.curate.generator import as_generators
    from prefjudge.judging.rank_pairs import run_sync

    generators = as_generators(generators)
    return run_sync(agenerate(prompts, generators, n, temperature, system=system, seed=seed, store=store,
                              max_tokens=max_tokens, progress=progress))


async def agenerate(prompts: PromptsInput, generators: Generator | Sequence[Generator], n: int = 1,
                    temperature: float | Sequence[float] | None = None, *, system: str | None = None, seed: int | None = 0,
                    store: StoreInput = None, max_tokens: int | None = None,
                    progress: bool | None = None) -> pd.DataFrame:
    """Candidate answers: one row per (prompt, generator, sample) with the columns of :data:`GENERATION_COLUMNS`.

    ``prompts``: strings, chat message lists, dicts or a table with ``prompt`` (optional ``prompt_id``,
    ``system``). ``generators``: Generator objects (their ``temperature``, ``max_tokens`` and ``params``
    are the per-model sampling settings; Judge objects still work, with a DeprecationWarning).
    ``temperature``: one value, or one per sample
    (``n`` values), overriding the generators'. ``seed``: sample k is requested with seed ``seed + k``
    (distinct, reproducible samples where the server honours it; None sends no seed).
    A generation that fails for good is a row with ``response`` None and ``error`` set.
    """
    import pandas as pd

    from prefjudge.judging.engine import Engine
    from prefjudge.judging.progress import ProgressBar
    from prefjudge.judging.store import Store

    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise InputError(f"n must be a positive integer, not {n!r}", field="n")
    rows = normalize_prompts(prompts, system)
    from prefjudge.curate.generator import as_generators

    gens = _check_generators(as_generators(generators))
    work = [(p, g, k, t) for p in rows for g in gens for k, t in enumerate(_temperatures(temperature, n, g))]
    st = store if isinstance(store, Store) else Store(store)
    owned = st is not store
    engine = Engine(st)
    bar = ProgressBar(len(work), "generating", progress)
    try:
        out = await asyncio.gather(*(_one(engine, p, g, k, t, seed, max_tokens, bar) for p, g, k, t in work))
    finally:
        bar.close()
        await engine.aclose()
        if owned:
            st.close()
    return pd.DataFrame(out, columns=list(GENERATION_COLUMNS))


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
    bar.advance(failed=text is None)
    return {"prompt_id": p["prompt_id"], "prompt": p["prompt"], "system": p["system"], "response": text,
            "model": gen.name, "sample": k, "temperature": temp, "finish_reason": c.finish_reason if c else None,
            "error": error, "prompt_tokens": c.prompt_tokens if c else None,
            "completion_tokens": c.completion_tokens if c else None, "cost_usd": res.cost_usd,
            "latency_s": res.latency_s, "cached": res.cached}
