"""TRL 1.16's DPOTrainer takes an exported dataset as is (a few CPU steps on the tiny local model)."""

from __future__ import annotations

import math

import pytest

import prefjudge.curate as pc

pytestmark = pytest.mark.slow  # builds a TRL DPOTrainer on an export

TOPICS = ["tea", "rain", "maps", "bread", "stars", "music", "rivers", "chess"]


def _rows():
    return [{"prompt": f"Write one sentence about {t}.", "chosen": f"The {t} helps the model answer the question carefully.",
             "rejected": f"{t} no", "model_chosen": "gpt-sim", "model_rejected": "llama-sim", "margin": 0.8}
            for t in TOPICS * 2]


@pytest.mark.parametrize("fmt", ["standard", "conversational"])
def test_dpo_trainer_accepts_an_export(tmp_path, fmt):
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    from prefjudge.testing import build_tiny_model

    torch.manual_seed(0)
    path = build_tiny_model(tmp_path / "tiny")
    tok = AutoTokenizer.from_pretrained(path)
    prefs = pc.to_preferences(_rows(), format=fmt, chat_template=tok if fmt == "standard" else None, dedup="exact")
    assert len(prefs) == len(TOPICS)  # the repeated prompts were dropped
    out = pc.export(prefs, tmp_path / "export", format="parquet")
    train = datasets.load_dataset(str(out), split="train")
    if fmt == "standard":
        assert train[0]["chosen"].endswith(tok.eos_token)  # the template's end-of-turn, once
    args = DPOConfig(output_dir=str(tmp_path / "run"), use_cpu=True, bf16=False, max_steps=3, per_device_train_batch_size=4,
                     learning_rate=5e-3, activation_checkpointing=False, logging_steps=1, save_strategy="no",
                     report_to="none", disable_tqdm=True, dataloader_pin_memory=False, max_length=128, seed=0)
    trainer = DPOTrainer(model=AutoModelForCausalLM.from_pretrained(path), args=args, train_dataset=train, processing_class=tok)
    trainer.train()
    logs = [h for h in trainer.state.log_history if "loss" in h]
    assert len(logs) == 3 and all(math.isfinite(h["loss"]) for h in logs)
    assert all(k in logs[0] for k in ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"))
