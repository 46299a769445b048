"""Reward models as jurors of ``rank_responses``' pairwise strategies (round_robin, knockout, adaptive):
alone, beside an LLM judge over real HTTP to the simulated server, in a curate config, and each
answer scored once per run. The tiny local reward model's score rises with its share of GOOD tokens."""

from __future__ import annotations

import pandas as pd
import pytest

import prefjudge as pj
from prefjudge.backends.reward import JointPairRM
from prefjudge.curate.ranking import ResponseRanking, rank_responses
from prefjudge.errors import ConfigError
from prefjudge.testing import SimJudge, SimServer, SimWorld
from prefjudge.testing.tiny_reward import GOOD, build_tiny_reward_model

STRATEGIES = ("round_robin", "knockout", "adaptive")
MARKERS = (2, 0, 3, 1, 4)  # candidate k of a prompt holds MARKERS[k] GOOD tokens


@pytest.fixture(scope="module")
def rm_paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("rm")
    return build_tiny_reward_model(root / "tiny-rm"), build_tiny_reward_model(root / "tiny-pairrm", kind="pairwise")


def _rows(n_prompts: int = 3, markers: tuple[int, ...] = MARKERS) -> list[dict]:
    return [{"prompt_id": f"p{p}", "prompt": f"Question {p}?", "model": f"gen-{k}",
             "response": f"answer {p} " + " ".join([GOOD] * m) + " done"}
            for p in range(n_prompts) for k, m in enumerate(markers)]


def _counted(rm: pj.RewardModel) -> list[str]:
    """Every answer ``rm.score`` reads, in order (the method wrapped on the instance)."""
    read: list[str] = []
    score = rm.score

    def counting(prompts, responses, systems=None):
        read.extend(responses)
        return score(prompts, responses, systems)

    rm.score = counting  # type: ignore[method-assign]
    return read


def _order_by_strength(ranking: ResponseRanking) -> dict[str, list[int]]:
    cand = ranking.candidates.sort_values(["prompt_id", "rank"])
    return {pid: [MARKERS[i] for i in g["candidate"]] for pid, g in cand.groupby("prompt_id")}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_reward_model_alone_ranks_the_candidates_by_its_rule(rm_paths, strategy):
    rm = pj.RewardModel(rm_paths[0], name="tiny-rm")
    ranking = rank_responses(_rows(), rm, strategy=strategy, progress=False)
    assert isinstance(ranking, ResponseRanking) and len(ranking.selections) == 3
    best, worst = MARKERS.index(max(MARKERS)), MARKERS.index(min(MARKERS))
    assert ranking.selections["best"].tolist() == [best] * 3 and ranking.selections["worst"].tolist() == [worst] * 3
    # the fitted strengths order every candidate as the rule does: more markers, more reward
    assert _order_by_strength(ranking) == {f"p{p}": sorted(MARKERS, reverse=True) for p in range(3)}
    assert set(ranking.judgments["judge"]) == {"tiny-rm"} and ranking.judgments["p_a"].notna().all()
    assert set(ranking.judgments["order"]) == {"ab"}  # a reward model has no display order
    assert ranking.meta["strategy"] == strategy and ranking.meta["judges"] == [
        {"name": "tiny-rm", "kind": "reward_model", "model": str(rm_paths[0]), "family": None}]
    assert ranking.meta["n_calls_made"] == 0  # no remote call
    prefs = pj.to_preferences(ranking)
    assert len(prefs) == 3 and all(r["chosen"].count(GOOD) == 4 and r["rejected"].count(GOOD) == 0 for r in prefs)


@pytest.mark.parametrize("strategy", ("knockout", "adaptive"))
def test_a_pairwise_reward_model_is_a_juror_too(rm_paths, strategy):
    prm = JointPairRM(rm_paths[1], name="tiny-pairrm")
    ranking = rank_responses(_rows(n_prompts=2), prm, strategy=strategy, progress=False)
    assert ranking.selections["best"].tolist() == [4, 4] and ranking.selections["worst"].tolist() == [1, 1]
    assert set(ranking.judgments["judge"]) == {"tiny-pairrm"}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_the_reward_model_scores_each_answer_once_per_run(rm_paths, strategy):
    rm = pj.RewardModel(rm_paths[0], name="tiny-rm")
    read = _counted(rm)
    rows = _rows()
    ranking = rank_responses(rows, rm, strategy=strategy, progress=False)
    compared = set(ranking.pairs["response_a"]) | set(ranking.pairs["response_b"])
    assert sorted(read) == sorted(compared), "each compared answer read once, whatever the comparisons and rounds"
    assert len(ranking.pairs) * 2 > len(read)  # one reading per comparison side would read more
    if strategy != "round_robin":
        assert ranking.judgments["pair_id"].nunique() == len(ranking.pairs)  # several rounds, one judgment each
    # a new run scores again (the scores live as long as the run)
    rank_responses(rows, rm, strategy=strategy, progress=False)
    assert len(read) == 2 * len(compared)


def test_a_reward_model_beside_an_llm_judge_on_the_simulated_server(rm_paths, tmp_path):
    rm = pj.RewardModel(rm_paths[0], name="tiny-rm")
    read = _counted(rm)
    rows = _rows()
    world = SimWorld()
    for r in rows:  # the LLM judge's latent truth follows the reward model's rule
        world.register(r["response"], quality=float(r["response"].count(GOOD)))
    store = tmp_path / "s.db"
    with SimServer(judges=[SimJudge(name="gpt-sim", noise=0.0)], world=world) as server:
        llm = pj.Judge("gpt-sim", base_url=server.base_url, api_key="x")
        ranking = rank_responses(rows, [llm, rm], strategy="adaptive", aggregate="mean", store=store, progress=False)
        n_llm = server.count_ok()
        assert n_llm == len(ranking.pairs), "one call per comparison (order random) for the LLM judge only"
        again = rank_responses(rows, [llm, rm], strategy="adaptive", aggregate="mean", store=store, progress=False)
        assert server.count_ok() == n_llm  # the rerun reads the LLM verdicts from the store
    assert ranking.selections["best"].tolist() == [4] * 3 and ranking.selections["worst"].tolist() == [1] * 3
    assert ranking.judgments.groupby("judge").size().to_dict() == {"gpt-sim": len(ranking.pairs),
                                                                   "tiny-rm": len(ranking.pairs)}
    assert [j.get("kind") for j in ranking.meta["judges"]] == [None, "reward_model"]
    assert ranking.meta["aggregate"] == "mean" and ranking.meta["n_calls_made"] == n_llm
    assert again.meta["n_calls_made"] == 0 and again.meta["n_calls_cached"] == n_llm
    assert again.pairs["id"].tolist() == ranking.pairs["id"].tolist()
    assert len(read) == 2 * len(set(ranking.pairs["response_a"]) | set(ranking.pairs["response_b"]))  # once per run


def test_reward_model_jurors_refuse_what_rank_pairs_refuses(rm_paths):
    rm = pj.RewardModel(rm_paths[0], name="tiny-rm")
    with pytest.raises(ConfigError, match="reward models as jurors"):
        rank_responses(_rows(1), rm, strategy="round_robin", max_calls=3, progress=False)
    with pytest.raises(ConfigError, match="unknown aggregate rule"):
        rank_responses(_rows(1), rm, strategy="round_robin", aggregate="nonesuch", progress=False)
    with pytest.raises(ConfigError, match="cannot load local model"):
        rank_responses(_rows(1), pj.RewardModel("/no/such/rm"), strategy="round_robin", progress=False)


def test_curate_config_ranks_candidates_with_a_reward_model_and_a_pairwise_strategy(rm_paths, tmp_path):
    from prefjudge.curate.config import CurateConfig
    from prefjudge.curate.pipeline import run_curation

    pd.DataFrame(_rows()).to_json(tmp_path / "c.jsonl", orient="records", lines=True)
    cfg = CurateConfig.model_validate({
        "input": {"candidates": str(tmp_path / "c.jsonl")},
        "judges": [{"kind": "reward_model", "path": str(rm_paths[0]), "name": "tiny-rm"}],
        "rank": {"strategy": "knockout"},
        "output": {"dir": str(tmp_path / "out"), "format": "jsonl", "overwrite": True}})
    run = run_curation(cfg)
    df = run.prefs.to_pandas()
    assert len(df) == 3 and (df["chosen"].str.count(GOOD) == 4).all() and (df["rejected"].str.count(GOOD) == 0).all()
    assert [j.get("kind") for j in run.prefs.provenance["judges"]] == ["reward_model"]
