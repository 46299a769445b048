"""TRL's flat ``trl dpo`` YAML as a training config, command-line overrides of any field, and
``report_to`` (trackio logged locally and read back; W&B validated)."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prefjudge.cli.train import app
from prefjudge.errors import ConfigError
from prefjudge.train.config import config_from_dict
from prefjudge.train.trl_config import apply_overrides, from_trl, load_training_config, parse_flags

ROOT = Path(__file__).resolve().parents[1]
TRL_YAML = """\
# a file for `trl dpo --config trl.yaml`, unchanged
model_name_or_path: {model}
dataset_name: pairs.jsonl
use_peft: true
lora_r: 8
lora_alpha: 16
lora_dropout: 0.0
lora_target_modules: all-linear
load_in_4bit: true
use_bnb_nested_quant: true
learning_rate: 5.0e-3
beta: 0.1
max_length: 64
per_device_train_batch_size: 4
max_steps: 4
logging_steps: 2
gradient_checkpointing: false
save_strategy: "no"
output_dir: out
use_cpu: true
bf16: false
disable_dropout: true
"""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    from prefjudge.train.tiny_model import build_tiny_model

    root = tmp_path_factory.mktemp("flat")
    build_tiny_model(root / "tiny")
    rng = random.Random(0)
    rows = []
    for _ in range(24):
        t = rng.choice(["the weather", "simple math", "the code", "a recipe"])
        rows.append({"prompt": f"Tell me about {t}.", "chosen": f"The answer explains {t} carefully.",
                     "rejected": f"No. {t} again!"})
    rows.append({"prompt": "Tell me about the river.", "chosen": "word " * 200, "rejected": "No."})  # over max_length
    (root / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "trl.yaml").write_text(TRL_YAML.format(model=root / "tiny"))
    return root


def test_trl_keys_map_to_the_training_config(workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    cfg, notes = load_training_config(workdir / "trl.yaml")
    assert cfg.model.name_or_path == str(workdir / "tiny") and cfg.data.path == str(workdir / "pairs.jsonl")
    assert (cfg.lora.r, cfg.lora.alpha, cfg.lora.dropout, len(cfg.lora.target_modules)) == (8, 16, 0.0, 7)
    assert cfg.quantization.mode == "4bit" and cfg.quantization.double_quant is True
    assert (cfg.dpo.learning_rate, cfg.dpo.beta, cfg.dpo.max_length, cfg.dpo.max_steps) == (5e-3, 0.1, 64, 4)
    assert cfg.dpo.precision == "fp32" and cfg.device == "cpu" and cfg.output_dir == "out"
    assert cfg.dpo.trl_args == {"disable_dropout": True}  # TRL has it, prefjudge does not: passed to DPOConfig
    assert cfg.data.too_long == "truncate" and cfg.data.format == "auto"  # read and cut as TRL does
    assert any("all-linear" in n for n in notes)


def test_trl_defaults_fill_what_the_file_leaves_out():
    nested, notes = from_trl({"model_name_or_path": "m", "dataset_name": "trl-lib/ultrafeedback_binarized"})
    cfg = config_from_dict(nested)
    assert cfg.data.hub_id == "trl-lib/ultrafeedback_binarized" and cfg.quantization.mode == "none"
    assert (cfg.dpo.learning_rate, cfg.dpo.lr_scheduler_type, cfg.dpo.per_device_train_batch_size) == (1e-6, "linear", 8)
    assert cfg.dpo.num_train_epochs == 3.0 and cfg.lora.alpha == 32 and cfg.lora.target_modules == ["q_proj", "v_proj"]
    assert cfg.model.dtype == "float32"
    assert any("use_peft not set" in n for n in notes) and any("PEFT's default" in n for n in notes)


def test_unknown_and_unsupported_keys_are_errors_naming_the_key():
    with pytest.raises(ConfigError, match="TRL key 'bet'"):
        from_trl({"model_name_or_path": "m", "dataset_name": "d", "bet": 0.2})
    with pytest.raises(ConfigError, match="TRL key 'use_dora'.*plain LoRA"):
        from_trl({"model_name_or_path": "m", "dataset_name": "d", "use_dora": True})
    with pytest.raises(ConfigError, match="use_peft.*full fine-tune"):
        from_trl({"model_name_or_path": "m", "dataset_name": "d", "use_peft": False})
    with pytest.raises(ConfigError, match="TRL key 'load_in_8bit'"):
        from_trl({"model_name_or_path": "m", "dataset_name": "d", "load_in_8bit": True})


def test_overrides_by_dotted_field_and_trl_flag():
    flags = parse_flags(["--beta", "0.2", "--lora_r=32", "--loss_type", "ipo", "--no_gradient_checkpointing"])
    assert flags == {"beta": 0.2, "lora_r": 32, "loss_type": "ipo", "gradient_checkpointing": False}
    nested = {"model": {"name_or_path": "m"}, "data": {"path": "d.jsonl"}, "dpo": {"beta": 0.1}}
    out, _ = apply_overrides(nested, sets=["dpo.learning_rate=1e-5", "lora.target_modules=[q_proj, v_proj]"], flags=flags)
    cfg = config_from_dict(out)
    assert cfg.dpo.beta == 0.2 and cfg.lora.r == 32 and cfg.dpo.loss_type == ["ipo"] and not cfg.dpo.gradient_checkpointing
    assert cfg.dpo.learning_rate == 1e-5 and cfg.lora.target_modules == ["q_proj", "v_proj"]
    with pytest.raises(ConfigError, match="FIELD=VALUE"):
        apply_overrides(nested, sets=["dpo.beta"])


def test_cli_dry_run_of_a_trl_file_with_overrides(workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    res = CliRunner().invoke(app, ["run", "trl.yaml", "--dry-run", "--beta", "0.3", "--set", "lora.r=16"])
    assert res.exit_code == 0, res.output
    assert "beta: 0.3" in res.output and "  r: 16" in res.output and "trainer dpo (trl.DPOTrainer)" in res.output
    assert not (workdir / "out").exists()  # nothing trained
    bad = CliRunner().invoke(app, ["run", "trl.yaml", "--dry-run", "--bogus_key", "1"])
    assert bad.exit_code == 2 and "TRL key 'bogus_key'" in bad.output


def test_report_to_is_validated():
    if importlib.util.find_spec("trackio") is not None:
        assert config_from_dict({"model": {"tiny": {}}, "data": {"path": "x.jsonl"}, "report_to": "trackio"}).report_to == ["trackio"]
    else:  # the lowest-versions job has no [tracking] extra: the missing package is named with its install command
        with pytest.raises(ConfigError, match="pip install trackio"):
            config_from_dict({"model": {"tiny": {}}, "data": {"path": "x.jsonl"}, "report_to": "trackio"})
    assert config_from_dict({"model": {"tiny": {}}, "data": {"path": "x.jsonl"}, "report_to": "none"}).report_to == []
    with pytest.raises(ConfigError, match="unknown tracker 'wandbb'"):
        config_from_dict({"model": {"tiny": {}}, "data": {"path": "x.jsonl"}, "report_to": ["wandbb"]})
    if importlib.util.find_spec("wandb") is not None:
        pytest.skip("wandb is installed here")
    with pytest.raises(ConfigError, match="pip install wandb"):
        config_from_dict({"model": {"tiny": {}}, "data": {"path": "x.jsonl"}, "report_to": ["wandb"]})


@pytest.fixture(scope="module")
def flat_run(workdir) -> Path:
    """``prefjudge train run trl.yaml`` (TRL's file, unchanged) with overrides and trackio, in a
    subprocess so that trackio reads ``TRACKIO_DIR`` when it is imported."""
    env = {**os.environ, "TRACKIO_DIR": str(workdir / "trackio"), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "prefjudge.cli", "train", "run", "trl.yaml", "--beta", "0.2", "--set", "lora.r=16",
           "--report_to", "trackio", "--project", "pj-test", "--run_name", "flat-run"]
    done = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return workdir


@pytest.mark.slow
def test_a_trl_file_trains_unchanged(flat_run):
    out = json.loads((flat_run / "out" / "train.json").read_text())
    assert out["trainer"] == "dpo" and len(out["history"]) == 2 and out["runtime"]["linear4bit_layers"] == 14
    adapter = json.loads((flat_run / "out" / "adapter" / "adapter_config.json").read_text())
    assert adapter["r"] == 16 and adapter["lora_alpha"] == 16  # --set lora.r=16 over the file's lora_r: 8
    record = json.loads((flat_run / "out" / "adapter" / "prefjudge_training.json").read_text())
    assert record["config"]["dpo"]["beta"] == 0.2 and record["config"]["dpo"]["trl_args"] == {"disable_dropout": True}
    # TRL's reading: string rows used verbatim; the over-long row truncated, not dropped
    assert out["rows"]["train"] == 25 and out["rows"]["too_long"] == 0
    assert out["lengths"]["mode"] == "truncate" and out["lengths"]["truncated"] == 1 and out["lengths"]["dropped"] == 0


@pytest.mark.slow
def test_trackio_logs_the_run_locally(flat_run):
    db = flat_run / "trackio" / "pj-test.db"
    assert db.is_file()
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT run_name, step, metrics FROM metrics ORDER BY id").fetchall()
    logged = [json.loads(m) for name, _, m in rows if name == "flat-run"]
    margins = [m["train/rewards/margins"] for m in logged if "train/rewards/margins" in m]
    history = json.loads((flat_run / "out" / "train.json").read_text())["history"]
    assert margins == pytest.approx([h["rewards/margins"] for h in history], rel=1e-4)
    assert all("train/loss" in m and "train/logps/chosen" in m for m in logged if "train/rewards/margins" in m)


def test_rows_are_read_as_trl_reads_them():
    from prefjudge.train import data as D

    implicit = [{"chosen": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}],
                 "rejected": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "5"}]}]
    fmt, template = D.resolve_format("auto", None, implicit)
    turns = D.map_rows(implicit, "preference").turns
    assert fmt == "conversational" and turns[0].prompt == [{"role": "user", "content": "2+2?"}]
    assert (turns[0].chosen, turns[0].rejected) == ("4", "5")
    plain = [{"prompt": "Question: 2+2?\n\nAnswer: ", "chosen": "4", "rejected": "5"}]
    fmt, template = D.resolve_format("auto", None, plain)
    rows = D.format_rows(D.map_rows(plain, "preference").turns, fmt, template=template)
    assert (fmt, template) == ("standard", "none") and rows[0]["prompt"] == plain[0]["prompt"]  # verbatim, no template
