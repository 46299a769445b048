"""generate and rank_responses over real loopback HTTP against the simulated generators and judges."""

from __future__ import annotations

import pytest

import prefjudge as pj
import prefjudge.curate as pc
from prefjudge.curate.generate import generate
from prefjudge.curate.ranking import ResponseRanking, rank_responses
from prefjudge.errors import InputError
from prefjudge.testing import FaultPlan, SimGenerator, SimJudge, SimServer, SimWorld, make_demo_prompts
from prefjudge.testing.sim import seeded_rng

GENS = [SimGenerator(name="gpt-sim-writer", quality_mean=0.5), SimGenerator(name="llama-sim-writer", quality_mean=-0.5)]


def _client(server, name, **kw):
    return pj.Judge(name, base_url=server.base_url, api_key="x", **kw)


def _writer(server, name, **kw):
    return pj.Generator(name, base_url=server.base_url, api_key="x", **kw)


def _candidates(world: SimWorld, n_prompts: int, n: int, seed: int = 0) -> list[dict]:
    """n candidates per prompt with registered latent qualities (the truth the tests check against)."""
    rows = []
    for pi, prompt in enumerate(make_demo_prompts(n_prompts, seed)):
        for k in range(n):
            g = GENS[k % 2]
            text, q = g.draw(seeded_rng(seed, "cands", pi, k))
            world.register(text, quality=q, model=g.name)
            rows.append({"prompt_id": f"p{pi}", "prompt": prompt, "response": text, "model": g.name, "quality": q})
    return rows


def test_generate_records_models_samples_and_resumes(tmp_path):
    world = SimWorld()
    prompts = make_demo_prompts(4)
    with SimServer(generators=GENS, world=world) as server:
        gens = [_writer(server, g.name) for g in GENS]
        out = generate(prompts, gens, n=2, temperature=[0.2, 0.9], store=tmp_path / "gen.db", progress=False)
        assert len(out) == 4 * 2 * 2 and out["error"].isna().all()
        assert set(out["model"]) == {"gpt-sim-writer", "llama-sim-writer"}
        assert sorted(set(zip(out["sample"], out["temperature"]))) == [(0, 0.2), (1, 0.9)]
        assert out["response"].nunique() == len(out)  # distinct samples
        for r in out.to_dict("records"):  # the server knows who wrote what
            assert world.generator(r["response"]) == r["model"]
        calls = server.count_ok()
        # the old way (Judge objects as generators) still works, with a DeprecationWarning, and reads the same calls back
        with pytest.warns(DeprecationWarning, match="prefjudge.Generator"):
            again = generate(prompts, [_client(server, g.name) for g in GENS], n=2, temperature=[0.2, 0.9],
                             store=tmp_path / "gen.db", progress=False)
        assert server.count_ok() == calls and again["cached"].all()
        assert again["response"].tolist() == out["response"].tolist()


def test_generate_failure_is_a_row_with_its_error_and_ranking_skips_it():
    bad = SimGenerator(name="broken-writer", faults=FaultPlan(fail_first_n=100))
    with SimServer(generators=[*GENS, bad], judges=[SimJudge(name="gpt-sim", noise=0.1)]) as server:
        gens = [_writer(server, g.name) for g in GENS] + [_writer(server, "broken-writer", max_retries=0)]
        out = generate(make_demo_prompts(2), gens, n=1, progress=False)
        failed = out[out["model"] == "broken-writer"]
        assert failed["response"].isna().all() and failed["error"].str.contains("attempt").all()
        ranking = rank_responses(out, _client(server, "gpt-sim"), strategy="round_robin", progress=False)
    assert ranking.meta["skipped_failed_generations"] == 2 and len(ranking.selections) == 2


@pytest.mark.parametrize("strategy", ["round_robin", "knockout", "adaptive"])
def test_strategies_find_latent_best_and_worst_with_a_sharp_judge(strategy):
    world = SimWorld()
    cands = _candidates(world, 6, 8)
    with SimServer(judges=[SimJudge(name="gpt-sim", noise=0.05)], world=world) as server:
        ranking = rank_responses(cands, _client(server, "gpt-sim"), strategy=strategy, seed=1, progress=False)
    assert isinstance(ranking, ResponseRanking) and isinstance(ranking, pj.RankResult)
    sel = ranking.selections.set_index("prompt_id")
    expected = 28 if strategy == "round_robin" else 16
    assert (sel["n_comparisons"] <= expected).all() and (sel["n_comparisons"] == expected).all()
    assert (sel["n_calls"] == sel["n_comparisons"]).all()  # one judge, one order
    for pid, g in __import__("pandas").DataFrame(cands).groupby("prompt_id"):
        q = g["quality"].tolist()
        assert sel.loc[pid, "best"] == q.index(max(q)) and sel.loc[pid, "worst"] == q.index(min(q))
    cand = ranking.candidates
    assert set(cand.columns) >= {"strength", "se", "rank"} and (cand["se"] > 0).all()


def test_efficient_strategy_reuses_round_robin_calls_from_the_store(tmp_path):
    world = SimWorld()
    cands = _candidates(world, 3, 6)
    with SimServer(judges=[SimJudge(name="gpt-sim", noise=0.8)], world=world) as server:
        judge = _client(server, "gpt-sim")
        rr = rank_responses(cands, judge, strategy="round_robin", store=tmp_path / "r.db", progress=False)
        calls = server.count_ok()
        ko = rank_responses(cands, judge, strategy="adaptive", store=tmp_path / "r.db", progress=False)
        assert server.count_ok() == calls  # every comparison it made was a round-robin comparison
    assert ko.meta["n_calls_made"] == 0 and ko.meta["n_calls_cached"] == len(ko.judgments)
    assert set(ko.pairs["id"]) <= set(rr.pairs["id"])


def test_to_preferences_from_a_ranking_is_best_vs_worst():
    world = SimWorld()
    cands = _candidates(world, 4, 4)
    sims = [SimJudge(name="gpt-sim", noise=0.05), SimJudge(name="claude-sim", noise=0.05)]
    with SimServer(judges=sims, world=world) as server:
        ranking = rank_responses(cands, [_client(server, s.name) for s in sims], strategy="round_robin", order="both",
                                 progress=False)
    prefs = pc.to_preferences(ranking, min_margin=0.5, format="conversational")
    assert len(prefs) == 4
    quality = {c["response"]: c["quality"] for c in cands}
    for row in prefs:
        same = [c["quality"] for c in cands if c["prompt_id"] == row["id"]]
        assert quality[row["chosen"][0]["content"]] == max(same) and quality[row["rejected"][0]["content"]] == min(same)
        assert row["agreement"] == 1.0 and row["consistent"] is True and row["judges"] == ["claude-sim", "gpt-sim"]
        assert row["score_chosen"] > row["score_rejected"] and row["n_candidates"] == 4
    assert ranking.to_pandas()["winner"].notna().all()  # still a RankResult for the audit


def test_one_row_per_prompt_layout():
    world = SimWorld()
    rows = [{"prompt": "Say hi", "responses": ["Hello there.", "Hi!", "Greetings, friend."], "models": ["a", "b", "c"]}]
    with SimServer(judges=[SimJudge(name="gpt-sim")], world=world) as server:
        ranking = rank_responses(rows, _client(server, "gpt-sim"), strategy="round_robin", progress=False)
    assert len(ranking.pairs) == 3 and set(ranking.candidates["model"]) == {"a", "b", "c"}


@pytest.mark.parametrize("rows,row,field,match", [
    ([{"prompt": "p", "response": "only one"}], 0, "response", "1 distinct candidate"),
    ([{"prompt": "p", "response": "same"}, {"prompt": "p", "response": " same "}], 0, "response", "duplicate"),
    ([{"prompt": "p", "response": "a"}, {"prompt": "p", "response": ""}], 1, "response", "empty"),
    ([{"prompt": "p", "response": "a"}, {"prompt": "p", "response": 7}], 1, "response", "expected a string"),
    ([{"prompt": "p", "responses": ["a", "b"], "models": ["m"]}], 0, "models", "as long as"),
    ([{"prompt": "p", "responses": "a b"}], 0, "responses", "list"),
    ([{"prompt": "p", "answer": "a"}], None, "response", "'response' column"),
    ([{"prompt": "p", "response": "a", "model": 3}, {"prompt": "p", "response": "b"}], 0, "model", "string"),
])
def test_bad_candidates_name_row_and_field(rows, row, field, match):
    with pytest.raises(InputError, match=match) as e:
        rank_responses(rows, pj.Judge("gpt-sim", base_url="http://127.0.0.1:9/v1"), progress=False)
    assert e.value.row == row and e.value.field == field


def test_bad_strategy_budget_and_generate_arguments():
    judge = pj.Judge("gpt-sim", base_url="http://127.0.0.1:9/v1")
    writer = pj.Generator("gpt-sim", base_url="http://127.0.0.1:9/v1")
    rows = [{"prompt": "p", "responses": ["a", "b", "c", "d"]}]
    with pytest.raises(InputError, match="strategy"):
        rank_responses(rows, judge, strategy="swiss")
    with pytest.raises(InputError, match="budget 2 is below"):
        rank_responses(rows, judge, strategy="knockout", budget=2)
    with pytest.raises(InputError, match="one per sample"):
        generate(["p"], [writer], n=2, temperature=[0.1])
    with pytest.raises(InputError, match="row 1.*prompt"):
        generate(["p", ""], [writer])
    with pytest.raises(InputError, match="unique"):
        generate(["p"], [writer, writer])
    with pytest.raises(InputError, match="row 0, field 'generators'.*Generator"):
        generate(["p"], ["gpt-4o"])


def test_a_loaded_dataset_can_be_rejudged_and_audited():
    from prefjudge.audit import audit
    from prefjudge.testing import make_demo_pairs

    world = SimWorld()
    demo = make_demo_pairs(40, seed=2, world=world)
    rows = [{"prompt": p["prompt"], "chosen": p["response_a"] if p["quality_a"] > p["quality_b"] else p["response_b"],
             "rejected": p["response_b"] if p["quality_a"] > p["quality_b"] else p["response_a"]} for p in demo]
    ds = pc.load_preferences(rows)
    with SimServer(judges=[SimJudge(name="gpt-sim", noise=0.2)], world=world) as server:
        result = pj.rank_pairs(pc.to_pairs(ds, seed=0), judges=_client(server, "gpt-sim"), order="both", progress=False)
    human = audit(result).to_dict()["judges"]["gpt-sim"]["human_agreement"]
    assert human["n"] == 80 and human["value"] > 0.9  # the judge agrees with the dataset's labels
