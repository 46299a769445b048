"""A reward model as the juror of the recipe eval step (judges file -> evaluate -> rank_pairs): two tiny
local causal LMs answer, the tiny reward model judges each pair by its rule."""

from __future__ import annotations

import json

import pytest
import yaml

import prefjudge as pj
from prefjudge.recipes.runner import run_eval
from prefjudge.recipes.schema import EvalStep
from prefjudge.testing.tiny_reward import GOOD, build_tiny_reward_model
from prefjudge.train.tiny_model import build_tiny_model


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return (build_tiny_model(root / "trained", seed=0), build_tiny_model(root / "base", seed=1),
            build_tiny_reward_model(root / "tiny-rm"))


def test_eval_step_judged_by_a_reward_model_from_the_judges_file(models, tmp_path):
    trained, base, rm_path = models
    (tmp_path / "judges.yaml").write_text(yaml.safe_dump({"judges": [{"kind": "reward_model", "path": str(rm_path)}]}))
    # GOOD markers in the prompt: the reward (their share of the tokens) then depends on the answer's length
    prompts = [f"{GOOD} {GOOD} Tell me about topic {i}." for i in range(4)]
    (tmp_path / "prompts.jsonl").write_text("\n".join(json.dumps({"prompt": p}) for p in prompts))
    step = EvalStep(id="eval", kind="eval", trained=str(trained), base=str(base), prompts="prompts.jsonl",
                    max_new_tokens=12, device="cpu", jury={"judges_file": "judges.yaml"})
    summary = run_eval(step, str(trained), str(base), tmp_path / "out", tmp_path)
    assert summary["judges"] == ["tiny-rm"] and not summary["simulated"]
    assert summary["outcomes"]["failed"] == 0 and summary["win_rate"]["n"] == 4
    rm = pj.RewardModel(rm_path)
    answers = json.loads((tmp_path / "out" / "eval.json").read_text())["answers"]
    for a in answers:  # each verdict is the reward model's: the higher reward wins
        r_trained, r_base = rm.score([a["prompt"]] * 2, [a["trained"], a["base"]])
        assert a["winner"] == ("a" if r_trained > r_base else "b" if r_trained < r_base else "tie")
    assert {a["winner"] for a in answers} - {"tie"}, "the answers differ: the reward model decides"
