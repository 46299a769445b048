"""What a run really uses on this machine: device, precision, optimizer, dtypes; model loading.

``plan_runtime`` is pure (given whether CUDA is available) so the CPU substitutions are tested
without a GPU. Every substitution is written to ``RuntimePlan.notes``, which ends up in the
run's output and ``run.json``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import resource
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefjudge.errors import ConfigError
from prefjudge.train.config import LoraSettings, ModelConfig, OptimSettings, QuantizationConfig

# Optimizers that need CUDA bitsandbytes kernels (paged or 8-bit state).
CUDA_ONLY_OPTIMIZERS = {
    "paged_adamw_32bit", "paged_adamw_8bit", "adamw_8bit", "adamw_bnb_8bit", "paged_lion_32bit",
    "paged_lion_8bit", "lion_8bit", "lion_32bit", "paged_ademamix_32bit", "paged_ademamix_8bit",
    "ademamix_8bit", "rmsprop_bnb", "rmsprop_bnb_8bit", "rmsprop_bnb_32bit",
}
CPU_OPTIMIZER = "adamw_torch"


@dataclass
class RuntimePlan:
    device: str  # "cpu" | "cuda"
    optim: str
    bf16: bool
    fp16: bool
    model_dtype: str  # float32 | float16 | bfloat16
    compute_dtype: str | None  # 4-bit compute dtype, None when not quantized
    notes: list[str] = field(default_factory=list)

    @property
    def use_cpu(self) -> bool:
        return self.device == "cpu"


def _gpu_dtype(model: ModelConfig, settings: OptimSettings) -> str:
    if model.dtype != "auto":
        return model.dtype
    return {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}[settings.precision]


def plan_runtime(settings: OptimSettings, quant: QuantizationConfig, model: ModelConfig,
                 device: str, cuda_available: bool) -> RuntimePlan:
    """Decide device, precision, optimizer and dtypes; record every CPU substitution."""
    if device == "cuda" and not cuda_available:
        raise ConfigError("field 'device': cuda requested but torch sees no CUDA device")
    dev = "cuda" if device == "cuda" or (device == "auto" and cuda_available) else "cpu"
    quantized = quant.mode == "4bit"
    if dev == "cuda":
        return RuntimePlan(dev, settings.optim, settings.precision == "bf16", settings.precision == "fp16",
                           _gpu_dtype(model, settings), quant.compute_dtype if quantized else None)
    notes = []
    optim = settings.optim
    if optim in CUDA_ONLY_OPTIMIZERS:
        notes.append(f"optimizer {optim} needs CUDA bitsandbytes kernels; using {CPU_OPTIMIZER} on CPU")
        optim = CPU_OPTIMIZER
    if settings.precision != "fp32":
        notes.append(f"precision {settings.precision} is not used on CPU; training in fp32 "
                     "(use_cpu=True, bf16=False, fp16=False)")
    if model.dtype not in ("auto", "float32"):
        notes.append(f"model dtype {model.dtype} loaded as float32 on CPU")
    compute = None
    if quantized:
        compute = "float32"
        if quant.compute_dtype != "float32":
            notes.append(f"4-bit compute dtype {quant.compute_dtype} replaced by float32 on CPU")
    return RuntimePlan("cpu", optim, False, False, "float32", compute, notes)


def silence_bitsandbytes() -> None:
    """Hide bitsandbytes' harmless 'Failed to load CPU gemm_4bit_forward' message."""
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)


def cache_dir() -> Path:
    """Where locally built tiny models live (``PREFJUDGE_CACHE`` or ``~/.cache/prefjudge``)."""
    root = os.environ.get("PREFJUDGE_CACHE") or Path.home() / ".cache" / "prefjudge"
    return Path(root)


def resolve_model_path(model: ModelConfig) -> str:
    """A Hub id or local path; a ``tiny`` spec is built (once) under the cache dir."""
    if model.tiny is not None:
        from prefjudge.train.tiny_model import build_tiny_model

        spec = model.tiny.model_dump()
        key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
        return str(build_tiny_model(cache_dir() / "tiny_models" / key, **spec))
    assert model.name_or_path is not None  # guaranteed by ModelConfig's validator
    if model.name_or_path.startswith("@"):
        raise ConfigError(f"field 'model.name_or_path': {model.name_or_path!r} refers to a recipe step; "
                          "it is only resolved inside a recipe run")
    return model.name_or_path


def load_tokenizer(path: str, model: ModelConfig):
    """The model's tokenizer, with an optional named chat template and a pad token."""
    from transformers import AutoTokenizer

    from prefjudge.formatting.chat_templates import CHAT_TEMPLATES, template_name

    tok = AutoTokenizer.from_pretrained(path, revision=model.revision,
                                        trust_remote_code=model.trust_remote_code)
    if model.chat_template:
        tok.chat_template = CHAT_TEMPLATES[template_name(model.chat_template)][0]
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def torch_dtype(name: str):
    import torch

    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[name]


def bnb_config(quant: QuantizationConfig, plan: RuntimePlan):
    """A ``BitsAndBytesConfig`` for 4-bit loading, or None."""
    if quant.mode != "4bit":
        return None
    from transformers import BitsAndBytesConfig

    from prefjudge.train.distributed import launch_mode

    extra: dict[str, Any] = {}
    if launch_mode() in ("fsdp", "deepspeed"):
        # FSDP and ZeRO-3 shard float tensors only: the packed 4-bit weights are stored in the model's
        # dtype (bitsandbytes' quant_storage), as PEFT's FSDP-QLoRA and DeepSpeed-QLoRA guides do.
        extra["bnb_4bit_quant_storage"] = torch_dtype(plan.model_dtype)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=quant.quant_type,
        bnb_4bit_use_double_quant=quant.double_quant,
        bnb_4bit_compute_dtype=torch_dtype(plan.compute_dtype or "float32"),
        **extra,
    )


def device_map(use_cpu: bool) -> Any:
    """Where ``from_pretrained`` puts the model: the CPU; under FSDP or DeepSpeed nowhere (None: the
    launcher shards and places it); else this process's own GPU, ``{"": local_rank}`` (GPU 0 for a
    single process, GPU i for process i of a DDP launch, never every process on GPU 0).

    >>> device_map(True)
    'cpu'
    """
    if use_cpu:
        return "cpu"
    from prefjudge.train.distributed import launch_mode, local_rank

    if launch_mode() in ("fsdp", "deepspeed"):
        return None
    return {"": local_rank()}


def model_init_kwargs(model: ModelConfig, plan: RuntimePlan) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"dtype": torch_dtype(plan.model_dtype)}
    placement = device_map(plan.use_cpu)
    if placement is not None:
        kwargs["device_map"] = placement
    if model.revision:
        kwargs["revision"] = model.revision
    if model.attn_implementation:
        kwargs["attn_implementation"] = model.attn_implementation
    return kwargs


def load_model(path: str, model: ModelConfig, quant: QuantizationConfig, plan: RuntimePlan):
    """Load a causal LM for training, 4-bit through ``BitsAndBytesConfig`` when asked.

    bitsandbytes 0.50 on CPUs with avx512_bf16 repacks 4-bit weights for inference the first time
    a layer runs in eval mode without grad (TRL's reference precompute, evaluation); later
    training forwards then go through ``gemv_4bit``, which has no autograd kernel, and gradients
    silently stop flowing through the frozen 4-bit layers. Training models keep the trainable
    layout: the repacking is switched off on every ``Linear4bit`` here.
    """
    from transformers import AutoModelForCausalLM

    kwargs = model_init_kwargs(model, plan)
    quantization = bnb_config(quant, plan)
    if quantization is not None:
        kwargs["quantization_config"] = quantization
    loaded = AutoModelForCausalLM.from_pretrained(path, trust_remote_code=model.trust_remote_code, **kwargs)
    for module in loaded.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
    if model.bos_token_id is not None:
        plan.notes.append(apply_bos_token_id(loaded, model.bos_token_id))
    return loaded


def apply_bos_token_id(model, wanted: int) -> str:
    """Seed 004's ``bos_token_id`` ("if the model has no such token"): set on the model's config and
    generation config when the model defines none; a model with its own keeps it. Returns the note."""
    current = getattr(model.config, "bos_token_id", None)
    if current is not None:
        return (f"model.bos_token_id={wanted} not applied: the model defines bos_token_id={current} "
                "(the source recipe sets it only for a model without one)")
    model.config.bos_token_id = wanted
    generation = getattr(model, "generation_config", None)
    if generation is not None:
        generation.bos_token_id = wanted
    return f"model.bos_token_id={wanted} applied: the model defined none (source recipe setting)"


@dataclass(frozen=True)
class InferencePlan:
    """How a model is loaded to generate (evaluation, answers): device, dtype, 4-bit or not."""

    device: str  # "cpu" | "cuda"
    dtype: str  # float32 | float16 | bfloat16
    load_in_4bit: bool
    compute_dtype: str | None
    notes: tuple[str, ...] = ()

    def load_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``from_pretrained`` for this plan (torch imported here)."""
        from prefjudge.train.distributed import local_rank

        kwargs: dict[str, Any] = {"dtype": torch_dtype(self.dtype),
                                  "device_map": "cpu" if self.device == "cpu" else {"": local_rank()}}
        if self.load_in_4bit:
            from transformers import BitsAndBytesConfig

            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=torch_dtype(self.compute_dtype or "bfloat16"))
        return kwargs


def plan_inference(cuda_available: bool, *, device: str = "auto", quantization: str = "none",
                   bf16_supported: bool = True) -> InferencePlan:
    """The device and dtype policy of training and merging, for generation (pure; tested without a GPU).

    On a GPU: bf16 (fp16 where the GPU has no bf16, e.g. a T4), or 4-bit nf4 with double quant and
    a bf16/fp16 compute dtype when ``quantization="4bit"`` (as training loads the base). On the CPU:
    float32, unquantized (exact; 4-bit generation on CPU is slower than fp32, and a CPU run here
    evaluates small models), with a note when 4-bit was asked for.

    >>> plan_inference(True)
    InferencePlan(device='cuda', dtype='bfloat16', load_in_4bit=False, compute_dtype=None, notes=())
    >>> plan_inference(False, quantization="4bit").dtype
    'float32'
    """
    if device == "cuda" and not cuda_available:
        raise ConfigError("field 'device': cuda requested but torch sees no CUDA device")
    if quantization not in ("none", "4bit"):
        raise ConfigError(f"field 'quantization': {quantization!r} is not one of none, 4bit")
    if device == "cpu" or not cuda_available:
        notes = ("4-bit loading is not used for generation on CPU; float32 instead",) if quantization == "4bit" else ()
        return InferencePlan("cpu", "float32", False, None, notes)
    half = "bfloat16" if bf16_supported else "float16"
    if quantization == "4bit":
        return InferencePlan("cuda", half, True, half)
    return InferencePlan("cuda", half, False, None)


def current_inference_plan(device: str = "auto", quantization: str = "none") -> InferencePlan:
    """:func:`plan_inference` for this machine (asks torch about CUDA and bf16)."""
    cuda = cuda_available()
    bf16 = True
    if cuda:
        import torch

        bf16 = bool(torch.cuda.is_bf16_supported())
    return plan_inference(cuda, device=device, quantization=quantization, bf16_supported=bf16)


def lora_config(lora: LoraSettings):
    from peft import LoraConfig

    return LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                      target_modules=list(lora.target_modules), bias=lora.bias, task_type="CAUSAL_LM")


def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def peak_memory_mb(device: str) -> tuple[float, str]:
    """(peak MB, what was measured): CUDA max allocated, else the process's max RSS."""
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20, "cuda_max_memory_allocated"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (rss / 2**20 if sys.platform == "darwin" else rss / 2**10), "process_max_rss"


def count_linear4bit(model) -> int:
    """How many ``bnb.nn.Linear4bit`` layers a model holds (0 when not quantized)."""
    n = 0
    for module in model.modules():
        if type(module).__name__ == "Linear4bit" and "bitsandbytes" in type(module).__module__:
            n += 1
    return n
