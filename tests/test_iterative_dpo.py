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


@pytest.mark.slow
def test_smoke_runs_every_round_on_policy(tmp_path):
    out = tmp_path / "run"
    summary = run_recipe("iterative_dpo", profile="smoke", out=out, echo=lambda _: None)
    saved = json.loads((out / "run.json").read_text())
    it = saved["iterate"]
    rounds = it["rounds"]
    assert [r["round"] for r in rounds] == [0, 1, 2] and summary["iterate"]["pairs"] == it["pairs"]
    assert saved["simulated"]["judges"]  # the run says its verdicts are SIMULATED
    policies = [it["base"]] + [r["merged_path"] for r in rounds[:-1]]
    for r, policy in zip(rounds, policies):
        # the pairs come from this round's policy: its generator is the policy's folder, and nothing else
        assert r["policy"] == policy and r["curate"]["generators"] == [f"policy-round-{r['round']}"]
        rows = [json.loads(line) for f in r["curate"]["data_files"] for line in Path(f).read_text().splitlines()]
        assert len(rows) == r["pairs"]
        assert {x["model_chosen"] for x in rows} | {x["model_rejected"] for x in rows} == {f"policy-round-{r['round']}"}
        assert r["curate"]["rows"]["candidates"] == 4 * r["curate"]["rows"]["prompts"] == 4 * 32
        assert r["pairs"] > 0 and r["pairs"] == r["curate"]["rows"]["exported"]
        # each round trains from the previous merge (round 0: the base) and merges into it
        assert r["trained_from"] == policy
        assert Path(r["merged_path"], "config.json").is_file() and r["merged_path"] != policy
        assert r["train"]["first"] is not None and r["train"]["last"] is not None
        assert r["eval"]["win_rate"]["n"] == 32 and r["win_rate_vs_base"] == r["eval"]["win_rate"]["value"]
        assert Path(r["eval"]["path"]).is_file()
        # the simulated world's truth: the jury keeps the answers its taste prefers
        assert r["curate"]["latent_score"]["chosen_mean"] > r["curate"]["latent_score"]["rejected_mean"]
    assert it["merged_path"] == rounds[-1]["merged_path"] == saved["merged_path"]
    assert it["win_rate_vs_base"] == [r["win_rate_vs_base"] for r in rounds]
