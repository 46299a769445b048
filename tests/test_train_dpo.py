"""QLoRA DPO and SFT on a tiny local model (CPU): learning shows in the logged history."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from prefjudge.recipes.schema import deep_merge
from prefjudge.train.config import config_from_dict
from prefjudge.train.dpo import build_dpo_trainer, train_dpo
from prefjudge.train.sft import train_sft
from prefjudge.train.tiny_model import build_tiny_model

pytestmark = pytest.mark.slow  # trains tiny models

TOPICS = ["the weather", "simple math", "the code", "a recipe", "the river", "the history of science"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    return str(build_tiny_model(tmp_path_factory.mktemp("models") / "tiny"))


@pytest.fixture(scope="module")
def pref_file(tmp_path_factory) -> Path:
    """A learnable preference: chosen answers explain carefully, rejected ones refuse."""
    rng = random.Random(0)
    path = tmp_path_factory.mktemp("data") / "pref.jsonl"
    rows = []
    for _ in range(40):
        t = rng.choice(TOPICS)
        rows.append({"prompt": f"Tell me about {t}.", "chosen": f"The answer explains {t} carefully.",
                     "rejected": f"No. {t} again!"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def cfg_for(tiny: str, data_file: Path, out: Path, **patch):
    base = {
        "model": {"name_or_path": tiny},
        "data": {"path": str(data_file), "chat_template": "chatml"},
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0},
        "dpo": {"max_steps": 16, "learning_rate": 5e-3, "logging_steps": 4, "per_device_train_batch_size": 4,
                "max_length": 128, "gradient_checkpointing": False, "optim": "paged_adamw_32bit"},
        "device": "cpu", "output_dir": str(out),
    }
    return config_from_dict(deep_merge(base, patch))


def test_qlora_dpo_learns_the_preference(tiny, pref_file, tmp_path):
    out = train_dpo(cfg_for(tiny, pref_file, tmp_path / "run"))
    h = out.history
    assert [e["step"] for e in h] == [4, 8, 12, 16]
    for key in ("loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"):
        assert all(key in e for e in h)
    assert h[-1]["rewards/margins"] > h[0]["rewards/margins"] + 0.5
    assert h[-1]["rewards/accuracies"] == 1.0 and h[0]["rewards/accuracies"] < 1.0
    assert h[-1]["loss"] < h[0]["loss"] < 0.7
    assert h[-1]["rewards/chosen"] > 0 > h[-1]["rewards/rejected"]
    # the 4-bit path: every projection of both layers is a bitsandbytes Linear4bit
    assert out.runtime["linear4bit_layers"] == 2 * 7 and out.runtime["quantization"] == "4bit"
    assert out.runtime["reference"] == "adapter_disabled" and not out.runtime["separate_ref_model_loaded"]
    assert out.runtime["optim"] == "adamw_torch" and any("paged_adamw_32bit" in n for n in out.notes)
    assert out.rows == {"read": 40, "filtered": 0, "too_long": 0, "train": 40, "eval": 0}
    adapter = Path(out.adapter_path)
    assert (adapter / "adapter_config.json").exists() and (adapter / "tokenizer_config.json").exists()
    assert out.mean_step_seconds and out.mean_step_seconds > 0 and out.peak_memory_mb > 0


def test_trainer_gets_4bit_base_and_lora(tiny, pref_file, tmp_path):
    import bitsandbytes as bnb
    from peft import PeftModel

    trainer, data, plan, _ = build_dpo_trainer(cfg_for(tiny, pref_file, tmp_path / "b"))
    assert isinstance(trainer.model, PeftModel) and trainer.ref_model is None
    layer = trainer.model.base_model.model.model.layers[0].self_attn.q_proj
    assert isinstance(layer.base_layer, bnb.nn.Linear4bit)
    assert layer.base_layer.weight.quant_state.quant_type == "nf4"
    assert all("lora_" in n for n, p in trainer.model.named_parameters() if p.requires_grad)


def test_precomputed_and_separate_references_train_the_same(tiny, pref_file, tmp_path):
    """Same reference log-probs three ways, so the same run. Also guards against bitsandbytes'
    CPU inference repacking, which silently cut gradients after the precompute pass."""
    base = train_dpo(cfg_for(tiny, pref_file, tmp_path / "a", dpo={"max_steps": 8}))
    pre = train_dpo(cfg_for(tiny, pref_file, tmp_path / "p", dpo={"max_steps": 8, "precompute_ref_log_probs": True}))
    sep = train_dpo(cfg_for(tiny, pref_file, tmp_path / "s", dpo={"max_steps": 8, "reference": "separate"}))
    assert sep.runtime["separate_ref_model_loaded"] and pre.runtime["reference"].startswith("precomputed")
    for other in (pre, sep):
        for a, b in zip(base.history, other.history):
            assert a["loss"] == pytest.approx(b["loss"], abs=2e-3)
            assert a["rewards/margins"] == pytest.approx(b["rewards/margins"], abs=2e-2)


def test_unquantized_lora_and_over_long_rows(tiny, pref_file, tmp_path):
    data = tmp_path / "mixed.jsonl"
    long_row = {"prompt": "Tell me about the code.", "chosen": "word " * 200, "rejected": "No."}
    data.write_text(pref_file.read_text() + (json.dumps(long_row) + "\n") * 3)
    out = train_dpo(cfg_for(tiny, data, tmp_path / "n", quantization={"mode": "none"},
                            dpo={"max_steps": 4, "logging_steps": 2}, data={"test_size": 0.1}))
    assert out.rows["too_long"] == 3 and out.rows["train"] + out.rows["eval"] == 40
    assert out.runtime["linear4bit_layers"] == 0 and out.runtime["quantization"] == "none"


def test_qlora_sft_lowers_the_loss(tmp_path_factory, tmp_path):
    tiny = str(build_tiny_model(tmp_path_factory.mktemp("zephyr") / "tiny", chat_template="zephyr"))
    path = tmp_path / "chat.jsonl"
    rows = [{"messages": [{"role": "user", "content": f"Tell me about {t}."},
                          {"role": "assistant", "content": f"The answer explains {t} carefully."}]}
            for t in TOPICS * 4]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = config_from_dict({
        "model": {"name_or_path": tiny}, "data": {"path": str(path), "loader": "ultrachat", "chat_template": "zephyr"},
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0}, "device": "cpu", "output_dir": str(tmp_path / "sft"),
        "sft": {"max_steps": 12, "learning_rate": 1e-2, "logging_steps": 4, "per_device_train_batch_size": 4,
                "gradient_checkpointing": False},
    })
    out = train_sft(cfg)
    assert out.method == "sft" and len(out.history) == 3
    assert out.history[-1]["loss"] < out.history[0]["loss"] - 0.2
    assert out.runtime["linear4bit_layers"] == 14
    assert (Path(out.adapter_path) / "adapter_model.safetensors").exists()
