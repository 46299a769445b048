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

HISTORY_KEYS = ("loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies",
                "logps/chosen", "logps/rejected", "learning_rate", "grad_norm", "mean_token_accuracy",
                "nll_loss", "log_odds_ratio", "kl")


class TrainOutput(BaseModel):
    """What a training run produced and measured (also the ``train`` key of ``run.json``)."""

    model_config = ConfigDict(extra="forbid")
    method: Literal["dpo", "sft"]
    trainer: str | None = None
    """The TRL trainer: ``dpo``, ``orpo``, ``kto``, ``cpo`` (a ``dpo`` run) or ``sft``."""
    base_model: str
    output_dir: str
    adapter_path: str
    history: list[dict[str, float]]
    eval_history: list[dict[str, float]] = Field(default_factory=list)
    rows: dict[str, int]
    dropped: dict[str, int] = Field(default_factory=dict)
    lengths: dict[str, Any] = Field(default_factory=dict)
    """Over-long rows (:func:`prefjudge.train.data.fit_lengths`): ``mode`` (truncate or drop), the limits,
    ``truncated`` (kept, cut: ``prompt_truncated``, ``answer_truncated``) and ``dropped`` (with reasons)."""
    runtime: dict[str, Any]
    notes: list[str] = Field(default_factory=list)
    train_seconds: float
    mean_step_seconds: float | None
    peak_memory_mb: float
    peak_memory_kind: str
    environment: dict[str, Any] = Field(default_factory=dict)
    """Library versions, prefjudge's version and commit, the hardware (:mod:`prefjudge.train.provenance`)."""
    data_fingerprint: dict[str, Any] = Field(default_factory=dict)
    """sha256 of the rows handed to TRL (train and eval)."""
    card_path: str | None = None
    merged: dict[str, Any] | None = None
    """The merge done for ``push.push_merged`` (a ``MergeResult`` dump)."""
    pushed: list[dict[str, Any]] = Field(default_factory=list)


class PreparedData(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    train: list[dict]
    eval: list[dict]
    rows: dict[str, int]
    dropped: dict[str, int]
    lengths: dict[str, Any] = Field(default_factory=dict)


def prepare_data(cfg: TrainConfig, kind: str, settings: OptimSettings, tokenizer: Any,
                 base_dir: Path | None = None) -> PreparedData:
    """Read, map, format, truncate or drop over-long rows (``data.too_long``, counted) and split, for
    ``kind`` dpo or sft."""
    loader = get_loader(cfg.data.loader)
    want = "sft" if kind == "sft" else "preference"
    if loader.kind != want:
        raise InputError(f"loader {loader.name!r} gives {loader.kind} rows; a {kind} run needs {want} rows",
                         field="data.loader")
    raw = D.read_rows(cfg.data, base_dir)
    mapped = D.map_rows(raw, loader.name, cfg.data.filters)
    fmt, template = D.resolve_format(cfg.data.format, cfg.data.chat_template or cfg.model.chat_template, raw)
    rows = D.format_rows(mapped.turns, fmt, template=template, tokenizer=tokenizer)
    kept, lengths = D.fit_lengths(rows, tokenizer, settings.max_length, settings.max_prompt_length, cfg.data.too_long)
    too_long = lengths["dropped"]
    if not kept:
        raise InputError(f"no training rows left: {len(raw)} read, {sum(mapped.dropped.values())} "
                         f"filtered, {too_long} dropped as too long for max_length={settings.max_length} "
                         f"(data.too_long: {cfg.data.too_long})", field="data")
    train, test = D.split_rows(kept, cfg.data.test_size, settings.seed)
    counts = {"read": len(raw), "filtered": sum(mapped.dropped.values()), "too_long": too_long,
              "train": len(train), "eval": len(test)}
    if kind == "dpo" and cfg.trainer == "kto":  # KTO trains on unpaired rows; a pair's two rows stay together
        train, test = D.unpair_rows(train), D.unpair_rows(test)
        counts.update(unpaired_train=len(train), unpaired_eval=len(test))
    return PreparedData(train=train, eval=test, rows=counts, dropped=dict(mapped.dropped), lengths=lengths)


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
    args.update(distributed_args(settings))
    args.update(tracking_args(cfg))
    args.update(settings.trl_args)
    return args


def distributed_args(settings: OptimSettings) -> dict[str, Any]:
    """What a multi-process launch needs from the trainer: every LoRA parameter takes part in each
    step (no search for unused ones), and non-reentrant checkpointing (the reentrant kind breaks
    DDP's gradient hooks with frozen base weights). Nothing for a single process."""
    from prefjudge.train.distributed import is_distributed, launch_mode

    if not is_distributed():
        return {}
    args: dict[str, Any] = {"ddp_find_unused_parameters": False}
    if settings.gradient_checkpointing and launch_mode() == "ddp":  # TRL forces reentrant under PEFT + ZeRO-3
        args["gradient_checkpointing_kwargs"] = {"use_reentrant": False}
    return args


def tracking_args(cfg: TrainConfig) -> dict[str, Any]:
    """``report_to`` settings: the run name and project; trackio logs locally (``TRACKIO_DIR``)
    and syncs nothing to the Hub unless ``trackio_space_id`` is set."""
    args: dict[str, Any] = {}
    if cfg.run_name:
        args["run_name"] = cfg.run_name
    if "trackio" in cfg.report_to:
        if cfg.project:
            args["project"] = cfg.project
        args["trackio_space_id"] = cfg.trackio_space_id
        if cfg.trackio_space_id is None:
            args["trackio_static_space_id"] = False
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
    """Build a trainer with ``build(cfg, base_dir=, callbacks=)``, train, save adapter and tokenizer,
    write the model card (and ``prefjudge_training.json``) next to the adapter, then merge and push
    as ``cfg.push`` asks.

    ``runtime(plan, linear4bit_layers, trainer)`` gives the method's ``TrainOutput.runtime`` dict.
    """
    from prefjudge.train import distributed as dist
    from prefjudge.train.card import write_adapter_card
    from prefjudge.train.provenance import data_fingerprint, environment
    from prefjudge.train.runtime import count_linear4bit, peak_memory_mb, silence_bitsandbytes

    silence_bitsandbytes()
    dist.ensure_group()
    timer = step_timer()
    trainer, data, plan, model_path = build(cfg, base_dir=base_dir, callbacks=[timer])
    n4 = count_linear4bit(trainer.model)
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    adapter = Path(cfg.output_dir) / "adapter"
    trainer.save_model(str(adapter))  # every process calls it (FSDP/ZeRO-3 gather the weights); the trainer writes once
    if dist.is_main():
        trainer.processing_class.save_pretrained(str(adapter))
    history, evals = split_history(trainer.state.log_history)
    peak, kind = peak_memory_mb(plan.device)
    info = runtime(plan, n4, trainer)
    info["distributed"] = {**dist.describe(), "peak_memory_mb_by_rank": dist.gather(peak)}
    output = TrainOutput(
        method=method, trainer=cfg.trainer if method == "dpo" else "sft", base_model=model_path,
        output_dir=cfg.output_dir, adapter_path=str(adapter),
        history=history, eval_history=evals, rows=data.rows, dropped=data.dropped, lengths=data.lengths,
        runtime=info, notes=list(dict.fromkeys(plan.notes)), train_seconds=seconds,
        mean_step_seconds=timer.mean(), peak_memory_mb=peak, peak_memory_kind=kind,
        environment=environment(), data_fingerprint=data_fingerprint(data.train, data.eval),
    )
    del trainer

    def finish() -> TrainOutput:  # the card, the merge and the pushes: once, on the main process
        output.card_path = str(write_adapter_card(cfg, output, adapter))
        return publish(cfg, output)

    return dist.on_main(finish, f"saving the adapter of {cfg.output_dir}")


def publish(cfg: TrainConfig, output: TrainOutput, *, api: Any = None) -> TrainOutput:
    """Do what ``cfg.push`` asks after training: merge the adapter into the base (``push_merged``,
    under ``OUTPUT_DIR/merged`` with its card) and upload the adapter and/or merged folder."""
    from prefjudge.train.card import write_adapter_card, write_merged_card
    from prefjudge.train.hub import push_folder

    push = cfg.push
    if push.push_merged:
        import gc

        from prefjudge.train.merging import merge

        gc.collect()
        result = merge(output.base_model, [output.adapter_path], Path(output.output_dir) / "merged",
                       dtype=push.merged_dtype, device=cfg.device)
        output.merged = result.model_dump()
        assert push.hub_model_id is not None  # PushConfig's validator
        write_merged_card(result.base, result.adapters, result.dtype,
                          {"max_abs_logit_diff": result.max_abs_logit_diff, "tolerance": result.tolerance},
                          result.path, repo_id=push.hub_model_id)  # its usage names the repo
        output.pushed.append({"what": "merged", **push_folder(result.path, push.hub_model_id, private=push.private,
                                                              commit_message=push.commit_message, api=api)})
    repo = push.adapter_repo()
    if repo:
        write_adapter_card(cfg, output, output.adapter_path, repo_id=repo)
        output.pushed.append({"what": "adapter", **push_folder(output.adapter_path, repo, private=push.private,
                                                               commit_message=push.commit_message, api=api)})
    return output


def trainer_inputs(cfg: TrainConfig, kind: Literal["dpo", "sft"], settings: OptimSettings, base_dir: Path | None):
    """What both trainers start from: ``(runtime plan, model path, tokenizer, prepared data, TRL args)``."""
    from prefjudge.train.config import ignored_settings
    from prefjudge.train.distributed import main_first
    from prefjudge.train.runtime import cuda_available, load_tokenizer, plan_runtime, resolve_model_path

    plan = plan_runtime(settings, cfg.quantization, cfg.model, cfg.device, cuda_available())
    if kind == "dpo":
        plan.notes.extend(ignored_settings(cfg))
    with main_first():  # the main process builds a tiny model or fills the caches; the others then read them
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
