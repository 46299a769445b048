"""QLoRA (or plain LoRA) DPO with TRL 1.16's ``DPOTrainer``.

The model is loaded with a ``BitsAndBytesConfig`` (4-bit nf4, double quant) and handed to TRL
with a ``peft_config``; with ``ref_model=None`` TRL uses the same weights with the adapter disabled as the reference: one copy
of the model in memory. ``dpo.reference: separate`` loads a second copy instead (for comparison).

Example (CPU, seconds)::

    from prefjudge.train import TrainConfig, train_dpo
    from prefjudge.recipes.loading import BUILTIN_DIR
    cfg = TrainConfig.model_validate({
        "model": {"tiny": {}}, "data": {"path": str(BUILTIN_DIR / "data" / "orca_dpo_pairs_sample.jsonl"),
        "loader": "orca_dpo_pairs", "chat_template": "chatml"},
        "dpo": {"max_steps": 8, "learning_rate": 5e-3, "logging_steps": 2}, "device": "cpu",
        "output_dir": "runs/demo"})
    out = train_dpo(cfg)
    print(out.history[-1]["rewards/margins"], out.adapter_path)
"""

from __future__ import annotations

from pathlib import Path

from prefjudge.train.common import TrainOutput, run_trainer, trainer_inputs, trainer_kwargs
from prefjudge.train.config import TrainConfig
from prefjudge.train.runtime import RuntimePlan, load_model, silence_bitsandbytes


def _reference_model(cfg: TrainConfig, model_path: str, plan: RuntimePlan):
    """A separately loaded reference (same quantization), or None for adapter-disabled."""
    if cfg.dpo.reference != "separate":
        return None
    return load_model(model_path, cfg.model, cfg.quantization, plan)


def build_dpo_trainer(cfg: TrainConfig, *, base_dir: Path | None = None, callbacks: list | None = None):
    """Build (but do not run) the ``DPOTrainer``; returns ``(trainer, prepared data, plan, model path)``."""
    silence_bitsandbytes()
    from trl import DPOConfig, DPOTrainer

    plan, model_path, tokenizer, data, args = trainer_inputs(cfg, "dpo", cfg.dpo, base_dir)
    args.update(beta=cfg.dpo.beta, loss_type=list(cfg.dpo.loss_type),
                precompute_ref_log_probs=cfg.dpo.precompute_ref_log_probs, **cfg.dpo.trl_args)
    trainer = DPOTrainer(**trainer_kwargs(cfg, plan, model_path, tokenizer, data, callbacks),  # loads the model first
                         ref_model=_reference_model(cfg, model_path, plan), args=DPOConfig(**args))
    return trainer, data, plan, model_path


def train_dpo(cfg: TrainConfig, *, base_dir: Path | None = None) -> TrainOutput:
    """Run LoRA/QLoRA DPO from a ``TrainConfig``; save the adapter and tokenizer.

    Rows longer than ``dpo.max_length`` (or with a prompt over ``dpo.max_prompt_length``) are
    dropped before training and counted in ``rows["too_long"]``. ``history`` has one entry per
    logged step with loss and the ``rewards/*`` metrics.
    """
    return run_trainer("dpo", build_dpo_trainer, cfg, base_dir, lambda plan, n4, trainer: _runtime_info(cfg, plan, n4, trainer))


def _runtime_info(cfg: TrainConfig, plan: RuntimePlan, n4: int, trainer) -> dict:
    if cfg.dpo.precompute_ref_log_probs:
        reference = f"precomputed ({cfg.dpo.reference})"
    else:
        reference = cfg.dpo.reference
    return {
        "device": plan.device, "optim": plan.optim, "optim_requested": cfg.dpo.optim,
        "bf16": plan.bf16, "fp16": plan.fp16, "model_dtype": plan.model_dtype,
        "quantization": cfg.quantization.mode, "linear4bit_layers": n4, "reference": reference,
        "separate_ref_model_loaded": trainer.ref_model is not None,
        "trainable_parameters": sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
        "global_steps": trainer.state.global_step,
    }
