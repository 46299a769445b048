"""Training configs and recipes: validation errors name the field; CPU substitutions are recorded."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from prefjudge.errors import ConfigError
from prefjudge.recipes.loading import BUILTIN_DIR, load_recipe
from prefjudge.recipes.schema import deep_merge
from prefjudge.train.config import QuantizationConfig, config_from_dict, load_config
from prefjudge.train.runtime import plan_runtime

RECIPES = BUILTIN_DIR
BASE = {"model": {"name_or_path": "m"}, "data": {"path": "d.jsonl"}}


def write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_yaml_config_loads(tmp_path):
    cfg = load_config(write(tmp_path, """
        model: {name_or_path: teknium/OpenHermes-2.5-Mistral-7B}
        data: {hub_id: Intel/orca_dpo_pairs, loader: orca_dpo_pairs, chat_template: chatml}
        lora: {r: 16, alpha: 16}
        dpo: {beta: 0.1, max_steps: 200, optim: paged_adamw_32bit, warmup_steps: 100}
    """))
    assert cfg.dpo.max_steps == 200 and cfg.lora.r == 16 and cfg.quantization.mode == "4bit"
    assert cfg.lora.target_modules[-1] == "down_proj"


@pytest.mark.parametrize("patch,field", [
    ({"dpo": {"beta": "high"}}, "dpo.beta"),
    ({"dpo": {"betta": 0.2}}, "dpo.betta"),
    ({"lora": {"r": 0}}, "lora.r"),
    ({"quantization": {"mode": "3bit"}}, "quantization.mode"),
    ({"dpo": {"lr_scheduler_type": "cosinus"}}, "dpo.lr_scheduler_type"),
    ({"model": {"name_or_path": None}}, "model"),
    ({"data": {"path": None}}, "data"),
    ({"dpo": {"warmup_steps": 10, "warmup_ratio": 0.1}}, "dpo"),
])
def test_bad_config_names_the_field(patch, field):
    with pytest.raises(ConfigError, match=f"field '{field}'"):
        config_from_dict(deep_merge(BASE, patch))


def test_yaml_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "model: [unclosed\n"))
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(write(tmp_path, "- a\n- b\n"))
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    path = write(tmp_path, "model: {name_or_path: m}\ndata: {path: d}\ndpo: {max_steps: -1}\n")
    with pytest.raises(ConfigError, match=rf"{path.name}.*field 'dpo.max_steps'"):
        load_config(path)


def test_cpu_plan_substitutes_and_says_so():
    cfg = config_from_dict(deep_merge(BASE, {"dpo": {"optim": "paged_adamw_32bit", "precision": "bf16"},
                                             "model": {"dtype": "float16"}}))
    plan = plan_runtime(cfg.dpo, cfg.quantization, cfg.model, "auto", cuda_available=False)
    assert (plan.device, plan.optim, plan.bf16, plan.fp16) == ("cpu", "adamw_torch", False, False)
    assert plan.use_cpu and plan.model_dtype == "float32" and plan.compute_dtype == "float32"
    text = " | ".join(plan.notes)
    assert "paged_adamw_32bit needs CUDA" in text and "bf16" in text and "float16" in text
    gpu = plan_runtime(cfg.dpo, cfg.quantization, cfg.model, "auto", cuda_available=True)
    assert (gpu.device, gpu.optim, gpu.bf16, gpu.notes) == ("cuda", "paged_adamw_32bit", True, [])
    assert gpu.model_dtype == "float16" and gpu.compute_dtype == "bfloat16"
    plain = plan_runtime(cfg.dpo, QuantizationConfig(mode="none"), cfg.model, "cpu", cuda_available=True)
    assert plain.device == "cpu" and plain.compute_dtype is None
    with pytest.raises(ConfigError, match="field 'device'"):
        plan_runtime(cfg.dpo, cfg.quantization, cfg.model, "cuda", cuda_available=False)


def test_adamw_torch_needs_no_substitution():
    cfg = config_from_dict(deep_merge(BASE, {"dpo": {"optim": "adamw_torch", "precision": "fp32"}}))
    plan = plan_runtime(cfg.dpo, QuantizationConfig(mode="none"), cfg.model, "cpu", cuda_available=False)
    assert plan.notes == [] and plan.optim == "adamw_torch"


def test_recipe_error_names_step_and_field(tmp_path):
    text = (RECIPES / "neuralhermes.yaml").read_text().replace("beta: 0.1", "beta: lots")
    path = write(tmp_path, text, "broken.yaml")
    with pytest.raises(ConfigError, match=r"step 'dpo' \(steps\.0\.config\).*field 'dpo\.beta'"):
        load_recipe(path)


def test_recipe_structure_errors(tmp_path):
    ok = (RECIPES / "neuralhermes.yaml").read_text()
    with pytest.raises(ConfigError, match="no profile 'tiny'"):
        load_recipe(RECIPES / "neuralhermes.yaml", profile="tiny")
    path = write(tmp_path, ok.replace("      dpo:\n        config:", "      dpx:\n        config:"), "r1.yaml")
    with pytest.raises(ConfigError, match="unknown step"):
        load_recipe(path, profile="smoke")
    path = write(tmp_path, ok.replace('adapters: ["@dpo"]', 'adapters: ["@later"]'), "r2.yaml")
    with pytest.raises(ConfigError, match="'@later', which is not an earlier step"):
        load_recipe(path)
    path = write(tmp_path, ok.replace("kind: merge", "kind: melt"), "r3.yaml")
    with pytest.raises(ConfigError, match="field 'steps.1"):
        load_recipe(path)


def test_smoke_profile_overrides_full():
    full = load_recipe(RECIPES / "neuralhermes.yaml")
    smoke = load_recipe(RECIPES / "neuralhermes.yaml", profile="smoke")
    f, s = full.steps[0].config, smoke.steps[0].config
    assert f["model"]["name_or_path"] == "teknium/OpenHermes-2.5-Mistral-7B" and "tiny" not in f["model"]
    assert "name_or_path" not in s["model"] and s["model"]["tiny"] == {"chat_template": "chatml"}
    assert s["dpo"]["beta"] == f["dpo"]["beta"] == 0.1  # untouched keys are inherited
    assert s["data"]["loader"] == "orca_dpo_pairs" and "hub_id" not in s["data"]
