"""Merging adapters: the merged model reproduces base+adapter logits, single and chained."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefjudge.errors import InputError
from prefjudge.train.merging import CHECK_TEXTS, MergeCheckError, merge
from prefjudge.train.tiny_model import build_tiny_model

pytestmark = pytest.mark.slow  # builds a tiny model and LoRA adapters, merges them

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> str:
    return str(build_tiny_model(tmp_path_factory.mktemp("m") / "tiny"))


def make_adapter(base: str, out: Path, seed: int, r: int = 4) -> str:
    """A LoRA adapter with non-zero B (a freshly initialised one would be a no-op)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                           LoraConfig(r=r, lora_alpha=2 * r, target_modules=TARGETS, task_type="CAUSAL_LM"))
    for name, p in model.named_parameters():
        if "lora_B" in name:
            p.data.normal_(0, 0.05)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(base).save_pretrained(out)
    return str(out)


@pytest.fixture(scope="module")
def adapters(base, tmp_path_factory) -> list[str]:
    root = tmp_path_factory.mktemp("adapters")
    return [make_adapter(base, root / "sft", 1), make_adapter(base, root / "dpo", 2, r=8)]


def logits(path: str):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    with torch.no_grad():
        return model(**tok(list(CHECK_TEXTS[:1]), return_tensors="pt")).logits


def test_single_merge_reproduces_adapter_logits(base, adapters, tmp_path):
    result = merge(base, adapters[:1], tmp_path / "one", dtype="float32")
    assert result.max_abs_logit_diff is not None and result.max_abs_logit_diff < 1e-4
    assert result.n_check_inputs == len(CHECK_TEXTS)
    merged, plain = logits(result.path), logits(base)
    assert (merged - plain).abs().max() > 1e-2  # the adapter really changed the model
    assert (Path(result.path) / "tokenizer_config.json").exists()


def test_chained_merge_equals_merging_one_after_the_other(base, adapters, tmp_path):
    chained = merge(base, adapters, tmp_path / "chain", dtype="float32")
    assert chained.max_abs_logit_diff < 1e-4 and chained.adapters == adapters
    first = merge(base, adapters[:1], tmp_path / "first", dtype="float32")
    second = merge(first.path, adapters[1:], tmp_path / "second", dtype="float32")
    assert (logits(chained.path) - logits(second.path)).abs().max() < 1e-4
    assert (logits(chained.path) - logits(first.path)).abs().max() > 1e-2


def test_float16_merge_within_tolerance_and_a_failing_check(base, adapters, tmp_path):
    result = merge(base, adapters, tmp_path / "fp16", dtype="float16")
    assert 0 < result.max_abs_logit_diff <= result.tolerance
    with pytest.raises(MergeCheckError, match="differs from base"):
        merge(base, adapters, tmp_path / "strict", dtype="float16", tolerance=1e-9)


def test_bad_inputs(base, tmp_path):
    with pytest.raises(InputError, match="at least one adapter"):
        merge(base, [], tmp_path / "x")
    with pytest.raises(InputError, match="no adapter_config.json"):
        merge(base, [str(tmp_path)], tmp_path / "x")
