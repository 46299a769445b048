"""Estimate the peak GPU memory of a LoRA/QLoRA DPO or SFT run, and which GPUs it fits.

The estimate adds up (bytes):

- weights: 4-bit linear layers at 0.5 byte/param plus the nf4 block constants (one fp32 absmax
  per 64 weights; with double quant an 8-bit absmax and one fp32 per 256 blocks); embeddings
  and the LM head stay in the 16-bit dtype. Unquantized: every weight in the model dtype.
- LoRA parameters, their gradients and the optimizer state (AdamW 32-bit: 8 bytes/param;
  8-bit optimizers: 2). TRL keeps LoRA weights in bf16 on a 4-bit base; PEFT keeps them in fp32
  on an unquantized base.
- activations for ``tokens = batch x max_length`` (x2 for DPO: chosen and rejected go through
  the model together): per layer and token about ``7h + 3kv + 4i`` saved values (norm outputs,
  q/k/v, attention output, MLP gate/up/act/product). With gradient checkpointing only each
  layer's input is kept, plus one layer's activations during its recomputation.
- the LM head: TRL 1.16 computes log-probs in tiles of up to 4096 tokens x 32768 vocab (fp32),
  so the full logits are never materialised.
- the reference: adapter-disabled reference passes run without grad before the policy pass
  (no extra weights); a separate reference model adds a second copy of the weights;
  precomputed reference log-probs remove the reference pass from training steps.
- overhead: the CUDA context (~0.5 GB) and allocator fragmentation (10%).

>>> from prefjudge.train.config import config_from_dict
>>> cfg = config_from_dict({"model": {"name_or_path": "teknium/OpenHermes-2.5-Mistral-7B"},
...     "data": {"hub_id": "Intel/orca_dpo_pairs"}, "dpo": {"per_device_train_batch_size": 4,
...     "max_length": 1536, "optim": "paged_adamw_32bit"}})
>>> est = estimate_memory(cfg)
>>> 12 < est.total_gb < 22, "A10" in est.fits, "T4" in est.fits
(True, True, False)
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from prefjudge.train.architectures import ModelDims, dims_for
from prefjudge.train.config import OptimSettings, TrainConfig

GB = 2**30
# usable memory (GiB) of common GPUs
GPUS: dict[str, float] = {"T4": 15.0, "A10": 22.0, "L4": 22.0, "A100-40GB": 39.4, "A100-80GB": 79.1,
                          "H100-80GB": 79.1}
CUDA_CONTEXT_GB = 0.5
FRAGMENTATION = 1.10
TOKEN_TILE, VOCAB_TILE = 4096, 32768
EIGHT_BIT_OPTIMIZERS = ("8bit",)


class MemoryEstimate(BaseModel):
    """Peak memory by component (GiB), total, and the GPUs it fits."""

    model_config = ConfigDict(extra="forbid")
    model: str
    n_params: int
    lora_params: int
    tokens_per_step: int
    components_gb: dict[str, float]
    total_gb: float
    fits: list[str]
    does_not_fit: list[str]
    assumptions: list[str]


def _bytes(dtype: str) -> int:
    return 4 if dtype == "float32" else 2


def lora_param_count(dims: ModelDims, r: int, targets: list[str]) -> int:
    shapes = dims.module_shapes()
    return dims.num_layers * sum(r * (shapes[t][0] + shapes[t][1]) for t in targets if t in shapes)


def weight_bytes(dims: ModelDims, quantized: bool, double_quant: bool, dtype: str) -> float:
    if not quantized:
        return dims.n_params * _bytes(dtype)
    per_param = 0.5 + (1 / 64 + 4 / (64 * 256) if double_quant else 4 / 64)
    return dims.linear_params * per_param + (dims.n_params - dims.linear_params) * _bytes(dtype)


def activation_bytes(dims: ModelDims, tokens: int, act_bytes: int, checkpointing: bool,
                     lora_dropout: bool = False) -> float:
    """Saved activations, plus the working set of the layer being back-propagated (its
    activations and their gradients)."""
    h, i, kv = dims.hidden_size, dims.intermediate_size, dims.kv_dim
    per_layer = tokens * (7 * h + 3 * kv + 4 * i) * act_bytes
    if lora_dropout:  # PEFT saves each adapted module's dropped-out input and its mask
        dropped = 5 * h + dims.q_dim + i
        per_layer += tokens * dropped * (act_bytes + 1)
    if checkpointing:
        return dims.num_layers * tokens * h * act_bytes + 2 * per_layer
    return (dims.num_layers + 1) * per_layer


def head_bytes(dims: ModelDims, tokens: int) -> float:
    """Forward tile + backward recompute tile of the chunked log-prob LM head (fp32)."""
    return 2 * min(tokens, TOKEN_TILE) * min(dims.vocab_size, VOCAB_TILE) * 4


def _settings(cfg: TrainConfig, method: str) -> OptimSettings:
    return cfg.sft if method == "sft" else cfg.dpo


def estimate_memory(cfg: TrainConfig, *, method: Literal["dpo", "sft"] = "dpo", dims: ModelDims | None = None,
                    device: Literal["cuda", "cpu"] = "cuda") -> MemoryEstimate:
    """Estimate peak memory of ``cfg`` on a GPU (or, ``device="cpu"``, with CPU dtypes: fp32
    activations, no CUDA context) and list the GPUs it fits."""
    s = _settings(cfg, method)
    if dims is None:
        dims = dims_for(cfg.model.name_or_path or "")
    quantized = cfg.quantization.mode == "4bit"
    gpu = device == "cuda"
    dtype = (cfg.model.dtype if cfg.model.dtype != "auto" else
             {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}[s.precision]) if gpu else "float32"
    n_lora = lora_param_count(dims, cfg.lora.r, cfg.lora.target_modules)
    lora_bytes = 2 if quantized else 4
    opt_bytes = 2 if any(k in s.optim for k in EIGHT_BIT_OPTIMIZERS) else 8
    sequences = s.per_device_train_batch_size * (2 if method == "dpo" else 1)
    tokens = sequences * s.max_length
    weights = weight_bytes(dims, quantized, cfg.quantization.double_quant, dtype)
    parts = {
        "weights": weights,
        "lora_params": n_lora * lora_bytes,
        "gradients": n_lora * lora_bytes,
        "optimizer": n_lora * opt_bytes,
        "activations": activation_bytes(dims, tokens, _bytes(dtype), s.gradient_checkpointing,
                                        cfg.lora.dropout > 0),
        "lm_head_logprobs": head_bytes(dims, tokens),
        "dequant_workspace": (max(a * b for a, b in dims.module_shapes().values()) * _bytes(dtype)
                              if quantized else 0.0),
    }
    parts["reference_model"] = _reference_bytes(cfg, method, weights)
    subtotal = sum(parts.values())
    parts["overhead"] = subtotal * (FRAGMENTATION - 1) + (CUDA_CONTEXT_GB * GB if gpu else 0.0)
    total = sum(parts.values()) / GB
    fits = [g for g, cap in GPUS.items() if total <= cap]
    return MemoryEstimate(
        model=dims.name, n_params=dims.n_params, lora_params=n_lora, tokens_per_step=tokens,
        components_gb={k: round(v / GB, 3) for k, v in parts.items()}, total_gb=round(total, 2),
        fits=fits, does_not_fit=[g for g in GPUS if g not in fits],
        assumptions=[f"model dimensions: {dims.source or dims.name}",
                     *_assumptions(cfg, method, s, sequences, fits, gpu)],
    )


def _reference_free(cfg: TrainConfig) -> bool:
    from prefjudge.train.trl_support import TRAINERS

    return not TRAINERS[cfg.trainer].uses_reference


def _reference_bytes(cfg: TrainConfig, method: str, weights: float) -> float:
    if (method != "dpo" or _reference_free(cfg) or cfg.dpo.reference != "separate"
            or cfg.dpo.precompute_ref_log_probs):
        return 0.0
    return weights


def _assumptions(cfg: TrainConfig, method: str, s: OptimSettings, sequences: int, fits: list[str],
                 gpu: bool) -> list[str]:
    notes = [f"{sequences} sequences x max_length {s.max_length} per micro-batch (padding to max_length: "
             "an upper bound)",
             f"gradient checkpointing {'on' if s.gradient_checkpointing else 'off'}"]
    if method == "dpo" and _reference_free(cfg):
        notes.append(f"reference: none (trainer {cfg.trainer} is reference-free)")
    elif method == "dpo":
        ref = ("precomputed before training (no reference pass in the steps)" if cfg.dpo.precompute_ref_log_probs
               else "separate model (second copy of the weights)" if cfg.dpo.reference == "separate"
               else "base with adapter disabled (no extra weights; its no-grad pass precedes the policy pass)")
        notes.append(f"reference: {ref}")
    if gpu and s.precision == "bf16" and "T4" in fits:
        notes.append("T4 has no bf16: use precision fp16 there")
    return notes
