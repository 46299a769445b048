"""Several processes: per-rank device maps, main-process-only steps, the shipped accelerate configs,
and a real 2-process DDP run of a recipe (gloo, CPU) through torchrun."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from prefjudge.recipes.loading import ACCELERATE_DIR, BUILTIN_DIR, accelerate_configs
from prefjudge.train import distributed as dist
from prefjudge.train.runtime import device_map

ROOT = Path(__file__).resolve().parents[1]
DIST_ENV = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "ACCELERATE_USE_FSDP", "ACCELERATE_USE_DEEPSPEED", "ACCELERATE_USE_CPU")


@pytest.fixture
def env(monkeypatch):
    for name in DIST_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_each_process_loads_on_its_own_gpu(env):
    assert device_map(False) == {"": 0} and device_map(True) == "cpu"
    env.setenv("WORLD_SIZE", "4")
    env.setenv("RANK", "3")
    env.setenv("LOCAL_RANK", "1")  # the second GPU of the second machine
    assert device_map(False) == {"": 1} and dist.launch_mode() == "ddp" and not dist.is_main()
    from prefjudge.train.runtime import InferencePlan

    assert InferencePlan("cuda", "bfloat16", False, None).load_kwargs()["device_map"] == {"": 1}
    env.setenv("ACCELERATE_USE_FSDP", "true")  # FSDP and ZeRO-3 place the shards themselves
    assert device_map(False) is None and dist.launch_mode() == "fsdp"
    env.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    assert device_map(False) is None and dist.launch_mode() == "deepspeed"


def test_4bit_weights_are_stored_in_the_model_dtype_under_fsdp(env):
    import torch

    from prefjudge.train.config import QuantizationConfig
    from prefjudge.train.runtime import RuntimePlan, bnb_config

    plan = RuntimePlan("cuda", "adamw_torch", True, False, "bfloat16", "bfloat16")
    plain = bnb_config(QuantizationConfig(), plan)
    assert plain.bnb_4bit_quant_storage == torch.uint8
    env.setenv("WORLD_SIZE", "2")
    env.setenv("ACCELERATE_USE_FSDP", "true")
    assert bnb_config(QuantizationConfig(), plan).bnb_4bit_quant_storage == torch.bfloat16


def test_a_single_process_runs_everything_itself(env):
    calls = []
    assert dist.on_main(lambda: calls.append(1) or "done") == "done" and calls == [1]
    assert dist.broadcast({"a": 1}) == {"a": 1} and dist.gather(5) == [5]
    with dist.main_first():
        calls.append(2)
    dist.barrier()
    assert calls == [1, 2] and dist.describe()["world_size"] == 1
    from prefjudge.train.common import distributed_args
    from prefjudge.train.config import DPOSettings

    assert distributed_args(DPOSettings()) == {}
    env.setenv("WORLD_SIZE", "2")
    assert distributed_args(DPOSettings()) == {"ddp_find_unused_parameters": False,
                                               "gradient_checkpointing_kwargs": {"use_reentrant": False}}


# ---- the shipped accelerate configs, checked offline against accelerate's own code ----------------

def _launch_dests() -> set[str]:
    from accelerate.commands.launch import launch_command_parser

    return {action.dest for action in launch_command_parser()._actions}


def test_accelerate_configs_ship_and_parse():
    from accelerate.commands.config.config_args import ClusterConfig, load_config_from_file
    from accelerate.utils import DistributedType

    names = set(accelerate_configs())
    assert names == {"accelerate/multi_gpu", "accelerate/multi_node", "accelerate/fsdp_qlora",
                     "accelerate/deepspeed_zero2", "accelerate/deepspeed_zero3_qlora"}
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"recipes/builtin/accelerate/*.yaml"' in pyproject  # package data: installed with the wheel
    kinds = {}
    for name, path in accelerate_configs().items():
        assert path.parent == ACCELERATE_DIR == BUILTIN_DIR / "accelerate"
        config = load_config_from_file(str(path))  # accelerate's loader: unknown top-level keys raise
        assert isinstance(config, ClusterConfig) and config.num_processes >= 2, name
        assert config.main_training_function == "main" and config.use_cpu is False
        kinds[name] = config.distributed_type
    assert kinds["accelerate/multi_gpu"] == kinds["accelerate/multi_node"] == DistributedType.MULTI_GPU
    assert kinds["accelerate/fsdp_qlora"] == DistributedType.FSDP
    assert kinds["accelerate/deepspeed_zero2"] == kinds["accelerate/deepspeed_zero3_qlora"] == DistributedType.DEEPSPEED
    multi_node = yaml.safe_load((ACCELERATE_DIR / "multi_node.yaml").read_text())
    assert multi_node["num_machines"] > 1 and multi_node["main_process_port"]


def test_fsdp_config_uses_keys_and_values_accelerate_knows():
    from accelerate.utils import constants

    fsdp = yaml.safe_load((ACCELERATE_DIR / "fsdp_qlora.yaml").read_text())["fsdp_config"]
    dests = _launch_dests()  # `accelerate launch` copies fsdp_config.x to its --x argument
    assert set(fsdp) <= dests, set(fsdp) - dests
    assert fsdp["fsdp_sharding_strategy"] in constants.FSDP_SHARDING_STRATEGY
    assert fsdp["fsdp_auto_wrap_policy"] in constants.FSDP_AUTO_WRAP_POLICY
    assert fsdp["fsdp_backward_prefetch"] in constants.FSDP_BACKWARD_PREFETCH
    assert fsdp["fsdp_state_dict_type"] in constants.FSDP_STATE_DICT_TYPE
    # QLoRA under FSDP: the original parameters cannot be used with the packed 4-bit weights, and the
    # weights are loaded once and synced (cpu_ram_efficient_loading needs sync_module_states)
    assert fsdp["fsdp_use_orig_params"] is False and fsdp["fsdp_cpu_ram_efficient_loading"] is True
    assert fsdp["fsdp_sync_module_states"] is True and fsdp["fsdp_version"] == 1


def test_deepspeed_configs_use_deepspeed_plugin_fields():
    from accelerate.utils import DeepSpeedPlugin

    fields = {f.name for f in dataclasses.fields(DeepSpeedPlugin)}
    dests = _launch_dests()
    for name, stage in (("deepspeed_zero2", 2), ("deepspeed_zero3_qlora", 3)):
        ds = yaml.safe_load((ACCELERATE_DIR / f"{name}.yaml").read_text())["deepspeed_config"]
        assert set(ds) <= fields and set(ds) <= dests, (name, set(ds) - fields)
        assert ds["zero_stage"] == stage
        assert ds["offload_optimizer_device"] in ("none", "cpu", "nvme") and ds["offload_param_device"] in ("none", "cpu", "nvme")
        assert "gradient_accumulation_steps" not in ds  # the trainer's setting, not a second one here
    zero3 = yaml.safe_load((ACCELERATE_DIR / "deepspeed_zero3_qlora.yaml").read_text())["deepspeed_config"]
    assert zero3["zero3_init_flag"] is True and zero3["zero3_save_16bit_model"] is True  # PEFT's ZeRO-3 QLoRA


def test_recipe_show_prints_an_accelerate_config():
    from typer.testing import CliRunner

    from prefjudge.cli.train import app

    res = CliRunner().invoke(app, ["recipe", "show", "accelerate/fsdp_qlora"])
    assert res.exit_code == 0 and "distributed_type: FSDP" in res.output
    listed = CliRunner().invoke(app, ["recipe", "list"])
    assert "accelerate/deepspeed_zero3_qlora" in listed.output


# ---- a real 2-process DDP run (gloo on CPU) -------------------------------------------------------

RECIPE = """
name: ddp_smoke
description: SFT, merge, DPO on the merged model, chained merge, eval; two processes
source: tests/test_train_distributed.py
cpu_threads: 1
steps:
  - id: sft
    kind: sft
    config:
      model: {tiny: {chat_template: zephyr}}
      lora: {r: 4, alpha: 8, dropout: 0.0}
      data: {path: data/ultrachat_sample.jsonl, loader: ultrachat, chat_template: zephyr, max_rows: 16, too_long: truncate}
      sft: {learning_rate: 5.0e-3, max_steps: 2, per_device_train_batch_size: 2, gradient_checkpointing: false,
            logging_steps: 1, max_length: 128}
      device: cpu
  - {id: sft_merged, kind: merge, base: "@sft", adapters: ["@sft"], dtype: float32}
  - id: dpo
    kind: dpo
    config:
      model: {name_or_path: "@sft_merged", chat_template: zephyr}
      lora: {r: 4, alpha: 8, dropout: 0.0}
      data: {path: data/distilabel_orca_sample.jsonl, loader: distilabel_orca, chat_template: zephyr_system,
             too_long: truncate}
      dpo: {learning_rate: 5.0e-3, max_steps: 2, per_device_train_batch_size: 2, gradient_checkpointing: false,
            logging_steps: 1, max_prompt_length: 64, max_length: 96}
      device: cpu
  - {id: merged, kind: merge, base: "@sft", adapters: ["@sft", "@dpo"], dtype: float32}
  - id: eval
    kind: eval
    trained: "@merged"
    base: "@sft"
    prompts: data/eval_prompts.jsonl
    max_prompts: 2
    max_new_tokens: 4
    device: cpu
    jury: {simulated_score: "prefjudge.train.scores:sample_style_score"}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_process_ddp_recipe_runs_each_step_once(tmp_path):
    """``torchrun --nproc_per_node 2 -m prefjudge.cli recipe run``: both processes train (the data is
    split between them), the merges, the evaluation and run.json happen once, on the main process,
    after the adapter they read was saved; the second training step, on the first merge's output,
    finds it on both processes. Before the guards rank 1 reached the merge before rank 0 saved the
    adapter, and each process made its own output folder."""
    (tmp_path / "data").symlink_to(BUILTIN_DIR / "data")
    (tmp_path / "ddp.yaml").write_text(RECIPE)
    env = {**os.environ, "PREFJUDGE_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1",
           "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONPATH": str(ROOT)}
    for name in DIST_ENV:
        env.pop(name, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), "-m", "prefjudge.cli", "recipe", "run", "ddp.yaml"]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1, runs  # one output folder: the main process chose it, the other was told
    run = json.loads((runs[0] / "run.json").read_text())
    assert run["status"] == "ok"
    d = run["distributed"]
    assert d["world_size"] == 2 and d["mode"] == "ddp" and d["backend"] == "gloo"
    assert d["steps_by_rank"] == {"0": ["sft", "sft_merged", "dpo", "merged", "eval"], "1": ["sft", "dpo"]}
    train = run["train"]
    assert train["runtime"]["distributed"]["world_size"] == 2 and len(train["runtime"]["distributed"]["peak_memory_mb_by_rank"]) == 2
    # the data is shared between the processes: 2 steps of 2 rows on each of 2 processes = 4 rows per step
    rows = train["rows"]["train"]
    assert train["history"][0]["epoch"] == pytest.approx(1 / -(-rows // 4), abs=1e-3)
    assert train["base_model"] == run["steps"]["sft_merged"]["path"]  # DPO read the main process's merge
    assert Path(train["adapter_path"], "adapter_model.safetensors").exists()
    assert Path(train["adapter_path"], "tokenizer_config.json").exists() and Path(train["adapter_path"], "README.md").exists()
    merged = run["steps"]["merged"]
    assert merged["max_abs_logit_diff"] <= merged["tolerance"] and Path(merged["path"], "model.safetensors").exists()
    assert run["eval"]["n_prompts"] == 2 and run["eval"]["simulated"]
    assert done.stdout.count("step sft_merged (merge)") == 1 and done.stdout.count("run.json:") == 1  # one process reports
