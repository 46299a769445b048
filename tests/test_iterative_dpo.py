"""On-policy iterative DPO (recipe kind ``iterate``, built-in recipe ``iterative_dpo``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from prefjudge.errors import ConfigError
from prefjudge.recipes.loading import BUILTIN_DIR, load_recipe
from prefjudge.recipes.runner import run_recipe, with_judges
from prefjudge.recipes.schema import IterateStep


@pytest.fixture(autouse=True)
def cache(monkeypatch, tmp_path):
    monkeypatch.setenv("PREFJUDGE_CACHE", str(tmp_path / "cache"))


def _recipe(tmp_path: Path, edit) -> Path:
    raw = yaml.safe_load((BUILTIN_DIR / "iterative_dpo.yaml").read_text())
    edit(raw["steps"][0])
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))
    for name in ("data", "judges.yaml"):  # the recipe's paths are relative to its folder
        (tmp_path / name).symlink_to(BUILTIN_DIR / name)
    return path


def test_both_profiles_load_and_plan_offline():
    for profile in ("full", "smoke"):
        lines: list[str] = []
        plan = run_recipe("iterative_dpo", profile=profile, dry_run=True, echo=lines.append)
        step = plan["steps"][0]
        assert step["kind"] == "iterate" and step["rounds"] == 3 and step["curate"]["candidates_per_prompt"] == 4
        assert [g["name"] for g in step["curate"]["generators"]] == ["policy-round-0"]
        assert "3 rounds" in lines[0]
    full = load_recipe("iterative_dpo").steps[0]
    assert isinstance(full, IterateStep) and full.policy["base_url"] == "http://127.0.0.1:8000/v1"
    assert full.serve[:3] == ["vllm", "serve", "{policy}"] and full.judges_file.endswith("judges.yaml")
    smoke = load_recipe("iterative_dpo", "smoke").steps[0]
    assert smoke.policy["backend"] == "transformers" and smoke.serve is None and smoke.simulated is not None


def test_sections_the_step_sets_itself_are_refused(tmp_path):
    path = _recipe(tmp_path, lambda s: s["curate"].update(input={"prompts": "x.jsonl"}))
    with pytest.raises(ConfigError, match="curate.input"):
        load_recipe(path)


def test_serve_needs_a_base_url(tmp_path):
    path = _recipe(tmp_path, lambda s: s["policy"].pop("base_url"))
    with pytest.raises(ConfigError, match="serve"):
        load_recipe(path)


def test_real_judges_replace_the_simulated_ones(tmp_path):
    recipe = with_judges(load_recipe("iterative_dpo", "smoke"), BUILTIN_DIR / "judges.yaml")
    step = recipe.steps[0]
    assert step.simulated is None and step.judges_file == str(BUILTIN_DIR / "judges.yaml")
    assert step.eval["jury"] == {"judges_file": str(BUILTIN_DIR / "judges.yaml")}


def _docs_block() -> str:
    text = (Path(__file__).resolve().parents[1] / "docs" / "recipes.md").read_text()
    section = text.split("## Iterative on-policy DPO", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.slow
def test_smoke_runs_every_round_on_policy(tmp_path, monkeypatch, capsys):
    """The example of docs/recipes.md ("Iterative on-policy DPO"), run as written."""
    monkeypatch.chdir(tmp_path)
    exec(compile(_docs_block(), "docs/recipes.md", "exec"), {})
    printed = capsys.readouterr().out
    out = tmp_path / "runs" / "iterative-smoke"
    saved = json.loads((out / "run.json").read_text())
    assert [line.split(":")[0] for line in printed.splitlines() if line.startswith("round ")] == \
        ["round 0", "round 1", "round 2"]
    it = saved["iterate"]
    rounds = it["rounds"]
    assert [r["round"] for r in rounds] == [0, 1, 2] and saved["steps"]["iterate"]["pairs"] == it["pairs"]
    assert saved["simulated"]["judges"]  # the run says its verdicts are SIMULATED
    policies = [it["base"]] + [r["merged_path"] for r in rounds[:-1]]
    for r, policy in zip(rounds, policies):
        # the pairs come from this round's policy: its generator is the policy's folder, and nothing else
        assert r["policy"] == policy and r["curate"]["generators"] == [f"policy-round-{r['round']}"]
        rows = [json.loads(line) for f in r["curate"]["data_files"] for line in Path(f).read_text().splitlines()]
        assert len(rows) == r["pairs"]
        assert {x["model_chosen"] for x in rows} | {x["model_rejected"] for x in rows} == {f"policy-round-{r['round']}"}
        # 4 samples of each of 64 prompts (a tiny random policy may stop at once: an empty answer is
        # a failed generation, not a candidate)
        assert r["curate"]["rows"]["prompts"] == 64 and 4 * 64 - 8 <= r["curate"]["rows"]["candidates"] <= 4 * 64
        assert r["pairs"] > 0 and r["pairs"] == r["curate"]["rows"]["exported"]
        # each round trains from the previous merge (round 0: the base) and merges into it
        assert r["trained_from"] == policy
        assert Path(r["merged_path"], "config.json").is_file() and r["merged_path"] != policy
        assert r["train"]["first"] is not None and r["train"]["last"] is not None
        # 4 sampled answers per held-out prompt and model, with the same seeded draws for both
        assert r["eval"]["decoding"] == {"temperature": 1.0, "samples": 4, "seed": 0}
        assert r["eval"]["win_rate"]["n"] == 4 * 32 and r["win_rate_vs_base"] == r["eval"]["win_rate"]["value"]
        assert Path(r["eval"]["path"]).is_file()
        # the simulated world's truth: the jury keeps the answers its taste prefers
        assert r["curate"]["latent_score"]["chosen_mean"] > r["curate"]["latent_score"]["rejected_mean"]
    # the simulated world's truth about the held-out answers: the last round's policy writes what the
    # jury's taste prefers more often than the base, and the jury says so (the per-round numbers are
    # in docs/recipes.md; a timing or a strict rise round over round is not asserted)
    last = rounds[-1]["eval"]["latent_score"]
    assert last["trained_mean"] > last["base_mean"]
    assert rounds[-1]["win_rate_vs_base"] > 0.5
    assert it["merged_path"] == rounds[-1]["merged_path"] == saved["merged_path"]
    assert it["win_rate_vs_base"] == [r["win_rate_vs_base"] for r in rounds]


@pytest.mark.slow
def test_warm_start_sft_becomes_round_0s_policy_and_the_base(tmp_path):
    def edit(step):
        smoke = {"max_prompts": 6, "n": 2, "max_tokens": 8}
        step.update(rounds=1, **smoke)
        step["warm_start"] = {"data": {"path": "data/ultrachat_sample.jsonl", "loader": "ultrachat",
                                       "format": "standard", "max_rows": 8},
                              "sft": {"max_steps": 2, "per_device_train_batch_size": 4, "learning_rate": 1.0e-3,
                                      "gradient_checkpointing": False, "optim": "adamw_torch", "max_length": 128,
                                      "logging_steps": 1}}
    path = _recipe(tmp_path, edit)
    raw = yaml.safe_load(path.read_text())
    smoke = raw["profiles"]["smoke"]["steps"]["iterate"]
    smoke.update(max_prompts=6, n=2, max_tokens=8)
    smoke["train"]["dpo"]["max_steps"] = 2
    smoke["eval"].update(max_prompts=2, samples=2, max_new_tokens=4)
    path.write_text(yaml.safe_dump(raw))
    out = tmp_path / "run"
    run_recipe(path, profile="smoke", out=out, echo=lambda _: None)
    it = json.loads((out / "run.json").read_text())["iterate"]
    warm = it["warm_start"]
    assert warm["rows"] and warm["train"]["first"] is not None
    assert Path(warm["adapter_path"], "adapter_config.json").is_file()
    # the merged SFT model is round 0's policy and what every round is judged against
    assert it["base"] == warm["merged_path"] == it["rounds"][0]["policy"] == it["rounds"][0]["trained_from"]
    assert json.loads(Path(it["rounds"][0]["eval"]["path"]).read_text())["base"] == warm["merged_path"]
    # trained from the tiny model the step's train.model names, not from the SFT'd one
    assert warm["trained_from"] != warm["merged_path"]


def test_warm_start_is_an_sft_config(tmp_path):
    path = _recipe(tmp_path, lambda s: s.update(warm_start={"dpo": {"beta": 0.1}, "data": {"path": "x.jsonl"}}))
    with pytest.raises(ConfigError, match="warm_start"):
        load_recipe(path)
    path2 = tmp_path / "b"
    path2.mkdir()
    bad = _recipe(path2, lambda s: s.update(warm_start={"sft": {"learning_rte": 1.0}, "data": {"path": "x.jsonl"}}))
    with pytest.raises(ConfigError, match="warm_start.*learning_rte|learning_rte.*warm_start"):
        load_recipe(bad)


def _one_small_round(raw: dict) -> None:
    """The smoke profile cut to one round of a few prompts and steps."""
    smoke = raw["profiles"]["smoke"]["steps"]["iterate"]
    smoke.update(rounds=1, max_prompts=6, n=3, max_tokens=8)
    smoke["train"]["dpo"]["max_steps"] = 2
    smoke["eval"].update(max_prompts=2, samples=2, max_new_tokens=4)


@pytest.mark.slow
def test_a_round_scored_by_ratings(tmp_path):
    path = _recipe(tmp_path, lambda s: None)
    raw = yaml.safe_load(path.read_text())
    _one_small_round(raw)
    smoke = raw["profiles"]["smoke"]["steps"]["iterate"]
    smoke["curate"].update(rank={"strategy": "rating", "rating": {"template": "single"}}, jury=None)
    smoke["curate"]["preferences"] = {"min_agreement": None, "length_balance": None}
    path.write_text(yaml.safe_dump(raw))
    out = tmp_path / "run"
    run_recipe(path, profile="smoke", out=out, echo=lambda _: None)
    r = json.loads((out / "run.json").read_text())["iterate"]["rounds"][0]
    # one rating per answer and judge: 6 prompts x 3 answers, three simulated judges
    assert r["curate"]["rows"]["candidates"] == 18 and r["curate"]["pairs_from_ratings"]
    assert r["pairs"] > 0
    assert r["curate"]["policy_latent_score"] is not None  # the simulated truth, read from the rated answers
    rows = [json.loads(line) for f in r["curate"]["data_files"] for line in Path(f).read_text().splitlines()]
    assert all(x["score_chosen"] > x["score_rejected"] for x in rows)


@pytest.mark.slow
def test_a_round_scored_by_a_local_reward_model(tmp_path):
    from prefjudge.testing.tiny_reward import GOOD, build_tiny_reward_model

    rm = build_tiny_reward_model(tmp_path / "rm")
    (tmp_path / "rm.yaml").write_text(yaml.safe_dump([{"kind": "reward_model", "path": str(rm), "name": "tiny-rm"}]))
    # the tiny reward model's rule: 10 x the share of GOOD tokens in prompt + answer. With GOOD tokens
    # in the prompt only, the shorter answer (in tokens) scores higher: a rule the test knows.
    (tmp_path / "rm_prompts.jsonl").write_text("".join(
        json.dumps({"prompt": f"{GOOD * 5} Question {i}: what is {i} plus {i}?"}) + "\n" for i in range(6)))
    path = _recipe(tmp_path, lambda s: None)
    raw = yaml.safe_load(path.read_text())
    _one_small_round(raw)
    smoke = raw["profiles"]["smoke"]["steps"]["iterate"]
    smoke.update(simulated=None, judges_file="rm.yaml", prompts="rm_prompts.jsonl", max_tokens=12)
    smoke["curate"].update(rank={"strategy": "rating"}, jury=None)
    smoke["curate"]["preferences"] = {"min_agreement": None, "length_balance": None}
    smoke["eval"]["jury"] = {"judges_file": "rm.yaml", "simulated_score": None}
    path.write_text(yaml.safe_dump(raw))
    out = tmp_path / "run"
    run_recipe(path, profile="smoke", out=out, echo=lambda _: None)
    saved = json.loads((out / "run.json").read_text())
    r = saved["iterate"]["rounds"][0]
    assert r["pairs"] > 0 and not saved["iterate"]["simulated"]
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(rm)
    rows = [json.loads(line) for f in r["curate"]["data_files"] for line in Path(f).read_text().splitlines()]
    for x in rows:  # chosen: the higher reward, so the fewer tokens
        assert x["score_chosen"] > x["score_rejected"]
        assert len(tok(x["chosen"])["input_ids"]) <= len(tok(x["rejected"])["input_ids"])
    assert r["eval"]["win_rate"]["n"] == 4  # the reward model judged the eval pairs too
