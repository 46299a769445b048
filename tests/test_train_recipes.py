"""The four seed recipes: dry runs of the full profiles offline, smoke runs end to end on CPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prefjudge.recipes.loading import BUILTIN_DIR
from prefjudge.recipes.runner import run_recipe

RECIPES = BUILTIN_DIR
FOUR = ["neuralhermes", "tinyllama_sft_dpo", "llm_twin", "qwen25_stack_exchange"]


@pytest.fixture(scope="module", autouse=True)
def offline(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_DATASETS_OFFLINE", "1")
        mp.setenv("PREFJUDGE_CACHE", str(tmp_path_factory.getbasetemp() / "prefjudge-cache"))
        yield


@pytest.fixture(scope="module")
def neuralhermes(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("nh")
    run_recipe(RECIPES / "neuralhermes.yaml", profile="smoke", out=out, echo=lambda _: None)
    return out


@pytest.mark.parametrize("name", FOUR)
def test_full_profile_dry_run(name):
    lines: list[str] = []
    plan = run_recipe(RECIPES / f"{name}.yaml", dry_run=True, echo=lines.append)
    train = [s for s in plan["steps"] if s["kind"] in ("dpo", "sft")]
    assert plan["dry_run"] and train and plan["fits_all_steps"]
    for step in train:
        assert step["data"]["kept"] > 0 and step["data"]["example"]
        mem = step["memory"]
        assert mem["total_gb"] > 1 and mem["n_params"] > 1e9 and mem["fits"]
    assert "fits every step" in lines[0]


def test_dry_run_shows_the_seed_specifics():
    plan = run_recipe(RECIPES / "tinyllama_sft_dpo.yaml", dry_run=True, echo=lambda _: None)
    sft, _, dpo, merged = plan["steps"]
    assert dpo["data"]["filtered"] > 0 and dpo["data"]["dropped"]["status is tie"] > 0
    assert dpo["data"]["example"]["prompt"].startswith(("<|system|>\n", "<|user|>\n"))
    assert sft["data"]["example"]["text"].startswith("<|user|>\n")
    assert merged["adapters"] == ["@sft", "@dpo"] and merged["base"].startswith("TinyLlama/")
    assert dpo["memory"]["model"] == "tinyllama-1.1b"  # @sft_merged has its base's dimensions
    nh = run_recipe(RECIPES / "neuralhermes.yaml", dry_run=True, echo=lambda _: None)["steps"][0]
    assert nh["data"]["example"]["prompt"].endswith("<|im_start|>assistant\n")
    assert "T4" not in nh["memory"]["fits"] and "A100-80GB" in nh["memory"]["fits"]
    assert any("paged_adamw_32bit" in n for n in nh["on_cpu"])


def read_run(out: Path) -> dict:
    return json.loads((out / "run.json").read_text())


def assert_learned(train: dict) -> None:
    h = train["history"]
    assert len(h) >= 3
    assert h[-1]["rewards/margins"] > h[0]["rewards/margins"]
    assert h[-1]["rewards/accuracies"] >= h[0]["rewards/accuracies"] and h[-1]["rewards/accuracies"] == 1.0


@pytest.mark.slow
def test_neuralhermes_smoke(neuralhermes):
    run = read_run(neuralhermes)
    assert run["status"] == "ok" and (run["recipe"], run["profile"]) == ("neuralhermes", "smoke")
    assert_learned(run["train"])
    assert run["train"]["runtime"]["linear4bit_layers"] == 14
    assert run["merge"]["max_abs_logit_diff"] <= run["merge"]["tolerance"]
    assert Path(run["merged_path"], "model.safetensors").exists() and Path(run["adapter_path"]).is_dir()
    assert run["config"]["steps"][1]["adapters"] == [run["adapter_path"]]
    assert run["wall_seconds"] > 0 and run["peak_memory_mb"] > 0
    assert any("paged_adamw_32bit" in n for n in run["notes"])
    train = run["train"]  # what the run ran on, and on which data
    env = train["environment"]
    assert env["libraries"]["trl"] and env["libraries"]["torch"] and env["prefjudge"]["version"]
    assert env["hardware"]["cpu_count"] >= 1 and "gpus" in env["hardware"]
    assert len(train["data_fingerprint"]["train_sha256"]) == 64 and train["data_fingerprint"]["n_train"] > 0
    assert all("logps/chosen" in e and "logps/rejected" in e for e in train["history"])
    assert "- dpo\n" in Path(run["adapter_path"], "README.md").read_text()  # model cards
    assert "## Adapter 1" in Path(run["merged_path"], "README.md").read_text()
    # the QLoRA merge gap: the fp16/fp32 merge is exact, but not the 4-bit model that was trained
    gap = run["merge"]["trained_gap"]
    assert run["merge"]["argmax_disagreement"] == 0.0 and gap["max_abs_logit_diff"] > run["merge"]["max_abs_logit_diff"]
    assert 0.0 <= gap["argmax_disagreement"] <= 1.0 and "4-bit" in gap["reference"]
    assert run["lengths"]["dpo"]["mode"] == "truncate" and run["train"]["lengths"] == run["lengths"]["dpo"]


@pytest.mark.slow
def test_neuralhermes_eval_shows_the_learned_preference(neuralhermes):
    ev = read_run(neuralhermes)["eval"]
    assert ev["simulated"] and ev["n_prompts"] == 12 and ev["outcomes"]["failed"] == 0
    assert ev["win_rate"]["n"] == 12 and ev["win_rate"]["value"] >= 0.75 and ev["win_rate"]["ci"][0] > 0.5
    assert set(ev["mean_length"]) >= {"trained_chars", "base_chars", "delta_chars"}
    saved = json.loads(Path(ev["path"]).read_text())
    lc = ev["lc_win_rate"]
    signs = {(len(a["trained"]) > len(a["base"])) - (len(a["trained"]) < len(a["base"])) for a in saved["answers"]}
    assert lc["n"] == 12
    if signs in ({1}, {-1}):  # length and model are one variable: no length-controlled value, and why
        side = "longer" if signs == {1} else "shorter"
        assert lc["value"] is None and f"{side} than its opponent's in every one of its 12 pairs" in lc["reason"]
    else:
        assert lc["value"] is not None and 0.0 <= lc["value"] <= 1.0, (lc, saved["answers"])
    assert len(saved["answers"]) == 12 and saved["answers"][0]["trained"] != saved["answers"][0]["base"]
    assert saved["inference"]["device"] == "cpu" and saved["inference"]["dtype"] == "float32"
    card = Path(read_run(neuralhermes)["merged_path"], "README.md").read_text()  # the result is in the card
    assert "| win rate |" in card and "SIMULATED" in card.split("## ")[0]


@pytest.mark.slow
def test_evaluate_is_not_one_sided(neuralhermes):
    """Swapping the roles turns the verdicts around; a model against itself only ties."""
    from prefjudge.recipes.evaluation import evaluate
    from prefjudge.testing.jury import simulated_jury

    run = read_run(neuralhermes)
    merged, base = run["merged_path"], run["train"]["base_model"]
    prompts = ["Please explain recycling to a beginner.", "Please explain the heart to a beginner.",
               "Please explain volcanoes to a beginner.", "Please explain vaccines to a beginner."]
    with simulated_jury("prefjudge.train.scores:sample_style_score") as judges:
        swapped = evaluate(base, merged, prompts, judges, max_new_tokens=24)
        same = evaluate(merged, merged, prompts, judges, max_new_tokens=24)
    assert swapped.win_rate["value"] <= 0.25
    assert same.outcomes["a"] == same.outcomes["b"] == 0 and same.win_rate["value"] == 0.5


@pytest.mark.slow
def test_tinyllama_smoke_chains_sft_and_dpo(tmp_path):
    run = run_recipe(RECIPES / "tinyllama_sft_dpo.yaml", profile="smoke", out=tmp_path, echo=lambda _: None)
    assert run["sft"]["method"] == "sft" and run["train"]["method"] == "dpo"
    assert run["train"]["base_model"] == run["steps"]["sft_merged"]["path"]  # DPO on the merged SFT model
    assert run["train"]["rows"]["filtered"] > 0
    assert_learned(run["train"])
    final = run["steps"]["merged"]
    assert len(final["adapters"]) == 2 and final["max_abs_logit_diff"] <= final["tolerance"]
    # as the seed: SFT merged into the dequantized 4-bit weights, which the DPO step quantizes again
    sft_merged = run["steps"]["sft_merged"]
    assert sft_merged["dequantized"] and sft_merged["trained_gap"]["max_abs_logit_diff"] < 1e-3


@pytest.mark.slow
def test_llm_twin_smoke_builds_then_trains(tmp_path):
    run = run_recipe(RECIPES / "llm_twin.yaml", profile="smoke", out=tmp_path, echo=lambda _: None)
    ds = run["dataset"]
    assert ds["kept"] > 10 and ds["chunks"] > 0 and ds["kept"] + sum(ds["dropped"].values()) == ds["triples"]
    assert run["train"]["rows"]["read"] == ds["kept"] and run["train"]["rows"]["eval"] >= 1
    assert run["train"]["runtime"]["quantization"] == "none"
    assert run["train"]["eval_history"] and "eval_rewards/margins" in run["train"]["eval_history"][-1]
    assert_learned(run["train"])


@pytest.mark.slow
def test_qwen_smoke_conversational(tmp_path):
    run = run_recipe(RECIPES / "qwen25_stack_exchange.yaml", profile="smoke", out=tmp_path, echo=lambda _: None)
    assert_learned(run["train"])
    assert run["train"]["rows"]["eval"] == 2 and run["merge"]["max_abs_logit_diff"] < 1e-4
    notes = " ".join(run["train"]["notes"])  # the seed's settings: carried, or said not to be
    assert "dpo.draw_threshold=0.25" in notes and "not applied" in notes
    assert "model.bos_token_id=0 applied" in notes  # the tiny model defines none


def test_failed_run_still_writes_run_json(tmp_path):
    text = (RECIPES / "neuralhermes.yaml").read_text().replace(
        "path: data/orca_dpo_pairs_sample.jsonl}", "path: data/missing.jsonl}")
    recipe = tmp_path / "broken.yaml"
    recipe.write_text(text)
    (tmp_path / "data").symlink_to(RECIPES / "data")
    with pytest.raises(Exception, match="does not exist"):
        run_recipe(recipe, profile="smoke", out=tmp_path / "out", echo=lambda _: None)
    run = read_run(tmp_path / "out")
    assert run["status"] == "failed" and "missing.jsonl" in run["error"] and run["train"] is None
