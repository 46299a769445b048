"""Pieces shared by DPO and SFT runs: the result type, data preparation, TRL arguments."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from prefjudge.errors import InputError
from prefjudge.train import data as D
from prefjudge.train.config import OptimSettings, TrainConfig
from prefjudge.train.runtime import RuntimePlan
from prefjudge.train.sources import get_loader

HISTORY_KEYS = ("loss", "rewards/chosen", "rewards/rejected", "rewards/margins",
                "rewards/accuracies", "learning_rate", "grad_norm", "mean_token_accuracy")


class TrainOutput(BaseModel):
    """What a training run produced and measured (also the ``train`` key of ``run.json``)."""

    model_config = ConfigDict(extra="forbid")
    method: Literal["dpo", "sft"]
    base_model: str
    output_dir: str
    adapter_path: str
    history: list[dict[str, float]]
    eval_history: list[dict[str, float]] = Field(default_factory=list)
    rows: dict[str, int]
    dropped: dict[str, int] = Field(default_factory=dict)
    runtime: dict[str, Any]
    notes: list[str] = Field(default_factory=list)
    train_seconds: float
    mean_step_seconds: float | None
    peak_memory_mb: float
    peak_memory_kind: str


class PreparedData(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    train: list[dict]
    eval: list[dict]
    rows: dict[str, int]
    dropped: dict[str, int]


def prepare_data(cfg: TrainConfig, kind: str, settings: OptimSettings, tokenizer: Any,
                 base_dir: Path | None = None) -> PreparedData:
    """Read, map, format, drop over-long rows (counted) and split, for ``kind`` dpo or sft."""
    loader = get_loader(cfg.data.loader)
    want = "sft" if kind == "sft" else "preference"
    if loader.kind != want:
        raise InputError(f"loader {loader.name!r} gives {loader.kind} rows; a {kind} run needs {want} rows",
                         field="data.loader")
    raw = D.read_rows(cfg.data, base_dir)
    mapped = D.map_rows(raw, loader.name, cfg.data.filters)
    template = cfg.data.chat_template or cfg.model.chat_template
    rows = D.format_rows(mapped.turns, cfg.data.format, template=template, tokenizer=tokenizer)
    kept, too_long = D.drop_too_long(rows, tokenizer, settings.max_length, settings.max_prompt_length)
    if not kept:
        raise InputError(f"no training rows left: {len(raw)} read, {sum(mapped.dropped.values())} "
                         f"filtered, {too_long} longer than max_length={settings.max_length}",
                         field="data")
    train, test = D.split_rows(kept, cfg.data.test_size, settings.seed)
    counts = {"read": len(raw), "filtered": sum(mapped.dropped.values()), "too_long": too_long,
              "train": len(train), "eval": len(test)}
    return PreparedData(train=train, eval=test, rows=counts, dropped=dict(mapped.dropped))


def trl_common_args(settings: OptimSettings, plan: RuntimePlan, cfg: TrainConfig, output_dir: Path,
                    has_eval: bool) -> dict[str, Any]:
    """Arguments shared by ``DPOConfig`` and ``SFTConfig``."""
    warmup = settings.warmup_ratio or settings.warmup_steps
    eval_strategy = settings.eval_strategy if has_eval else "no"
    args = dict(
        output_dir=str(output_dir), learning_rate=settings.learning_rate,
        lr_scheduler_type=settings.lr_scheduler_type, max_steps=settings.max_steps or -1,
        num_train_epochs=settings.num_train_epochs,
        per_device_train_batch_size=settings.per_device_train_batch_size,
        per_device_eval_batch_size=settings.per_device_eval_batch_size or settings.per_device_train_batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps, max_length=settings.max_length,
        optim=plan.optim, warmup_steps=warmup, weight_decay=settings.weight_decay,
        gradient_checkpointing=settings.gradient_checkpointing, bf16=plan.bf16, fp16=plan.fp16,
        use_cpu=plan.use_cpu, logging_steps=settings.logging_steps, eval_strategy=eval_strategy,
        save_strategy=settings.save_strategy, seed=settings.seed, report_to=cfg.report_to or "none",
        disable_tqdm=True, dataloader_pin_memory=not plan.use_cpu,
    )
    if eval_strategy == "steps":
        args["eval_steps"] = settings.eval_steps or settings.logging_steps
    if settings.save_strategy == "steps" and settings.save_steps:
        args["save_steps"] = settings.save_steps
    args.update(settings.trl_args)
    return args


def split_history(log_history: list[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    """Train entries (with ``loss``) and eval entries (``eval_*``) from ``trainer.state``."""
    train, evals = [], []
    for entry in log_history:
        if "loss" in entry:
            row = {"step": int(entry["step"]), "epoch": float(entry.get("epoch", 0.0))}
            row.update({k: float(entry[k]) for k in HISTORY_KEYS if k in entry})
            train.append(row)
        elif "eval_loss" in entry:
            row = {"step": int(entry["step"])}
            row.update({k: float(v) for k, v in entry.items() if k.startswith("eval_")
                        and isinstance(v, (int, float))})
            evals.append(row)
    return train, evals


def step_timer():
    """A ``TrainerCallback`` that records the wall time of every optimizer step."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.durations: list[float] = []
            self._t = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self._t = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.durations.append(time.perf_counter() - self._t)

        def mean(self) -> float | None:
            rest = self.durations[1:] or self.durations  # the first step includes warm-up
            return sum(rest) / len(rest) if rest else None

    return StepTimer()


def run_trainer(method: Literal["dpo", "sft"], build: Any, cfg: TrainConfig, base_dir: Path | None,
                runtime: Any) -> TrainOutput:
    """Build a trainer with ``build(cfg, base_dir=, callbacks=)``, train, save adapter and tokenizer.

    ``runtime(plan, linear4bit_layers, trainer)`` gives the method's ``TrainOutput.runtime`` dict.
    """
    from prefjudge.train.runtime import count_linear4bit, peak_memory_mb, silence_bitsandbytes

    silence_bitsandbytes()
    timer = step_timer()
    trainer, data, plan, model_path = build(cfg, base_dir=base_dir, callbacks=[timer])
    n4 = count_linear4bit(trainer.model)
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    adapter = Path(cfg.output_dir) / "adapter"
    trainer.save_model(str(adapter))
    trainer.processing_class.save_pretrained(str(adapter))
    history, evals = split_history(trainer.state.log_history)
    peak, kind = peak_memory_mb(plan.device)
    return TrainOutput(
        method=method, base_model=model_path, output_dir=cfg.output_dir, adapter_path=str(adapter),
        history=history, eval_history=evals, rows=data.rows, dropped=data.dropped,
        runtime=runtime(plan, n4, trainer), notes=plan.notes, train_seconds=seconds,
        mean_step_seconds=timer.mean(), peak_memory_mb=peak, peak_memory_kind=kind,
    )


def trainer_inputs(cfg: TrainConfig, kind: Literal["dpo", "sft"], settings: OptimSettings, base_dir: Path | None):
    """What both trainers start from: ``(runtime plan, model path, tokenizer, prepared data, TRL args)``."""
    from prefjudge.train.runtime import cuda_available, load_tokenizer, plan_runtime, resolve_model_path

    plan = plan_runtime(settings, cfg.quantization, cfg.model, cfg.device, cuda_available())
    model_path = resolve_model_path(cfg.model)
    tokenizer = load_tokenizer(model_path, cfg.model)
    data = prepare_data(cfg, kind, settings, tokenizer, base_dir)
    args = trl_common_args(settings, plan, cfg, Path(cfg.output_dir), bool(data.eval))
    return plan, model_path, tokenizer, data, args


def trainer_kwargs(cfg: TrainConfig, plan: RuntimePlan, model_path: str, tokenizer: Any, data: PreparedData,
                   callbacks: list | None) -> dict[str, Any]:
    """The arguments both TRL trainers take alike: model (quantized as configured), data, tokenizer, LoRA."""
    from datasets import Dataset

    from prefjudge.train.runtime import load_model, lora_config

    return dict(model=load_model(model_path, cfg.model, cfg.quantization, plan),
                train_dataset=Dataset.from_list(data.train),
                eval_dataset=Dataset.from_list(data.eval) if data.eval else None,
                processing_class=tokenizer, peft_config=lora_config(cfg.lora), callbacks=callbacks)
