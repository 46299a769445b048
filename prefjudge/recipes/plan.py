"""``--dry-run``: validate a recipe, map each step's local data sample, estimate GPU memory.

Nothing is downloaded and nothing is trained. For each training step the plan shows the model,
the data source and mapping (rows read, filtered and kept from the local sample, with a
formatted example), the hyperparameters, the memory estimate and the GPUs it fits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefjudge.recipes.paths import in_recipe
from prefjudge.recipes.schema import BuildTwinStep, CurateStep, EvalStep, IterateStep, MergeStep, Recipe, TrainStep, is_ref
from prefjudge.train import data as D
from prefjudge.train.architectures import ModelDims, dims_for
from prefjudge.train.config import DataConfig, TrainConfig, config_from_dict
from prefjudge.train.memory import GPUS, estimate_memory
from prefjudge.train.runtime import plan_runtime, resolve_model_path

EXAMPLE_CHARS = 240


def _model_name(recipe: Recipe, ref_or_name: str) -> str:
    """Follow ``@step`` references back to a model id/path (a merged model keeps its base's dims)."""
    seen = 0
    while is_ref(ref_or_name) and seen < 20:
        step = next(s for s in recipe.steps if s.id == ref_or_name[1:])
        ref_or_name = step.base if isinstance(step, MergeStep) else step.config["model"].get("name_or_path", "")
        seen += 1
    return ref_or_name


def _dims(recipe: Recipe, cfg: TrainConfig) -> ModelDims:
    if cfg.model.tiny is not None:
        return dims_for(resolve_model_path(cfg.model))
    return dims_for(_model_name(recipe, cfg.model.name_or_path or ""))


def _sample_source(step: TrainStep | None, cfg: TrainConfig, base_dir: Path) -> Path | None:
    """The step's ``sample``, else its local ``data.path`` (written in the recipe: relative to ``base_dir``)."""
    if step is not None and step.sample:
        return Path(in_recipe(step.sample, base_dir))
    if cfg.data.path and not is_ref(cfg.data.path):
        return Path(in_recipe(cfg.data.path, base_dir))
    return None


def map_sample(step: TrainStep | None, cfg: TrainConfig, base_dir: Path) -> dict[str, Any]:
    """Map the step's local sample (or the config's local data) with the loader, filters, format and template."""
    sample = _sample_source(step, cfg, base_dir)
    if sample is None:
        return {"sample": None, "note": "no local sample given for this step"}
    data_cfg = DataConfig.model_validate({**cfg.data.model_dump(), "path": str(sample), "hub_id": None,
                                          "hub_config": None, "hub_data_dir": None, "max_rows": None})
    raw = D.read_rows(data_cfg)
    mapped = D.map_rows(raw, data_cfg.loader, data_cfg.filters)
    fmt, template = D.resolve_format(data_cfg.format, data_cfg.chat_template or cfg.model.chat_template, raw)
    note = None
    if fmt == "standard" and template is None:
        fmt, note = "conversational", "rendered with the model tokenizer's chat template at train time"
    rows = D.format_rows(mapped.turns, fmt, template=template)
    example = {k: (v if isinstance(v, str) else repr(v))[:EXAMPLE_CHARS] for k, v in (rows[0] if rows else {}).items()}
    return {"sample": str(sample), "read": len(raw), "filtered": sum(mapped.dropped.values()),
            "kept": len(rows), "dropped": dict(mapped.dropped), "example": example, "note": note}


def _hyper(cfg: TrainConfig, kind: str) -> dict[str, Any]:
    """The hyperparameters the run uses; for a DPO-family step its ``trainer`` and the loss types it
    really runs (the trainer's default when the config sets none: ``kto`` for KTO, none for ORPO)."""
    s = cfg.sft if kind == "sft" else cfg.dpo
    keys = ["learning_rate", "lr_scheduler_type", "max_steps", "num_train_epochs", "per_device_train_batch_size",
            "gradient_accumulation_steps", "max_length", "max_prompt_length", "optim", "warmup_steps",
            "warmup_ratio", "weight_decay", "gradient_checkpointing", "precision", "seed"]
    out: dict[str, Any] = {k: getattr(s, k) for k in keys}
    out["too_long"] = cfg.data.too_long
    if kind == "dpo":
        from prefjudge.train.trl_support import TRAINERS, resolved_losses

        spec = TRAINERS[cfg.trainer]
        out.update(trainer=cfg.trainer, trl_class=f"{spec.module}.{spec.trainer}", beta=cfg.dpo.beta,
                   loss_type=resolved_losses(cfg.trainer, cfg.dpo, set(cfg.dpo.model_fields_set)),
                   reference=cfg.dpo.reference if spec.uses_reference else "none (reference-free)",
                   precompute_ref_log_probs=cfg.dpo.precompute_ref_log_probs)
    return out


def _plan_train(step: TrainStep, recipe: Recipe, base_dir: Path) -> dict[str, Any]:
    cfg = config_from_dict(step.config, source=f"step {step.id!r} config")
    return plan_train_config(cfg, step.kind, base_dir, step_id=step.id, step=step, dims=_dims(recipe, cfg))


def plan_train_config(cfg: TrainConfig, kind: str, base_dir: Path, *, step_id: str = "train",
                      step: TrainStep | None = None, dims: ModelDims | None = None) -> dict[str, Any]:
    """The dry-run plan of one training config (a recipe step, or ``prefjudge train ... --dry-run``)."""
    settings = cfg.sft if kind == "sft" else cfg.dpo
    if dims is None:
        dims = dims_for(resolve_model_path(cfg.model)) if cfg.model.tiny is not None else dims_for(cfg.model.name_or_path or "")
    estimate = estimate_memory(cfg, method=kind, dims=dims)
    cpu = plan_runtime(settings, cfg.quantization, cfg.model, "cpu", cuda_available=False)
    source = cfg.data.hub_id or cfg.data.path
    return {
        "id": step_id, "kind": kind,
        "model": cfg.model.name_or_path or f"tiny {cfg.model.tiny.model_dump()}",
        "quantization": cfg.quantization.model_dump(), "lora": cfg.lora.model_dump(),
        "data": {"source": source, "loader": cfg.data.loader, "format": cfg.data.format,
                 "chat_template": cfg.data.chat_template or cfg.model.chat_template,
                 "filters": cfg.data.filters, "max_rows": cfg.data.max_rows, "test_size": cfg.data.test_size,
                 "too_long": cfg.data.too_long, **map_sample(step, cfg, base_dir)},
        "training": _hyper(cfg, kind),
        "memory": estimate.model_dump(),
        "on_cpu": cpu.notes,
    }


def plan_config(cfg: TrainConfig, kind: str, base_dir: Path) -> dict[str, Any]:
    """A one-step plan for a training config, in :func:`format_plan`'s shape."""
    step = plan_train_config(cfg, kind, base_dir)
    return {"recipe": "training config", "profile": "-", "recipe_path": str(base_dir), "source": "",
            "dry_run": True, "steps": [step], "fits_all_steps": step["memory"]["fits"]}


def _plan_step(step, recipe: Recipe, base_dir: Path) -> dict[str, Any]:
    if isinstance(step, TrainStep):
        return _plan_train(step, recipe, base_dir)
    if isinstance(step, MergeStep):
        return {"id": step.id, "kind": "merge", "base": _model_name(recipe, step.base), "adapters": step.adapters,
                "dtype": step.dtype, "check": step.check, "dequantize": step.dequantize, "push_to_hub": step.push_to_hub}
    if isinstance(step, EvalStep):
        prompts = Path(in_recipe(step.prompts, base_dir))
        n = sum(1 for line in prompts.read_text().splitlines() if line.strip()) if prompts.is_file() else None
        return {"id": step.id, "kind": "eval", "trained": step.trained, "base": _model_name(recipe, step.base),
                "prompts": step.prompts, "n_prompts": n, "jury": step.jury.model_dump(), "order": step.order,
                "device": step.device, "quantization": step.quantization, "batch_size": step.batch_size}
    if isinstance(step, CurateStep):
        from prefjudge.recipes.curate_plan import plan_curate

        return plan_curate(step, base_dir)
    if isinstance(step, IterateStep):
        return _plan_iterate(step, base_dir)
    assert isinstance(step, BuildTwinStep)
    articles = Path(in_recipe(step.articles, base_dir))
    chunks = None
    if articles.exists():
        from prefjudge.recipes.llm_twin import extract_chunks, read_articles

        chunks = len(extract_chunks(read_articles(articles), step.min_chunk_chars, step.max_chunk_chars))
    return {"id": step.id, "kind": step.kind, "articles": step.articles, "generator": step.generator,
            "chunks": chunks, "chunk_chars": [step.min_chunk_chars, step.max_chunk_chars],
            "min_chosen_chars": step.min_chosen_chars}


def _plan_iterate(step: IterateStep, base_dir: Path) -> dict[str, Any]:
    """An iterate step's plan: each round's generation, jury and curation, its DPO training (the
    memory of one round), the merge and the evaluation against round 0."""
    from prefjudge.recipes.curate_plan import _models, comparisons_per_prompt, judge_calls_at_most, plan_curate
    from prefjudge.recipes.iterate import base_train_config, curate_step, eval_step, policy_generator

    cfg = base_train_config(step)
    sample = TrainStep(id=f"{step.id}/dpo", kind="dpo", config=step.train, sample=step.sample)
    train = plan_train_config(cfg, "dpo", base_dir, step_id=f"{step.id}/dpo", step=sample, dims=_dims_of(cfg))
    curate = plan_curate(curate_step(step, step.prompts), base_dir)
    # the generator of every round is the policy alone (a simulated world only judges)
    gen = policy_generator(step, "{policy}", 0)
    per_prompt = step.n
    comparisons = comparisons_per_prompt(curate["rank"]["strategy"], per_prompt, curate["rank"]["budget"])
    n_prompts = curate["input"]["n_prompts"]
    if n_prompts is not None and step.max_prompts:
        n_prompts = min(n_prompts, step.max_prompts)
    models = [{**m, "credentials": "local model folder (transformers)"} if m["backend"] == "transformers" else m
              for m in _models([gen])]
    curate.update(generators=models, candidates_per_prompt=per_prompt, comparisons_per_prompt=comparisons,
                  simulated=False, input={**curate["input"], "n_prompts": n_prompts},
                  calls={"generate": n_prompts * per_prompt,
                         "judge_at_most": judge_calls_at_most(n_prompts, comparisons, curate["judges"],
                                                              curate["rank"]["order"], curate["rank"]["strategy"])}
                  if n_prompts else None)
    ev = eval_step(step)
    prompts = Path(in_recipe(ev.prompts, base_dir))
    n_eval = sum(1 for line in prompts.read_text().splitlines() if line.strip()) if prompts.is_file() else None
    if n_eval is not None and ev.max_prompts:
        n_eval = min(n_eval, ev.max_prompts)
    return {"id": step.id, "kind": "iterate", "rounds": step.rounds, "n": step.n,
            "policy": policy_generator(step, "{policy}", 0), "serve": step.serve,
            "jury": step.judges_file or f"SIMULATED jury scoring with {getattr(step.simulated, 'score', None)}",
            "curate": curate, "train": train, "memory": train["memory"],
            "eval": {"prompts": ev.prompts, "n_prompts": n_eval, "max_prompts": ev.max_prompts, "order": ev.order,
                     "jury": ev.jury.model_dump()}}


def _dims_of(cfg: TrainConfig) -> ModelDims:
    if cfg.model.tiny is not None:
        return dims_for(resolve_model_path(cfg.model))
    return dims_for(cfg.model.name_or_path or "")


def plan_recipe(recipe: Recipe, profile: str, path: Path, *, echo=print) -> dict[str, Any]:
    """The dry-run plan as a dict (also printed through ``echo``)."""
    steps = [_plan_step(step, recipe, path.parent) for step in recipe.steps]
    fits = [g for g in GPUS if all(g in s["memory"]["fits"] for s in steps if "memory" in s)]
    plan = {"recipe": recipe.name, "profile": profile, "recipe_path": str(path), "source": recipe.source,
            "dry_run": True, "steps": steps, "fits_all_steps": fits}
    echo(format_plan(plan))
    return plan


def format_plan(plan: dict[str, Any]) -> str:
    """A readable text version of a plan."""
    lines = [f"recipe {plan['recipe']} (profile {plan['profile']}) - {plan['source']}"]
    for s in plan["steps"]:
        lines.append(f"- step {s['id']} [{s['kind']}]")
        if "memory" in s and s["kind"] != "iterate":
            d, m = s["data"], s["memory"]
            lines.append(f"    model {s['model']} ({m['n_params'] / 1e9:.2f}B params, quantization "
                         f"{s['quantization']['mode']}, LoRA r={s['lora']['r']}: {m['lora_params'] / 1e6:.1f}M)")
            lines.append(f"    data {d['source']} via loader {d['loader']} ({d['format']}, template "
                         f"{d['chat_template'] or 'model'})")
            if d.get("sample"):
                lines.append(f"    sample {d['sample']}: read {d['read']}, filtered {d['filtered']}, kept {d['kept']}")
            t = s["training"]
            if "trainer" in t:
                lines.append(f"    trainer {t['trainer']} ({t['trl_class']}), loss {', '.join(t['loss_type']) or 'its own'}, "
                             f"beta {t['beta']}, reference {t['reference']}")
            steps = f"max_steps {t['max_steps']}" if t["max_steps"] else f"{t['num_train_epochs']} epoch(s)"
            lines.append(f"    train {steps}, batch {t['per_device_train_batch_size']}x{t['gradient_accumulation_steps']}, "
                         f"lr {t['learning_rate']} {t['lr_scheduler_type']}, optim {t['optim']}, max_length {t['max_length']}"
                         f" (over-long rows: {t.get('too_long', 'drop')})")
            lines.append(f"    memory ~{m['total_gb']} GiB peak; fits: {', '.join(m['fits']) or 'none of the listed GPUs'}")
            lines.extend(f"    on CPU: {n}" for n in s["on_cpu"])
        elif s["kind"] == "merge":
            into = "a dequantized copy of the 4-bit " if s.get("dequantize") else ""
            lines.append(f"    merge {', '.join(s['adapters'])} into {into}{s['base']} ({s['dtype']}), check logits: {s['check']}")
        elif s["kind"] == "eval":
            jury = s["jury"]["judges_file"] or f"SIMULATED jury scoring with {s['jury']['simulated_score']}"
            lines.append(f"    judge {s['trained']} vs {s['base']} on {s['n_prompts']} prompts from {s['prompts']} "
                         f"({s['order']} order), jury: {jury}")
            lines.append(f"    answers on device {s['device']}, quantization {s['quantization']}, batches of {s['batch_size']}")
        elif s["kind"] == "curate":
            from prefjudge.recipes.curate_plan import format_curate

            lines.extend(format_curate(s))
        elif s["kind"] == "iterate":
            from prefjudge.recipes.curate_plan import format_curate

            p, t, m = s["policy"], s["train"]["training"], s["memory"]
            where = f"server {p['base_url']} ({p.get('backend', 'openai')})" if p.get("base_url") else p.get("backend", "openai")
            lines.append(f"    {s['rounds']} rounds; each: the policy (round 0: {s['train']['model']}; then the last merge) "
                         f"answers {s['n']} times per prompt through {where}")
            if s["serve"]:
                lines.append(f"    started per round: {' '.join(s['serve'])}")
            lines.extend(format_curate(s["curate"])[1:])
            lines.append(f"    DPO from the policy: max_steps {t['max_steps']}, beta {t['beta']}, lr {t['learning_rate']}, "
                         f"memory ~{m['total_gb']} GiB peak; merge; judge against round 0 on "
                         f"{s['eval']['n_prompts']} prompts from {s['eval']['prompts']}")
        else:
            lines.append(f"    build from {s['articles']} ({s['chunks']} chunks) with generator {s['generator'].get('kind')}")
    lines.append(f"fits every step: {', '.join(plan['fits_all_steps']) or 'none of the listed GPUs'}")
    return "\n".join(lines)
