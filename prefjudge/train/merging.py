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

**The QLoRA merge gap.** A QLoRA adapter was trained on the 4-bit (nf4) base, but the merge adds it
to the 16-bit base, whose weights are not the dequantized nf4 ones: the merged model is not the
model that was trained. The check above compares the merged model with the 16-bit base + adapter
(the merge itself is exact); ``trained_gap`` compares it with what was trained, the 4-bit base +
the (last) adapter, loaded as its training record says (``prefjudge_training.json``). Both report
the largest absolute logit difference and the share of positions whose argmax token differs. The
usual remedy, ``dequantize=True``: quantize the base as training did, dequantize it
(``bitsandbytes.functional.dequantize_4bit``) and merge into that copy; the merged model then
reproduces the trained one up to rounding (and carries the nf4 rounding of the base weights, which
the trained adapter was fitted to).
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any, Literal

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
    argmax_disagreement: float | None = None
    """Share of checked positions whose most likely token differs (merged vs base + adapters)."""
    trained_gap: dict | None = None
    """The merged model against what was trained, the 4-bit base + the last adapter:
    ``max_abs_logit_diff``, ``argmax_disagreement``, ``reference`` (what it was compared with), or
    ``reason`` when not measured (no 4-bit training, or no training record)."""
    dequantized: bool = False
    """Merged into a dequantized copy of the 4-bit base (``dequantize=True``)."""
    n_check_inputs: int
    pushed_to: str | None = None
    card_path: str | None = None
    notes: list[str] = []


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
          device: str = "auto", push_to_hub: str | None = None, private: bool = True, dequantize: bool = False,
          trained_quantization: dict[str, Any] | None = None) -> MergeResult:
    """Merge ``adapters`` (in order) into ``base``, save model + tokenizer to ``out``.

    With ``check`` the saved model is reloaded and its logits compared with the unmerged
    base+adapters on ``check_texts``; a difference above ``tolerance`` (default by dtype,
    relative to the logit scale) raises ``MergeCheckError``. Returns ``max_abs_logit_diff`` and
    ``argmax_disagreement``, and ``trained_gap``: the same two against the trained model (the
    4-bit base + the last adapter), when the adapter was trained in 4-bit.

    ``dequantize``: merge into a dequantized copy of the 4-bit base (as training quantized it)
    instead of the 16-bit base, the usual remedy of the QLoRA merge gap. ``trained_quantization``:
    the adapters' quantization settings (``QuantizationConfig`` fields) when they have no prefjudge
    training record (default: read from the record).
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
    first, last = trained_as(adapters[0], base, trained_quantization), trained_as(adapters[-1], base, trained_quantization)
    notes: list[str] = []
    if dequantize:
        if first["quantization"].get("mode") != "4bit":
            raise InputError(f"dequantize: the adapter {adapters[0]} was not trained on a 4-bit base "
                             f"({first['reason'] or 'quantization ' + str(first['quantization'].get('mode'))}); "
                             "pass trained_quantization={'mode': '4bit', ...} if it was", field="dequantize")
        model, n = dequantized_base(base, first["quantization"], torch_dtype, dev, first["model_dtype"])
        notes.append(f"merged into a dequantized copy of the 4-bit base ({n} nf4 layers dequantized)")
    else:
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch_dtype, device_map=dev)
    peft_model, names = _with_adapters(model, adapters)
    reference = _logits(peft_model, tokenizer, check_texts) if check else None
    merged = peft_model.merge_and_unload(adapter_names=names)
    notes += _carry_bos_token_id(merged, adapters)
    out = Path(out)
    merged.save_pretrained(out)
    tokenizer.save_pretrained(out)
    del merged, peft_model, model
    gc.collect()
    diff = limit = share = None
    trained_gap: dict[str, Any] | None = None
    if reference is not None:
        merged_logits = _saved_logits(out, torch_dtype, dev, tokenizer, check_texts)
        diff, share, limit = _check_saved(out, merged_logits, reference, dtype, tolerance)
        trained_gap = _trained_gap(last, adapters[-1], merged_logits, reference[1], tokenizer, check_texts, dev)
    from prefjudge.train.card import write_merged_card

    check_info = {"max_abs_logit_diff": diff, "tolerance": limit, "argmax_disagreement": share,
                  "trained_gap": trained_gap, "dequantized": dequantize} if check else None
    card = write_merged_card(base, [str(a) for a in adapters], dtype, check_info, out)
    pushed = _push(out, push_to_hub, private) if push_to_hub else None
    return MergeResult(path=str(out), base=base, adapters=[str(a) for a in adapters], dtype=dtype,
                       max_abs_logit_diff=diff, tolerance=limit, argmax_disagreement=share, trained_gap=trained_gap,
                       dequantized=dequantize, n_check_inputs=len(check_texts) if check else 0,
                       pushed_to=pushed, card_path=str(card), notes=notes)


def trained_as(adapter: str, base: str, override: dict[str, Any] | None = None) -> dict[str, Any]:
    """How ``adapter`` was trained: ``{"base", "quantization", "model_dtype", "reason"}`` from its
    prefjudge training record (``override`` replaces the quantization; without a record the merge's
    ``base`` stands in for the training base)."""
    from prefjudge.train.card import read_record

    record = read_record(adapter) or {}
    config = record.get("config") or {}
    quant = dict(override if override is not None else (config.get("quantization") or {}))
    if override is not None:
        from prefjudge.train.config import QuantizationConfig

        quant = QuantizationConfig.model_validate(quant).model_dump()
    reason = None
    if not record and override is None:
        reason = "no prefjudge training record next to the adapter (pass trained_quantization to measure it)"
    return {"base": record.get("base_model") or base, "quantization": quant,
            "model_dtype": (record.get("runtime") or {}).get("model_dtype"), "reason": reason}


def _bnb(quant: dict[str, Any], dev: str):
    import torch
    from transformers import BitsAndBytesConfig

    compute = "float32" if dev == "cpu" else quant.get("compute_dtype") or "bfloat16"
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=quant.get("quant_type") or "nf4",
                              bnb_4bit_use_double_quant=bool(quant.get("double_quant", True)),
                              bnb_4bit_compute_dtype=getattr(torch, compute))


def _load_4bit(path: str, quant: dict[str, Any], dev: str, model_dtype: str | None):
    """``path`` loaded in 4-bit as training loaded it (CPU weight repacking off, see ``runtime.load_model``)."""
    import torch
    from transformers import AutoModelForCausalLM

    dtype = getattr(torch, model_dtype or ("float32" if dev == "cpu" else quant.get("compute_dtype") or "bfloat16"))
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, device_map=dev, quantization_config=_bnb(quant, dev))
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
    return model


def dequantized_base(base: str, quant: dict[str, Any], torch_dtype, dev: str, model_dtype: str | None = None):
    """``base`` in ``torch_dtype`` whose quantized linear weights are replaced by their 4-bit (nf4)
    round trip, as training saw them: the base loaded 4-bit with the training's settings, each
    ``Linear4bit`` weight dequantized with ``bitsandbytes.functional.dequantize_4bit``. Returns
    ``(model, layers replaced)``."""
    import bitsandbytes.functional as bnbf
    import torch
    from transformers import AutoModelForCausalLM

    dense = AutoModelForCausalLM.from_pretrained(base, dtype=torch_dtype, device_map=dev)
    quantized = _load_4bit(base, quant, dev, model_dtype)
    modules = dict(dense.named_modules())
    n = 0
    with torch.no_grad():
        for name, module in quantized.named_modules():
            weight = getattr(module, "weight", None)
            state = getattr(weight, "quant_state", None)
            if state is None or name not in modules:
                continue
            target = modules[name].weight
            restored = bnbf.dequantize_4bit(weight.data, state).reshape(target.shape)
            target.copy_(restored.to(device=target.device, dtype=target.dtype))
            n += 1
    del quantized
    gc.collect()
    if n == 0:
        raise InputError(f"dequantize: no 4-bit layer found when loading {base} in 4-bit", field="dequantize")
    return dense, n


def _trained_gap(trained: dict[str, Any], adapter: str, merged_logits, mask, tokenizer, texts, dev: str) -> dict[str, Any]:
    """The merged model against the trained one (the 4-bit training base + the adapter)."""
    if trained["reason"]:
        return {"max_abs_logit_diff": None, "argmax_disagreement": None, "reason": trained["reason"]}
    quant = trained["quantization"]
    if quant.get("mode") != "4bit":
        return {"max_abs_logit_diff": None, "argmax_disagreement": None,
                "reason": "the adapter was trained on an unquantized base: the merge check is the gap to the trained model"}
    from peft import PeftModel

    model = PeftModel.from_pretrained(_load_4bit(trained["base"], quant, dev, trained["model_dtype"]), adapter)
    logits, _ = _logits(model, tokenizer, texts)
    del model
    gc.collect()
    diff, share = _gaps(merged_logits, logits, mask)
    return {"max_abs_logit_diff": diff, "argmax_disagreement": share,
            "reference": f"{trained['base']} in 4-bit ({quant.get('quant_type', 'nf4')}) + {adapter}, as trained",
            "reason": None}


def _gaps(logits, reference, mask) -> tuple[float, float]:
    """(max |logit difference|, share of positions whose argmax differs) over the unpadded positions."""
    diff = float((logits - reference).abs()[mask].max())
    share = float((logits.argmax(-1) != reference.argmax(-1))[mask].float().mean())
    return diff, share


def _carry_bos_token_id(model, adapters: list[str]) -> list[str]:
    """A ``model.bos_token_id`` an adapter's training applied (the base defined none) goes into the
    merged model's config too."""
    from prefjudge.train.card import read_record
    from prefjudge.train.runtime import apply_bos_token_id

    for adapter in adapters:
        record = read_record(adapter) or {}
        wanted = ((record.get("config") or {}).get("model") or {}).get("bos_token_id")
        if wanted is not None:
            return [apply_bos_token_id(model, int(wanted))]
    return []


def _saved_logits(out: Path, torch_dtype, dev: str, tokenizer, texts):
    from transformers import AutoModelForCausalLM

    reloaded = AutoModelForCausalLM.from_pretrained(out, dtype=torch_dtype, device_map=dev)
    logits, _ = _logits(reloaded, tokenizer, texts)
    del reloaded
    gc.collect()
    return logits


def _check_saved(out: Path, logits, reference, dtype: str, tolerance: float | None) -> tuple[float, float, float]:
    """(max |logit diff|, argmax disagreement, tolerance) of the saved model against base + adapters."""
    ref_logits, mask = reference
    diff, share = _gaps(logits, ref_logits, mask)
    scale = max(1.0, float(ref_logits.abs()[mask].max()))
    limit = tolerance if tolerance is not None else TOLERANCE[dtype] * scale
    if not diff <= limit:
        raise MergeCheckError(diff, limit, str(out))
    return diff, share, limit


def _push(out: Path, repo_id: str, private: bool) -> str:
    """Upload the merged folder as saved, card included (nothing is reloaded; huggingface_hub
    resolves the token)."""
    from prefjudge.train.hub import push_folder

    push_folder(out, repo_id, private=private)
    return repo_id
