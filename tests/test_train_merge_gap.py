"""The QLoRA merge gap: the merged model is compared with what was trained (the 4-bit base + adapter),
not only with the 16-bit base + adapter; merging into a dequantized copy of the 4-bit base closes it.
bitsandbytes' 4-bit layers run on this CPU (nf4, double quant, fp32 compute), so the test is real."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefjudge.errors import InputError
from prefjudge.train.merging import merge
from prefjudge.train.tiny_model import build_tiny_model

pytestmark = pytest.mark.slow  # builds a tiny model, loads it in 4-bit, merges

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
QLORA = {"mode": "4bit", "quant_type": "nf4", "double_quant": True, "compute_dtype": "bfloat16"}


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> str:
    return str(build_tiny_model(tmp_path_factory.mktemp("m") / "tiny", size="bench"))


@pytest.fixture(scope="module")
def adapter(base, tmp_path_factory) -> str:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                           LoraConfig(r=4, lora_alpha=8, target_modules=TARGETS, task_type="CAUSAL_LM"))
    for name, p in model.named_parameters():
        if "lora_B" in name:
            p.data.normal_(0, 0.05)
    out = tmp_path_factory.mktemp("adapter") / "a"
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(base).save_pretrained(out)
    return str(out)


def test_both_gaps_are_reported_and_dequantizing_closes_the_trained_gap(base, adapter, tmp_path):
    plain = merge(base, [adapter], tmp_path / "plain", dtype="float32", trained_quantization=QLORA)
    fixed = merge(base, [adapter], tmp_path / "deq", dtype="float32", trained_quantization=QLORA, dequantize=True)
    for result in (plain, fixed):  # the merge itself is exact either way
        assert result.max_abs_logit_diff <= result.tolerance and result.argmax_disagreement == 0.0
        assert "4-bit" in result.trained_gap["reference"]
    gap, closed = plain.trained_gap, fixed.trained_gap
    assert gap["max_abs_logit_diff"] > 1e-2  # the 16-bit merge is not the model that was trained
    assert closed["max_abs_logit_diff"] < 1e-3 and closed["max_abs_logit_diff"] < gap["max_abs_logit_diff"] / 20
    assert closed["argmax_disagreement"] <= gap["argmax_disagreement"] and closed["argmax_disagreement"] < 0.01
    assert fixed.dequantized and not plain.dequantized and any("dequantized" in n for n in fixed.notes)
    card = Path(fixed.path, "README.md").read_text()
    assert "Against the trained model" in card and "dequantized copy of the 4-bit base" in card


def test_without_a_training_record_the_trained_gap_says_why(base, adapter, tmp_path):
    result = merge(base, [adapter], tmp_path / "norecord", dtype="float32")
    assert result.trained_gap["max_abs_logit_diff"] is None and "training record" in result.trained_gap["reason"]
    with pytest.raises(InputError, match="not trained on a 4-bit base"):
        merge(base, [adapter], tmp_path / "x", dtype="float32", dequantize=True)
    unquantized = merge(base, [adapter], tmp_path / "16bit", dtype="float32", trained_quantization={"mode": "none"})
    assert "unquantized" in unquantized.trained_gap["reason"]
