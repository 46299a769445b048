"""The training CLI (typer app mounted as ``prefjudge train``): thin wrappers, exit code 2 on errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from prefjudge.cli.train import app
from prefjudge.recipes.loading import BUILTIN_DIR

RECIPES = BUILTIN_DIR
runner = CliRunner()


@pytest.fixture(autouse=True)
def cache(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("PREFJUDGE_CACHE", str(tmp_path_factory.getbasetemp() / "prefjudge-cache"))


def test_recipe_dry_run_prints_the_plan():
    res = runner.invoke(app, ["recipe", "run", str(RECIPES / "tinyllama_sft_dpo.yaml"), "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "memory ~" in res.output and "fits every step" in res.output and "step dpo [dpo]" in res.output
    res = runner.invoke(app, ["recipe", "run", str(RECIPES / "neuralhermes.yaml"), "--dry-run", "--json"])
    assert json.loads(res.output)["steps"][0]["memory"]["total_gb"] > 10


def test_bad_config_exits_2_naming_the_field(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {name_or_path: m}\ndata: {path: d.jsonl}\ndpo: {beta: high}\n")
    for cmd in (["dpo", str(cfg)], ["memory", str(cfg)]):
        res = runner.invoke(app, cmd)
        assert res.exit_code == 2 and "field 'dpo.beta'" in res.output


def test_memory_command(tmp_path):
    cfg = tmp_path / "m.yaml"
    cfg.write_text("model: {name_or_path: TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T}\n"
                   "data: {hub_id: HuggingFaceH4/ultrachat_200k}\nsft: {max_length: 512}\n")
    res = runner.invoke(app, ["memory", str(cfg), "--method", "sft"])
    assert res.exit_code == 0 and "total" in res.output and "T4" in res.output
    res = runner.invoke(app, ["memory", str(RECIPES / "neuralhermes.yaml")])
    assert res.exit_code == 2 and "unknown field" in res.output  # a recipe is not a training config


@pytest.mark.slow
def test_train_dpo_from_yaml_then_merge(tmp_path):
    cfg = tmp_path / "dpo.yaml"
    cfg.write_text(f"""
model: {{tiny: {{chat_template: chatml}}}}
data: {{path: {RECIPES / 'data' / 'orca_dpo_pairs_sample.jsonl'}, loader: orca_dpo_pairs, chat_template: chatml}}
lora: {{r: 4, alpha: 8, dropout: 0.0}}
dpo: {{max_steps: 4, learning_rate: 5.0e-3, logging_steps: 2, gradient_checkpointing: false, max_length: 384}}
device: cpu
""")
    res = runner.invoke(app, ["dpo", str(cfg), "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    result = json.loads((tmp_path / "run" / "train.json").read_text())
    assert len(result["history"]) == 2 and "rewards/margins" in result["history"][-1]
    res = runner.invoke(app, ["merge", result["base_model"], result["adapter_path"], "--out", str(tmp_path / "m"),
                              "--dtype", "float32"])
    assert res.exit_code == 0, res.output
    assert "max |logit diff|" in res.output and (tmp_path / "m" / "model.safetensors").exists()


def test_memory_command_takes_dimensions(tmp_path):
    cfg = tmp_path / "m.yaml"
    cfg.write_text("model: {name_or_path: someone/unknown-9b}\ndata: {hub_id: x}\n")
    res = runner.invoke(app, ["memory", str(cfg)])
    assert res.exit_code == 2 and "--hidden-size" in res.output
    res = runner.invoke(app, ["memory", str(cfg), "--hidden-size", "3584", "--layers", "42", "--heads", "16",
                              "--kv-heads", "8", "--head-dim", "256", "--vocab-size", "256000", "--tied",
                              "--params", "9.24B"])
    assert res.exit_code == 0, res.output
    assert "9.24B parameters (command line" in res.output and "total" in res.output
    gemma = tmp_path / "g.yaml"
    gemma.write_text("model: {name_or_path: google/gemma-2-9b-it}\ndata: {hub_id: x}\n")
    res = runner.invoke(app, ["memory", str(gemma)])
    assert res.exit_code == 0 and "gemma-2-9b: 9.24B parameters" in res.output and "could not be read" in res.output
    res = runner.invoke(app, ["memory", str(gemma), "--layers", "21"])
    assert res.exit_code == 0 and "gemma-2-9b: 5.08B parameters (command line over" in res.output
