"""Merge LoRA adapters into a 16-bit (or 32-bit) base, and check the result.

One adapter (NeuralHermes, LLM Twin) or a chain (TinyLlama: SFT then DPO): all adapters are
loaded unmerged and active on the same base, the reference logits are computed on a few inputs,
the adapters are merged (``merge_and_unload``), the model and tokenizer saved, the saved model
reloaded, and its logits compared with the reference::

    from prefjudge.train import merge
    result = merge("TinyLlama/...", adapters=["runs/x/sft/adapter", "runs/x/dpo/adapter"],
                   out="runs/x/merged", dtype="float16")
    print(result.max_abs_logit_diff, result.tolerance)

A chain merged into the base equals merging the first adapter and then the second into that:
LoRA updates add up (``W + B1 A1 + B2 A2``).
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from prefjudge.errors import InputError, PrefjudgeError

CHECK_TEXTS = (
    "The judge compares two answers and explains which one is better.",
    "Write a paragraph to introduce supervised fine-tuning.",
    "2 plus 2 is 4. The weather today is clear!",
)
# max |merged - unmerged| allowed, relative to max(1, max |reference logit|)
TOLERANCE = {"float32": 1e-4, "float16": 2e-2, "bfloat16": 1e-1}
MergeDtype = Literal["float32", "float16", "bfloat16"]


class MergeCheckError(PrefjudgeError):
    """The merged model does not reproduce the base+adapter logits."""

    def __init__(self, diff: float, tolerance: float, out: str):
        self.diff, self.tolerance, self.out = diff, tolerance, out
        super().__init__(f"merged model at {out} differs from base+adapters: max |logit diff| "
                         f"{diff:.3g} > tolerance {tolerance:.3g}")


class MergeResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    base: str
    adapters: list[str]
    dtype: str
    max_abs_logit_diff: float | None
    tolerance: float | None
    n_check_inputs: int
    pushed_to: str | None = None


def _tokenizer_source(base: str, adapters: list[str]) -> str:
    for adapter in reversed(adapters):
        if (Path(adapter) / "tokenizer_config.json").exists():
            return adapter
    return base


def _logits(model, tokenizer, texts: tuple[str, ...]):
    import torch

    batch = tokenizer(list(texts), return_tensors="pt", padding=True).to(model.device)
    with torch.no_grad():
        return model(**batch).logits.float().cpu(), batch["attention_mask"].cpu().bool()


def _with_adapters(model, adapters: list[str]):
    """Attach every adapter unmerged and make them all active at once."""
    from peft import PeftModel

    names = [f"adapter_{i}" for i in range(len(adapters))]
    peft_model = PeftModel.from_pretrained(model, adapters[0], adapter_name=names[0])
    for name, path in zip(names[1:], adapters[1:]):
        peft_model.load_adapter(path, adapter_name=name)
    peft_model.base_model.set_adapter(names)
    return peft_model, names


def merge(base: str, adapters: list[str], out: str | Path, *, dtype: MergeDtype = "float16",
          check: bool = True, check_texts: tuple[str, ...] = CHECK_TEXTS, tolerance: float | None = None,
          device: str = "auto", push_to_hub: str | None = None, private: bool = True) -> MergeResult:
    """Merge ``adapters`` (in order) into ``base``, save model + tokenizer to ``out``.

    With ``check`` the saved model is reloaded and its logits compared with the unmerged
    base+adapters on ``check_texts``; a difference above ``tolerance`` (default by dtype,
    relative to the logit scale) raises ``MergeCheckError``. Returns ``max_abs_logit_diff``.
    """
    if not adapters:
        raise InputError("give at least one adapter", field="adapters")
    for adapter in adapters:
        if not (Path(adapter) / "adapter_config.json").exists():
            raise InputError(f"{adapter} has no adapter_config.json", field="adapters")
    from prefjudge.train.runtime import silence_bitsandbytes

    silence_bitsandbytes()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dev = "cuda" if device == "cuda" or (device == "auto" and torch.cuda.is_available()) else "cpu"
    torch_dtype = getattr(torch, dtype)
    tokenizer = AutoTokenizer.from_pretrained(_tokenizer_source(base, adapters))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch_dtype, device_map=dev)
    peft_model, names = _with_adapters(model, adapters)
    reference = _logits(peft_model, tokenizer, check_texts) if check else None
    merged = peft_model.merge_and_unload(adapter_names=names)
    out = Path(out)
    merged.save_pretrained(out)
    tokenizer.save_pretrained(out)
    del merged, peft_model, model
    gc.collect()
    diff = limit = None
    if reference is not None:
        diff, limit = _check_saved(out, torch_dtype, dev, tokenizer, check_texts, reference, dtype, tolerance)
    pushed = _push(out, push_to_hub, private) if push_to_hub else None
    return MergeResult(path=str(out), base=base, adapters=[str(a) for a in adapters], dtype=dtype,
                       max_abs_logit_diff=diff, tolerance=limit, n_check_inputs=len(check_texts) if check else 0,
                       pushed_to=pushed)


def _check_saved(out: Path, torch_dtype, dev: str, tokenizer, texts, reference, dtype: str,
                 tolerance: float | None) -> tuple[float, float]:
    from transformers import AutoModelForCausalLM

    ref_logits, mask = reference
    reloaded = AutoModelForCausalLM.from_pretrained(out, dtype=torch_dtype, device_map=dev)
    logits, _ = _logits(reloaded, tokenizer, texts)
    diff = float((logits - ref_logits).abs()[mask].max())
    scale = max(1.0, float(ref_logits.abs()[mask].max()))
    limit = tolerance if tolerance is not None else TOLERANCE[dtype] * scale
    if not diff <= limit:
        raise MergeCheckError(diff, limit, str(out))
    return diff, limit


def _push(out: Path, repo_id: str, private: bool) -> str:
    """Push the merged model and tokenizer (huggingface_hub resolves the token)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    AutoModelForCausalLM.from_pretrained(out).push_to_hub(repo_id, private=private)
    AutoTokenizer.from_pretrained(out).push_to_hub(repo_id, private=private)
    return repo_id
