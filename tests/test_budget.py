"""Budgets: max_calls and max_cost_usd stop a run before the limit, every finished call is stored, the
result says what was not judged and why, and a rerun with a higher limit makes only the missing calls."""

from __future__ import annotations

import collections

import pytest

import prefjudge as pj
from prefjudge.errors import ConfigError, InputError
from prefjudge.testing import SimGenerator, SimJudge, SimServer, make_demo_pairs, make_demo_prompts

SIMS = [SimJudge(name="gpt-sim"), SimJudge(name="llama-sim")]


def _rows(world, n=20, seed=11):
    return [{k: v for k, v in p.items() if not k.startswith("quality")} for p in make_demo_pairs(n, seed=seed, world=world)]


def _judge(server, name="gpt-sim", **kw):
    return pj.Judge(name, base_url=server.base_url, api_key="x", **kw)


def _no_key_answered_twice(server) -> None:
    counts = collections.Counter(r.key for r in server.records(status=200))
    assert counts and max(counts.values()) == 1, counts.most_common(3)


def test_max_calls_stops_the_run_and_a_higher_limit_resumes_without_repeating(tmp_path, sim_world):
    rows = _rows(sim_world)
    store = tmp_path / "s.db"
    with SimServer(judges=SIMS, world=sim_world) as server:
        judge = _judge(server, max_concurrency=8)
        first = pj.rank_pairs(rows, judge, order="fixed", store=store, max_calls=7, progress=False)
        assert server.count_ok() == 7 and len(first.judgments) == 7
        nj = first.not_judged
        assert len(nj) == 13 and set(nj["reason"]) == {"budget: max_calls=7"} and set(nj["kind"]) == {"judge"}
        assert set(nj["pair_id"]) | set(first.judgments["pair_id"]) == {r["id"] for r in rows}
        budget = first.meta["budget"]
        assert budget["calls_made"] == 7 and budget["stopped"] == ["budget: max_calls=7"]
        assert budget["n_calls_not_made"] == 13 and budget["n_pairs_not_judged"] == 13
        table = first.to_pandas()
        assert table["reason"].fillna("").str.startswith("not judged: budget: max_calls=7").sum() == 13
        assert "13 calls not made" in repr(first)

        second = pj.rank_pairs(rows, judge, order="fixed", store=store, max_calls=10, progress=False)
        assert server.count_ok() == 17  # cached calls are free: 10 new ones
        assert second.meta["n_calls_cached"] == 7 and second.meta["n_calls_made"] == 10 and len(second.not_judged) == 3

        last = pj.rank_pairs(rows, judge, order="fixed", store=store, progress=False)
        assert server.count_ok() == 20 and last.meta["n_calls_made"] == 3 and len(last.not_judged) == 0
        _no_key_answered_twice(server)
    assert last.judgments["winner"].notna().all()


def test_max_calls_per_judge(tmp_path, sim_world):
    rows = _rows(sim_world, n=8)
    with SimServer(judges=SIMS, world=sim_world) as server:
        judges = [_judge(server, s.name) for s in SIMS]
        res = pj.rank_pairs(rows, judges, order="both", store=tmp_path / "s.db", max_calls={"llama-sim": 5},
                            progress=False)
        assert server.count_ok(model="llama-sim") == 5 and server.count_ok(model="gpt-sim") == 16
    assert set(res.not_judged["judge"]) == {"llama-sim"} and len(res.not_judged) == 11
    assert set(res.not_judged["reason"]) == {"budget: max_calls['llama-sim']=5"}
    assert res.meta["budget"]["per_judge"]["llama-sim"]["calls_made"] == 5
    with pytest.raises(InputError, match=r"max_calls names \['nobody'\]"):
        pj.rank_pairs(rows, judges, max_calls={"nobody": 3}, progress=False)
    with pytest.raises(InputError, match="max_calls must be a whole number"):
        pj.rank_pairs(rows, judges, max_calls=2.5, progress=False)


def test_max_cost_usd_stops_before_crossing_and_resumes(tmp_path, sim_world, monkeypatch):
    """A priced endpoint (openai backend, no base_url: gpt-4o-mini in litellm's price map) reached
    through OPENAI_BASE_URL, so the calls still go to the simulated server."""
    from prefjudge.judging.budget import Budget
    from prefjudge.judging.pairs import normalize_pairs

    rows = _rows(sim_world, n=16)
    store = tmp_path / "s.db"
    with SimServer(judges=[SimJudge(name="gpt-4o-mini")], world=sim_world) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-sim")
        judge = pj.Judge("gpt-4o-mini", max_tokens=64, max_concurrency=4)
        limit = 0.0003
        first = pj.rank_pairs(rows, judge, order="fixed", store=store, max_cost_usd=limit, progress=False)
        made = server.count_ok()
        spent = first.judgments["cost_usd"].sum()
        assert 0 < made < 16 and spent <= limit
        assert first.meta["budget"]["spent_usd"] == pytest.approx(spent)
        assert set(first.not_judged["reason"]) == {"budget: max_cost_usd=0.0003"}
        # it stopped cleanly: the next call would not have fitted
        nxt = rows[[r["id"] for r in rows].index(first.not_judged["pair_id"].iloc[0])]
        chars = sum(len(m["content"]) for m in judge.render(normalize_pairs([nxt])[0], "ab"))
        assert spent + Budget(max_cost_usd=limit).estimate(judge, chars, 64) > limit

        second = pj.rank_pairs(rows, judge, order="fixed", store=store, max_cost_usd=1.0, progress=False)
        assert server.count_ok() == 16 and second.meta["n_calls_cached"] == made and len(second.not_judged) == 0
        _no_key_answered_twice(server)


def test_unknown_price_with_a_cost_budget_refuses_to_start(sim_world):
    rows = _rows(sim_world, n=3)
    with SimServer(judges=SIMS, world=sim_world) as server:
        judges = [_judge(server, s.name) for s in SIMS]
        with pytest.raises(ConfigError, match=r"judge 'gpt-sim' \(model 'gpt-sim' at http://127.0.0.1:\d+/v1\) has no known "
                                              r"price.*drop max_cost_usd"):
            pj.rank_pairs(rows, judges, max_cost_usd=5.0, progress=False)
        with pytest.raises(ConfigError, match=r"judge 'llama-sim'.*max_cost_usd\['llama-sim'\]"):
            pj.rank_pairs(rows, judges, max_cost_usd={"llama-sim": 1.0}, progress=False)
        with pytest.raises(ConfigError, match="no known price"):
            pj.generate(["q"], pj.Generator("gpt-sim", base_url=server.base_url, api_key="x"), max_cost_usd=1.0,
                        progress=False)
        assert server.count_ok() == 0
        ok = pj.rank_pairs(rows, judges, max_calls=100, progress=False)  # a call budget needs no price
        assert len(ok.judgments) == 6 and ok.meta["budget"]["spent_usd"] == 0


def test_rank_responses_budget_spans_every_round(tmp_path, sim_world):
    cands = _candidates(sim_world, n_prompts=4, n=5)
    with SimServer(judges=SIMS, world=sim_world) as server:
        judge = _judge(server)
        capped = pj.rank_responses(cands, judge, strategy="adaptive", store=tmp_path / "s.db", max_calls=9,
                                   progress=False)
        assert server.count_ok() == 9 and capped.meta["spend"]["calls_made"] == 9
        assert len(capped.not_judged) and set(capped.not_judged["reason"]) == {"budget: max_calls=9"}
        full = pj.rank_responses(cands, judge, strategy="adaptive", store=tmp_path / "s.db", progress=False)
        reference = pj.rank_responses(cands, judge, strategy="adaptive", store=tmp_path / "other.db", progress=False)
    assert full.meta["n_calls_cached"] == 9
    assert full.selections.equals(reference.selections)


def _candidates(world, n_prompts: int, n: int) -> list[dict]:
    from prefjudge.testing.sim import seeded_rng

    gen = SimGenerator(name="gpt-sim-writer")
    rows = []
    for pi, prompt in enumerate(make_demo_prompts(n_prompts, 0)):
        for k in range(n):
            text, q = gen.draw(seeded_rng(0, "cands", pi, k))
            world.register(text, quality=q, model=gen.name)
            rows.append({"prompt_id": f"p{pi}", "prompt": prompt, "response": text, "model": gen.name})
    return rows


def test_generate_budget_rows_say_why(tmp_path):
    gens = [SimGenerator(name="gpt-sim-writer")]
    with SimServer(generators=gens) as server:
        gen = pj.Generator("gpt-sim-writer", base_url=server.base_url, api_key="x")
        out = pj.generate(make_demo_prompts(5), gen, n=2, store=tmp_path / "g.db", max_calls=4, progress=False)
        assert server.count_ok() == 4
        assert out["response"].notna().sum() == 4 and (out["error"] == "budget: max_calls=4").sum() == 6
        assert out.attrs["budget"]["n_calls_not_made"] == 6
        again = pj.generate(make_demo_prompts(5), gen, n=2, store=tmp_path / "g.db", progress=False)
        assert server.count_ok() == 10 and again["response"].notna().all()


def test_an_explicit_price_on_a_self_hosted_endpoint_records_cost_and_enforces_a_cost_budget(tmp_path, sim_world):
    rows = _rows(sim_world, n=10)
    with SimServer(judges=SIMS, world=sim_world) as server:
        unpriced = _judge(server)
        with pytest.raises(ConfigError, match="no known"):
            pj.rank_pairs(rows, unpriced, order="fixed", max_cost_usd=1.0, progress=False)
        judge = _judge(server, price=(1000.0, 2000.0))  # USD per million tokens: expensive, so a few calls fit
        full = pj.rank_pairs(rows[:2], judge, order="fixed", progress=False)
        per_call = full.judgments["cost_usd"]
        assert per_call.notna().all()
        expected = (full.judgments["prompt_tokens"] * 1000.0 + full.judgments["completion_tokens"] * 2000.0) / 1e6
        assert per_call.tolist() == pytest.approx(expected.tolist())
        limit = float(per_call.max()) * 4.5  # room for about four calls, estimated before each call
        res = pj.rank_pairs(rows, judge, order="fixed", store=tmp_path / "s.db", max_cost_usd=limit, progress=False)
        spent = res.meta["budget"]["spent_usd"]
        assert 0 < spent <= limit and len(res.not_judged) > 0 and len(res.judgments) < 10
    with pytest.raises(ValueError, match="price must be two finite"):
        pj.Judge("m", price=(-1.0, 2.0))
