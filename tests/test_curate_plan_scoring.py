"""The dry-run plan of a curate step scored by ratings or with reward models among the judges:
``strategy: rating`` makes N calls per judge and prompt, a reward model no remote call, and a
reward-model entry is listed as a local model with its path."""

from __future__ import annotations

import yaml

from prefjudge.recipes.curate_plan import comparisons_per_prompt, format_curate, plan_curate
from prefjudge.recipes.schema import CurateStep

PROMPTS = [f"Question {i}?" for i in range(4)]
GENERATORS = [{"model": "gen-a", "base_url": "http://127.0.0.1:9/v1"}, {"model": "gen-b", "base_url": "http://127.0.0.1:9/v1"}]


def _step(judges: list[dict] | None, rank: dict, **extra) -> CurateStep:
    config = {"input": {"prompts": PROMPTS}, "generators": GENERATORS, "generate": {"n": 3}, "rank": rank,
              "output": {"format": "jsonl"}}
    if judges is not None:
        config["judges"] = judges
    return CurateStep(id="curate", kind="curate", config=config, **extra)


def test_rating_is_n_calls_per_judge_not_two_n_comparisons():
    assert comparisons_per_prompt("rating", 6, None) == 6
    assert (comparisons_per_prompt("adaptive", 6, None), comparisons_per_prompt("round_robin", 6, None)) == (12, 15)
    plan = plan_curate(_step([{"model": "gpt-4o-mini"}, {"model": "gpt-4.1-mini"}], {"strategy": "rating"}), ".")
    assert plan["candidates_per_prompt"] == 6 and plan["comparisons_per_prompt"] == 6
    assert plan["calls"] == {"generate": 24, "judge_at_most": 4 * 6 * 2}  # one rating per answer and judge
    text = "\n".join(format_curate(plan))
    assert "strategy rating, 6 ratings per prompt and judge" in text and "comparisons" not in text


def test_a_reward_model_entry_is_a_local_model_that_makes_no_remote_call(tmp_path):
    rm = {"kind": "reward_model", "path": "/models/my-rm", "batch_size": 4}
    rated = plan_curate(_step([{"model": "gpt-4o-mini"}, rm], {"strategy": "rating"}), tmp_path)
    llm, local = rated["judges"]
    assert llm["backend"] == "openai" and llm["model"] == "gpt-4o-mini"
    assert local == {"name": "my-rm", "kind": "reward_model", "model": "/models/my-rm", "path": "/models/my-rm",
                     "backend": "local reward model", "credentials": "none (scores locally, no remote call)"}
    assert rated["calls"]["judge_at_most"] == 4 * 6  # the LLM judge's ratings only
    text = "\n".join(format_curate(rated))
    assert "my-rm [none (scores locally, no remote call)]" in text and "reward models score locally" in text
    # a pairwise strategy: the reward model is a juror of every comparison, still without a remote call
    ranked = plan_curate(_step([{"model": "gpt-4o-mini"}, {**rm, "name": "rm"}], {"strategy": "adaptive", "order": "both"}),
                         tmp_path)
    assert ranked["comparisons_per_prompt"] == 12 and ranked["calls"]["judge_at_most"] == 4 * 12 * 1 * 2
    assert [j["name"] for j in ranked["judges"]] == ["gpt-4o-mini", "rm"]
    # from a judges file: the path as the file's folder sees it
    (tmp_path / "models" / "rm").mkdir(parents=True)
    (tmp_path / "judges.yaml").write_text(yaml.safe_dump({"judges": [{"kind": "reward_model", "path": "models/rm"}]}))
    filed = plan_curate(_step(None, {"strategy": "knockout"}, judges_file="judges.yaml"), tmp_path)
    assert filed["judges"][0]["path"] == str((tmp_path / "models" / "rm").absolute())
    assert filed["judges"][0]["backend"] == "local reward model" and filed["calls"]["judge_at_most"] == 0
