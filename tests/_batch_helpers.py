"""Shared by the batch tests and the process they kill: judges, pairs and requests built the same way."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import prefjudge as pj
from prefjudge.judging.batch import BatchRequest, prefill
from prefjudge.judging.engine import Engine
from prefjudge.judging.pairs import normalize_pairs
from prefjudge.judging.store import Store

#: The simulated model of each provider: names litellm's price map knows, so the batch price is recorded.
MODEL = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5"}


def make_judge(provider: str, base_url: str, *, priced: bool = True, **fields) -> pj.Judge:
    """A judge whose calls go to the simulator: priced (litellm backend, ``provider/model``: litellm's
    price map applies), or an unpriced openai-backend judge (its live calls need no litellm)."""
    if not priced:
        return pj.Judge(MODEL[provider], base_url=base_url, api_key="sk-test-key-123", name=f"{provider}-judge", **fields)
    return pj.Judge(f"{provider}/{MODEL[provider]}", backend="litellm", base_url=base_url, api_key="sk-test-key-123",
                    name=f"{provider}-judge", **fields)


def load_pairs(path: str | Path):
    return normalize_pairs(json.loads(Path(path).read_text()))


def save_pairs(pairs: list[dict], path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps([{k: v for k, v in p.items() if not k.startswith("quality")} for p in pairs]))
    return path


def requests_for(engine: Engine, judge: pj.Judge, pairs) -> list[BatchRequest]:
    """Both display orders of every pair: what rank_pairs(order="both") asks."""
    params = engine.params(judge)
    return [BatchRequest(judge, judge.render(p, o), params) for p in pairs for o in ("ab", "ba")]


def keys_for(engine: Engine, requests: list[BatchRequest]) -> list[str]:
    return [engine.request(r.caller, r.messages, r.params, r.kind)[0] for r in requests]


async def run_prefill(store_path, judge, pairs, **options):
    """(summary, keys) of a prefill of ``pairs`` (both orders) into the store at ``store_path``."""
    options = {"poll_interval_s": 0.0, "timeout_s": 120.0, **options}
    with Store(store_path) as store:
        engine = Engine(store)
        requests = requests_for(engine, judge, pairs)
        try:
            summary = await prefill(engine, requests, **options)
        finally:
            await engine.aclose()
        return summary, keys_for(engine, requests)


def prefill_sync(store_path, judge, pairs, **options):
    return asyncio.run(run_prefill(store_path, judge, pairs, **options))


async def judge_through_engine(store_path, judge, pairs):
    """The normal engine path over the same requests: their outcomes (cached or not)."""
    with Store(store_path) as store:
        engine = Engine(store)
        try:
            return [await engine.complete(r.caller, r.messages, r.params, kind=r.kind)
                    for r in requests_for(engine, judge, pairs)]
        finally:
            await engine.aclose()
