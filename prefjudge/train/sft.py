"""QLoRA SFT with TRL 1.16's ``SFTTrainer`` (the first stage of the TinyLlama SFT + DPO recipe).

The data is a conversation per row (``loader: ultrachat``), rendered with the model's chat
template into a ``text`` column (standard format) or kept as ``messages`` (conversational).
Settings come from ``TrainConfig.sft``; model, quantization and LoRA are shared with DPO.
"""

from __future__ import annotations

from pathlib import Path

from prefjudge.train.common import TrainOutput, run_trainer, trainer_inputs, trainer_kwargs
from prefjudge.train.config import TrainConfig
from prefjudge.train.runtime import silence_bitsandbytes


def build_sft_trainer(cfg: TrainConfig, *, base_dir: Path | None = None, callbacks: list | None = None):
    """Build (but do not run) the ``SFTTrainer``; returns ``(trainer, data, plan, model path)``."""
    silence_bitsandbytes()
    from trl import SFTConfig, SFTTrainer

    plan, model_path, tokenizer, data, args = trainer_inputs(cfg, "sft", cfg.sft, base_dir)
    args.update(packing=cfg.sft.packing, dataset_text_field="text", **cfg.sft.trl_args)
    if cfg.sft.completion_only_loss is not None:
        args["completion_only_loss"] = cfg.sft.completion_only_loss
    trainer = SFTTrainer(**trainer_kwargs(cfg, plan, model_path, tokenizer, data, callbacks), args=SFTConfig(**args))
    return trainer, data, plan, model_path


def train_sft(cfg: TrainConfig, *, base_dir: Path | None = None) -> TrainOutput:
    """Run LoRA/QLoRA SFT from a ``TrainConfig``; save the adapter and tokenizer.

    Conversations longer than ``sft.max_length`` tokens are cut there by TRL (``data.too_long:
    truncate``, as the seed's ``SFTTrainer(max_seq_length=...)``) or dropped (``drop``, the default),
    counted in ``lengths``. ``history`` has loss per logged step.
    """
    return run_trainer("sft", build_sft_trainer, cfg, base_dir, lambda plan, n4, trainer: _runtime_info(cfg, plan, n4, trainer))


def _runtime_info(cfg: TrainConfig, plan, n4: int, trainer) -> dict:
    return {
        "device": plan.device, "optim": plan.optim, "optim_requested": cfg.sft.optim, "bf16": plan.bf16,
        "fp16": plan.fp16, "model_dtype": plan.model_dtype, "quantization": cfg.quantization.mode,
        "linear4bit_layers": n4, "global_steps": trainer.state.global_step,
        "trainable_parameters": sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
    }
