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

import warnings
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from prefjudge.config_base import StrictModel
from prefjudge.errors import ConfigError

PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
SCHEDULERS = (
    "linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
    "inverse_sqrt", "reduce_lr_on_plateau", "cosine_with_min_lr", "warmup_stable_decay",
)
Dtype = Literal["auto", "float32", "float16", "bfloat16"]
Trainer = Literal["dpo", "orpo", "kto", "cpo"]


class SourceSettingWarning(UserWarning):
    """A setting of a source recipe that prefjudge accepts but cannot apply (it says why)."""


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
    bos_token_id: int | None = Field(default=None, ge=0)
    """Seed 004's ``model.bos_token_id`` ("set it if the model has no such token"): written into
    the loaded model's config and generation config (and so the merged model's) only when the
    model defines none; a model with its own keeps it. Either way the run's notes say which."""

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
    """Settings of the preference trainers (``trainer: dpo | orpo | kto | cpo``, see
    :mod:`prefjudge.train.trl_support`); each trainer-specific field is refused for the others."""

    beta: float = Field(default=0.1, gt=0)
    loss_type: list[str] = Field(default_factory=lambda: ["sigmoid"])
    """Loss types of the trainer, checked against the installed TRL when the config is validated
    (default: the trainer's own default, ``sigmoid`` for DPO and CPO, ``kto`` for KTO)."""
    loss_weights: list[float] | None = None
    """DPO only: weights of several combined loss types (one per ``loss_type``)."""
    label_smoothing: float = Field(default=0.0, ge=0.0, lt=1.0)
    """DPO (robust, exo_pair) and CPO."""
    cpo_alpha: float | None = Field(default=None, ge=0.0)
    """CPO only: weight of the NLL term (0 with ``loss_type: [simpo]`` is SimPO)."""
    simpo_gamma: float | None = Field(default=None, ge=0.0)
    """CPO only: SimPO's target reward margin."""
    desirable_weight: float | None = Field(default=None, gt=0.0)
    """KTO only."""
    undesirable_weight: float | None = Field(default=None, gt=0.0)
    """KTO only."""
    draw_threshold: float | None = Field(default=None, ge=0.0)
    """Seed 004's ``dpo.draw_threshold``: no TRL release has such a parameter, so it is accepted,
    not applied, and said so (a ``SourceSettingWarning`` at validation, a note in the run)."""
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
    format: Literal["standard", "conversational", "auto"] = "standard"
    """``auto`` (TRL's own reading, the default of a TRL flat config): rows whose prompt or answers are
    message lists are conversational (the tokenizer's chat template), string rows are used verbatim
    (standard, ``chat_template: none``), as TRL trains them."""
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
    too_long: Literal["truncate", "drop"] = "drop"
    """Rows longer than ``max_length`` (or with a prompt over ``max_prompt_length``): ``truncate`` as
    TRL does (the prompt's start, then the answer's end; what the source recipes' TRL did) or
    ``drop``; counted either way in ``TrainOutput.lengths`` (see :func:`prefjudge.train.data.fit_lengths`)."""

    @model_validator(mode="after")
    def _one_source(self) -> "DataConfig":
        exactly_one(self, "path", "hub_id")
        return self


class PushConfig(StrictModel):
    """Push the trained adapter and/or a merged model (each with its model card) to the Hub after
    training (:mod:`prefjudge.train.hub`). ``push_merged`` merges the adapter into the base in
    ``merged_dtype`` under ``OUTPUT_DIR/merged`` first."""

    hub_model_id: str | None = None
    """The repo of the merged model, or of the adapter when only the adapter is pushed."""
    adapter_model_id: str | None = None
    """The adapter's repo when both are pushed (default: ``hub_model_id``)."""
    private: bool = True
    push_adapter: bool = False
    push_merged: bool = False
    merged_dtype: Literal["float32", "float16", "bfloat16"] = "float16"
    commit_message: str | None = None

    @model_validator(mode="after")
    def _says_what_to_push(self) -> "PushConfig":
        if (self.hub_model_id or self.adapter_model_id) and not (self.push_adapter or self.push_merged):
            raise ValueError("a repo is named but neither push_adapter nor push_merged is true: nothing would be "
                             "pushed; set one of them (or remove the push section)")
        if self.push_merged and not self.hub_model_id:
            raise ValueError("push_merged needs hub_model_id (the merged model's repo)")
        if self.push_adapter and not (self.adapter_model_id or self.hub_model_id):
            raise ValueError("push_adapter needs adapter_model_id or hub_model_id")
        if self.push_adapter and self.push_merged and (self.adapter_model_id or self.hub_model_id) == self.hub_model_id:
            raise ValueError("push_adapter and push_merged would both push to hub_model_id; set adapter_model_id "
                             "for the adapter")
        return self

    def adapter_repo(self) -> str | None:
        return (self.adapter_model_id or self.hub_model_id) if self.push_adapter else None


class TrainConfig(StrictModel):
    """One training run: model, quantization, LoRA, DPO or SFT settings, data, output."""

    model: ModelConfig
    data: DataConfig
    quantization: QuantizationConfig = Field(default_factory=QuantizationConfig)
    lora: LoraSettings = Field(default_factory=LoraSettings)
    dpo: DPOSettings = Field(default_factory=DPOSettings)
    sft: SFTSettings = Field(default_factory=SFTSettings)
    trainer: Trainer = "dpo"
    """The preference trainer a ``dpo`` run uses (settings in ``dpo``): ``dpo``, ``orpo``, ``kto``
    (unpaired rows, made from the pairs) or ``cpo`` (CPO, SimPO), as the installed TRL has them."""
    output_dir: str = "runs/train"
    report_to: list[str] = Field(default_factory=list)
    """Experiment trackers the trainer logs to: ``trackio`` (local, ``TRACKIO_DIR``; a Space with
    ``trackio_space_id``), ``wandb``, ``tensorboard``, ``comet_ml``, ``mlflow``; a string or a list;
    ``none`` or empty: none. Each must be installed (checked when the config is validated)."""
    run_name: str | None = None
    """The run's name in the tracker (TrainingArguments' ``run_name``)."""
    project: str | None = None
    """trackio's project (TrainingArguments' ``project``; default ``huggingface``)."""
    trackio_space_id: str | None = None
    """Log to this trackio Space instead of locally only (nothing is synced to the Hub without it)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    push: PushConfig = Field(default_factory=PushConfig)

    @field_validator("report_to", mode="before")
    @classmethod
    def _report_to_list(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, list) and value in (["none"], ["None"]):
            return []
        return value

    @model_validator(mode="after")
    def _trackers_installed(self) -> "TrainConfig":
        problems = [p for p in (tracker_problem(name) for name in self.report_to) if p]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _trainer_accepts_settings(self) -> "TrainConfig":
        from prefjudge.train.trl_support import check

        problems = check(self.trainer, self.dpo, set(self.dpo.model_fields_set))
        if problems:
            raise ValueError("; ".join(problems))
        for note in ignored_settings(self):
            warnings.warn(note, SourceSettingWarning, stacklevel=2)
        return self


#: ``report_to`` name -> (module to import, what to pip install)
TRACKERS: dict[str, tuple[str, str]] = {
    "trackio": ("trackio", "trackio"), "wandb": ("wandb", "wandb"), "tensorboard": ("tensorboard", "tensorboard"),
    "comet_ml": ("comet_ml", "comet-ml"), "mlflow": ("mlflow", "mlflow"),
}


def tracker_problem(name: str) -> str | None:
    """Why ``report_to: [name]`` cannot log (unknown, or its package is not installed), or None.

    >>> tracker_problem("wandbb")
    "field 'report_to': unknown tracker 'wandbb'; known: trackio, wandb, tensorboard, comet_ml, mlflow (or none)"
    """
    import importlib.util

    if name not in TRACKERS:
        return f"field 'report_to': unknown tracker {name!r}; known: {', '.join(TRACKERS)} (or none)"
    module, package = TRACKERS[name]
    if importlib.util.find_spec(module) is None:
        return (f"field 'report_to': {name!r} needs the {module} package, which is not installed here: "
                f"pip install {package} (or remove {name!r} from report_to)")
    return None


def ignored_settings(cfg: "TrainConfig") -> list[str]:
    """Settings the config accepts (they come from a source recipe) but cannot apply, with why."""
    notes = []
    if cfg.dpo.draw_threshold is not None:
        from prefjudge.train.trl_support import trl_version

        notes.append(f"dpo.draw_threshold={cfg.dpo.draw_threshold} (from the source recipe) is not applied: "
                     f"TRL {trl_version() or '1.16'}'s DPOConfig and DPOTrainer have no such parameter")
    return notes


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
