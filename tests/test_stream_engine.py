"""One engine per run: rank_responses rounds share it, and judges on the same endpoint share its client,
concurrency and rate limits (keyed by endpoint, not by judge name)."""

from __future__ import annotations

import pytest

import prefjudge as pj
import prefjudge.judging.engine as engine_module
from prefjudge.judging.engine import Engine, endpoint_slot
from prefjudge.judging.store import Store
from prefjudge.testing import SimGenerator, SimJudge, SimServer, make_demo_pairs, make_demo_prompts


@pytest.fixture
def created(monkeypatch):
    """Every backend client the engine builds, by endpoint label."""
    made: list[str] = []
    real = engine_module.create_backend

    def counting(endpoint):
        made.append(endpoint.label)
        return real(endpoint)

    monkeypatch.setattr(engine_module, "create_backend", counting)
    return made


def _candidates(world, n_prompts=3, n=6):
    from prefjudge.testing.sim import seeded_rng

    gen = SimGenerator(name="gpt-sim-writer")
    rows = []
    for pi, prompt in enumerate(make_demo_prompts(n_prompts, 1)):
        for k in range(n):
            text, q = gen.draw(seeded_rng(1, "cands", pi, k))
            world.register(text, quality=q, model=gen.name)
            rows.append({"prompt_id": f"p{pi}", "prompt": prompt, "response": text})
    return rows


def test_rank_responses_runs_every_round_on_one_engine(tmp_path, sim_world, created):
    cands = _candidates(sim_world)
    with SimServer(judges=[SimJudge(name="gpt-sim")], world=sim_world) as server:
        judge = pj.Judge("gpt-sim", base_url=server.base_url, api_key="x")
        ranking = pj.rank_responses(cands, judge, strategy="adaptive", store=tmp_path / "s.db", progress=False)
        n_comparisons = len(ranking.pairs)
        assert server.count_ok() == ranking.meta["n_calls_made"] == len(ranking.judgments) == n_comparisons
    assert n_comparisons > 3 * 3  # more than the first round (3 per prompt): several rounds...
    assert created == ["gpt-sim"]  # ...and one client for all of them (one per round before)


def test_judges_on_one_endpoint_share_client_limiter_and_concurrency(tmp_path, sim_world, created):
    pairs = [{k: v for k, v in p.items() if not k.startswith("quality")} for p in make_demo_pairs(6, seed=2, world=sim_world)]
    with SimServer(judges=[SimJudge(name="gpt-sim"), SimJudge(name="llama-sim")], world=sim_world) as server:
        url = server.base_url
        verdict = pj.Judge("gpt-sim", base_url=url, api_key="k", name="plain", rpm=600, max_concurrency=8)
        as_json = pj.Judge("gpt-sim", base_url=url, api_key="k", name="json", template="pairwise_json", rpm=300,
                           max_concurrency=4)
        other = pj.Judge("llama-sim", base_url=url, api_key="k", name="llama")
        res = pj.rank_pairs(pairs, [verdict, as_json, other], order="fixed", store=tmp_path / "s.db", progress=False)
        assert len(res.judgments) == 18 and res.judgments["winner"].notna().all()
    assert sorted(created) == ["llama", "plain"]  # gpt-sim once for two judges, llama-sim once

    engine = Engine(Store(None))
    engine.register([verdict, as_json, other])
    assert engine.slot(verdict) == engine.slot(as_json) != engine.slot(other)
    assert engine.limiter(verdict) is engine.limiter(as_json) is not engine.limiter(other)
    assert engine.limiter(verdict).rpm == 300  # the tightest of the judges sharing the endpoint
    assert engine._sems[engine.slot(verdict)]._value == 4
    assert engine.max_concurrency([verdict, as_json, other]) == 4 + 16
    other_key = verdict.model_copy(update={"api_key": "another-key", "name": "second-account"})
    assert engine.slot(other_key) != engine.slot(verdict)
    assert endpoint_slot(verdict.endpoint) == endpoint_slot(as_json.endpoint)
    assert len(engine.slot(verdict)) == 24 and set(engine.slot(verdict)) <= set("0123456789abcdef")  # a hash


def test_a_shared_endpoint_keeps_every_judges_request_hash(tmp_path, sim_world):
    """Sharing a client changes nothing in what is sent or stored: a run with the judges together
    replays the calls of runs with each judge alone."""
    pairs = [{k: v for k, v in p.items() if not k.startswith("quality")} for p in make_demo_pairs(5, seed=4, world=sim_world)]
    with SimServer(judges=[SimJudge(name="gpt-sim")], world=sim_world) as server:
        a = pj.Judge("gpt-sim", base_url=server.base_url, api_key="k", name="a")
        b = pj.Judge("gpt-sim", base_url=server.base_url, api_key="k", name="b", template="pairwise_json")
        for judge in (a, b):
            pj.rank_pairs(pairs, judge, order="both", store=tmp_path / "s.db", progress=False)
        made = server.count_ok()
        together = pj.rank_pairs(pairs, [a, b], order="both", store=tmp_path / "s.db", progress=False)
        assert server.count_ok() == made and together.meta["n_calls_cached"] == 20


def test_generate_runs_on_one_engine_and_the_window(tmp_path, created):
    gens = [SimGenerator(name="gpt-sim-writer"), SimGenerator(name="llama-sim-writer")]
    with SimServer(generators=gens) as server:
        writers = [pj.Generator(g.name, base_url=server.base_url, api_key="x") for g in gens]
        lazy = (p for p in make_demo_prompts(6))
        out = pj.generate(lazy, writers, n=2, store=tmp_path / "g.db", max_in_flight=2, progress=False)
    assert len(out) == 24 and out["response"].notna().all()
    assert list(out["sample"][:4]) == [0, 1, 0, 1] and list(out["model"][:4]) == ["gpt-sim-writer"] * 2 + ["llama-sim-writer"] * 2
    assert sorted(created) == ["gpt-sim-writer", "llama-sim-writer"]
