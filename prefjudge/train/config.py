"""Training configuration: pydantic models (``extra="forbid"``) and YAML loading.

A typo or a wrong type fails loudly with the dotted name of the field::

    >>> config_from_dict({"model": {"name_or_path": "m"}, "data": {"path": "d.jsonl"},
    ...                   "dpo": {"beta": "high"}})
    Traceback (most recent call last):
    ...
    prefjudge.errors.ConfigError: invalid training config: field 'dpo.beta': Input should be a valid number, unable to parse string as a number (got 'high')

Field names follow TRL's ``DPOConfig``/``SFTConfig`` where one exists (``learning_rate``,
``per_device_train_batch_size``, ``optim``...), so a TRL user recognises them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from prefjudge.config_base import StrictModel
from prefjudge.errors import ConfigError

PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
SCHEDULERS = (
    "linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
    "inverse_sqrt", "reduce_lr_on_plateau", "cosine_with_min_lr", "warmup_stable_decay",
)
Dtype = Literal["auto", "float32", "float16", "bfloat16"]


def exactly_one(obj: BaseModel, first: str, second: str) -> None:
    """Raise unless exactly one of the two fields is set (a model validator's check)."""
    if (getattr(obj, first) is None) == (getattr(obj, second) is None):
        raise ValueError(f"set exactly one of {first} or {second}")


class TinyModelSpec(StrictModel):
    """Build a tiny model locally (``prefjudge.train.tiny_model``) instead of loading one."""

    arch: Literal["llama", "mistral", "qwen2"] = "llama"
    size: Literal["tiny", "bench"] = "tiny"
    hidden_size: int | None = Field(default=None, gt=0)
    num_layers: int | None = Field(default=None, gt=0)
    num_heads: int | None = Field(default=None, gt=0)
    vocab_size: int = Field(default=800, ge=300)
    chat_template: str = "chatml"
    seed: int = 0


class ModelConfig(StrictModel):
    """The model to train: a Hub id or local dir, ``@step`` (an earlier recipe step's merged
    model), or ``tiny`` (a tiny model built locally)."""

    name_or_path: str | None = None
    tiny: TinyModelSpec | None = None
    revision: str | None = None
    dtype: Dtype = "auto"
    chat_template: str | None = None
    """Replace the tokenizer's chat template with a named one (chatml, zephyr, alpaca)."""
    trust_remote_code: bool = False
    attn_implementation: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> "ModelConfig":
        exactly_one(self, "name_or_path", "tiny")
        return self


class QuantizationConfig(StrictModel):
    """bitsandbytes loading: ``4bit`` (QLoRA) or ``none`` (16/32-bit LoRA)."""

    mode: Literal["4bit", "none"] = "4bit"
    quant_type: Literal["nf4", "fp4"] = "nf4"
    double_quant: bool = True
    compute_dtype: Literal["float32", "float16", "bfloat16"] = "bfloat16"


class LoraSettings(StrictModel):
    r: int = Field(default=16, gt=0)
    alpha: int = Field(default=16, gt=0)
    dropout: float = Field(default=0.05, ge=0.0, lt=1.0)
    target_modules: list[str] = Field(default_factory=lambda: list(PROJECTIONS))
    bias: Literal["none", "all", "lora_only"] = "none"


class OptimSettings(StrictModel):
    """Hyperparameters shared by DPO and SFT (TRL/transformers names)."""

    learning_rate: float = Field(default=5e-5, gt=0)
    lr_scheduler_type: Literal[SCHEDULERS] = "cosine"  # type: ignore[valid-type]
    max_steps: int | None = Field(default=None, gt=0)
    num_train_epochs: float = Field(default=1.0, gt=0)
    per_device_train_batch_size: int = Field(default=4, gt=0)
    per_device_eval_batch_size: int | None = Field(default=None, gt=0)
    gradient_accumulation_steps: int = Field(default=1, gt=0)
    max_length: int = Field(default=1024, gt=0)
    max_prompt_length: int | None = Field(default=None, gt=0)
    """Rows with a longer prompt are dropped before training (TRL 1.16 has no such option)."""
    optim: str = "adamw_torch"
    warmup_steps: int = Field(default=0, ge=0)
    warmup_ratio: float = Field(default=0.0, ge=0.0, lt=1.0)
    weight_decay: float = Field(default=0.0, ge=0.0)
    gradient_checkpointing: bool = True
    precision: Literal["bf16", "fp16", "fp32"] = "bf16"
    """Mixed precision on GPU; CPU runs always use fp32 (recorded in the run notes)."""
    logging_steps: float = Field(default=10, gt=0)
    eval_strategy: Literal["no", "steps", "epoch"] = "no"
    eval_steps: float | None = Field(default=None, gt=0)
    save_strategy: Literal["no", "steps", "epoch"] = "no"
    save_steps: float | None = Field(default=None, gt=0)
    seed: int = 42
    trl_args: dict[str, Any] = Field(default_factory=dict)
    """Passed verbatim to ``DPOConfig``/``SFTConfig`` (an escape hatch; checked by TRL)."""

    @model_validator(mode="after")
    def _one_warmup(self) -> "OptimSettings":
        if self.warmup_steps and self.warmup_ratio:
            raise ValueError("set warmup_steps or warmup_ratio, not both")
        return self


class DPOSettings(OptimSettings):
    beta: float = Field(default=0.1, gt=0)
    loss_type: list[str] = Field(default_factory=lambda: ["sigmoid"])
    precompute_ref_log_probs: bool = False
    reference: Literal["adapter_disabled", "separate"] = "adapter_disabled"
    """``adapter_disabled``: the base weights with the LoRA adapter off (one copy in memory);
    ``separate``: load a second copy of the base as the reference model."""


class SFTSettings(OptimSettings):
    learning_rate: float = Field(default=2e-4, gt=0)
    max_length: int = Field(default=512, gt=0)
    packing: bool = False
    completion_only_loss: bool | None = None


class DataConfig(StrictModel):
    """Where the rows come from and how they become prompt/chosen/rejected (or messages)."""

    path: str | None = None
    """A local file (jsonl, json, parquet, csv) or a directory (e.g. a prefjudge curated export)."""
    hub_id: str | None = None
    hub_config: str | None = None
    hub_data_dir: str | None = None
    split: str = "train"
    loader: str = "preference"
    """Mapping function, see ``prefjudge.train.data.LOADERS``."""
    format: Literal["standard", "conversational"] = "standard"
    chat_template: str | None = None
    """Template used to render prompts in the standard format (default: the model's);
    ``none``: the prompts are already rendered, use them verbatim."""
    columns: dict[str, str] = Field(default_factory=dict)
    """Target field -> source column, e.g. ``{chosen: response_j, rejected: response_k}``."""
    filters: dict[str, Any] = Field(default_factory=dict)
    """Loader-specific filters (e.g. ``min_chosen_score: 8`` for distilabel_orca)."""
    shuffle_seed: int | None = None
    max_rows: int | None = Field(default=None, gt=0)
    test_size: float = Field(default=0.0, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _one_source(self) -> "DataConfig":
        exactly_one(self, "path", "hub_id")
        return self


class PushConfig(StrictModel):
    hub_model_id: str | None = None
    private: bool = True
    push_adapter: bool = False
    push_merged: bool = False


class TrainConfig(StrictModel):
    """One training run: model, quantization, LoRA, DPO or SFT settings, data, output."""

    model: ModelConfig
    data: DataConfig
    quantization: QuantizationConfig = Field(default_factory=QuantizationConfig)
    lora: LoraSettings = Field(default_factory=LoraSettings)
    dpo: DPOSettings = Field(default_factory=DPOSettings)
    sft: SFTSettings = Field(default_factory=SFTSettings)
    output_dir: str = "runs/train"
    report_to: list[str] = Field(default_factory=list)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    push: PushConfig = Field(default_factory=PushConfig)


def config_from_dict(data: dict[str, Any], *, source: str = "training config") -> TrainConfig:
    """Validate a mapping into a ``TrainConfig``; raise ``ConfigError`` naming the field."""
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as err:
        from prefjudge.config_files import format_errors

        raise ConfigError(format_errors(err, f"invalid {source}")) from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with a ``ConfigError`` naming the file on any problem (see
    :mod:`prefjudge.config_files`: a file with an ``api_key`` is refused too)."""
    from prefjudge.config_files import load_yaml

    return load_yaml(path, "config file", mapping=True)


def load_config(path: str | Path) -> TrainConfig:
    """Load a ``TrainConfig`` from a YAML file."""
    return config_from_dict(read_yaml(path), source=f"training config {path}")
