"""QLoRA (or plain LoRA) DPO with TRL 1.16's ``DPOTrainer``, and the rest of the family TRL offers.

``trainer`` in the config picks the TRL trainer (:mod:`prefjudge.train.trl_support`): ``dpo``
(``DPOTrainer``, every loss variant of ``dpo.loss_type``), ``orpo`` (``trl.experimental.orpo``),
``kto`` (``KTOTrainer`` on the pairs unpaired into prompt/completion/label rows) or ``cpo``
(``trl.experimental.cpo``: CPO, and SimPO with ``loss_type: [simpo]``). Model loading, data,
LoRA and the outputs are the same for all four.

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
from typing import Any

from prefjudge.train.common import TrainOutput, run_trainer, trainer_inputs, trainer_kwargs
from prefjudge.train.config import TrainConfig
from prefjudge.train.runtime import RuntimePlan, load_model, silence_bitsandbytes
from prefjudge.train.trl_support import TRAINERS, load_classes, resolved_losses


def _reference_model(cfg: TrainConfig, model_path: str, plan: RuntimePlan):
    """A separately loaded reference (same quantization), or None for adapter-disabled."""
    if cfg.dpo.reference != "separate" or not TRAINERS[cfg.trainer].uses_reference:
        return None
    return load_model(model_path, cfg.model, cfg.quantization, plan)


def loss_types(cfg: TrainConfig) -> list[str]:
    """The loss types the run uses (the trainer's default when the config sets none)."""
    return resolved_losses(cfg.trainer, cfg.dpo, set(cfg.dpo.model_fields_set))


def trainer_args(cfg: TrainConfig) -> dict[str, Any]:
    """The trainer-specific arguments of the TRL config class (added to the common ones)."""
    s, trainer = cfg.dpo, cfg.trainer
    args: dict[str, Any] = {"beta": s.beta}
    losses = loss_types(cfg)
    if trainer == "dpo":
        args.update(loss_type=losses, precompute_ref_log_probs=s.precompute_ref_log_probs,
                    label_smoothing=s.label_smoothing)
        if s.loss_weights is not None:
            args["loss_weights"] = list(s.loss_weights)
    elif trainer == "kto":
        args.update(loss_type=losses[0], precompute_ref_log_probs=s.precompute_ref_log_probs)
        args.update({k: getattr(s, k) for k in ("desirable_weight", "undesirable_weight") if getattr(s, k) is not None})
    elif trainer == "cpo":
        args.update(loss_type=losses[0], label_smoothing=s.label_smoothing)
        args.update({k: getattr(s, k) for k in ("cpo_alpha", "simpo_gamma") if getattr(s, k) is not None})
    return args


def build_dpo_trainer(cfg: TrainConfig, *, base_dir: Path | None = None, callbacks: list | None = None):
    """Build (but do not run) the configured preference trainer (``cfg.trainer``, DPO by default);
    returns ``(trainer, prepared data, plan, model path)``."""
    silence_bitsandbytes()
    config_class, trainer_class = load_classes(cfg.trainer)
    plan, model_path, tokenizer, data, args = trainer_inputs(cfg, "dpo", cfg.dpo, base_dir)
    args.update(trainer_args(cfg))
    args.update(cfg.dpo.trl_args)
    kwargs = trainer_kwargs(cfg, plan, model_path, tokenizer, data, callbacks)  # loads the model first
    if TRAINERS[cfg.trainer].uses_reference:
        kwargs["ref_model"] = _reference_model(cfg, model_path, plan)
    trainer = trainer_class(**kwargs, args=config_class(**args))
    return trainer, data, plan, model_path


def train_dpo(cfg: TrainConfig, *, base_dir: Path | None = None) -> TrainOutput:
    """Run LoRA/QLoRA DPO (or ORPO, KTO, CPO/SimPO: ``cfg.trainer``) from a ``TrainConfig``; save the
    adapter, tokenizer and model card (and push, when ``cfg.push`` says so).

    Rows longer than ``dpo.max_length`` (or with a prompt over ``dpo.max_prompt_length``) are
    truncated as TRL does or dropped (``data.too_long``), counted in ``lengths`` (the dropped ones
    also in ``rows["too_long"]``). ``history`` has one entry per logged step with loss, the
    ``rewards/*`` and ``logps/*`` metrics. Under ``accelerate launch``/``torchrun`` every process
    trains and the main one saves, writes the card and pushes (:mod:`prefjudge.train.distributed`).
    """
    return run_trainer("dpo", build_dpo_trainer, cfg, base_dir, lambda plan, n4, trainer: _runtime_info(cfg, plan, n4, trainer))


def _runtime_info(cfg: TrainConfig, plan: RuntimePlan, n4: int, trainer) -> dict:
    spec = TRAINERS[cfg.trainer]
    if not spec.uses_reference:
        reference = "none (reference-free)"
    elif cfg.dpo.precompute_ref_log_probs:
        reference = f"precomputed ({cfg.dpo.reference})"
    else:
        reference = cfg.dpo.reference
    return {
        "trainer": cfg.trainer, "trl_class": f"{spec.module}.{spec.trainer}", "loss_types": loss_types(cfg),
        "device": plan.device, "optim": plan.optim, "optim_requested": cfg.dpo.optim,
        "bf16": plan.bf16, "fp16": plan.fp16, "model_dtype": plan.model_dtype,
        "quantization": cfg.quantization.mode, "linear4bit_layers": n4, "reference": reference,
        "separate_ref_model_loaded": getattr(trainer, "ref_model", None) is not None,
        "trainable_parameters": sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
        "global_steps": trainer.state.global_step,
    }
