"""Run a recipe (or plan it with ``dry_run``) and write ``DIR/run.json``.

    from prefjudge.recipes import run_recipe
    result = run_recipe("neuralhermes", profile="smoke", out="runs/nh-smoke")  # a built-in recipe, or a path
    result["train"]["history"][-1]["rewards/margins"], result["merge"]["max_abs_logit_diff"]

``run.json`` holds: the recipe name and profile, the config as run (references resolved),
every step's result under ``steps``, ``train`` (the last DPO step: history of loss and
rewards/*), ``sft`` when there is one, ``adapter_path``, ``merged_path``, ``merge``
(``max_abs_logit_diff``), ``dataset`` for built datasets, ``curate`` for curated ones (export
path, rows after each curation step, length balance, audit report paths), ``eval`` (win_rate with ci and n,
lc_win_rate, mean answer lengths of base and trained), wall time and peak memory. A failed
run still writes ``run.json`` with ``status: failed`` and the error.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from prefjudge.errors import ConfigError
from prefjudge.judging.judges_file import load_judges
from prefjudge.recipes.loading import find_recipe, load_recipe
from prefjudge.recipes.paths import cli_path, fresh_dir, in_recipe, output_dir
from prefjudge.recipes.schema import (
    BuildTwinStep,
    CurateStep,
    EvalStep,
    IterateStep,
    JurySpec,
    MergeStep,
    Recipe,
    TrainStep,
    deep_merge,
    is_ref,
)
from prefjudge.train.config import config_from_dict


def default_out(name: str, profile: str, now: datetime | None = None) -> Path:
    """A new folder ``runs/NAME-PROFILE-TIME`` under the current directory (``-2``, ``-3``... when
    another run took that name in the same second)."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S")
    return fresh_dir("runs", f"{name}-{profile}-{stamp}")


def _ref(outputs: dict[str, dict[str, str]], ref: str, what: str, step_id: str) -> str:
    produced = outputs.get(ref[1:], {})
    if what not in produced:
        raise ConfigError(f"step {step_id!r}: {ref!r} has no {what} (it produced: {', '.join(produced) or 'nothing'})")
    return produced[what]


def resolve_train_config(step: TrainStep, outputs: dict[str, dict[str, str]], out: Path) -> dict[str, Any]:
    """The step's config with ``@id`` references replaced and ``output_dir`` set."""
    config = deep_merge(step.config, {"output_dir": str(out / step.id)})
    model, data = config.get("model", {}), config.get("data", {})
    if is_ref(model.get("name_or_path")):
        model["name_or_path"] = _ref(outputs, model["name_or_path"], "merged", step.id)
    if is_ref(data.get("path")):
        data["path"] = _ref(outputs, data["path"], "data", step.id)
    return config


def _base_of(outputs: dict[str, dict[str, str]], ref: str, step_id: str) -> str:
    produced = outputs.get(ref[1:], {})
    return produced.get("base") or _ref(outputs, ref, "merged", step_id)


def _run_train(step: TrainStep, state: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    from prefjudge.train.dpo import train_dpo
    from prefjudge.train.sft import train_sft

    config = resolve_train_config(step, state["outputs"], state["out"])
    state["config"][step.id] = config
    cfg = config_from_dict(config, source=f"step {step.id!r} config")
    result = (train_dpo if step.kind == "dpo" else train_sft)(cfg, base_dir=base_dir)
    state["outputs"][step.id] = {"base": result.base_model, "adapter": result.adapter_path}
    return result.model_dump()


def _run_merge(step: MergeStep, state: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    from prefjudge.train.merging import merge

    outputs = state["outputs"]
    base = _base_of(outputs, step.base, step.id) if is_ref(step.base) else step.base
    adapters = [_ref(outputs, a, "adapter", step.id) if is_ref(a) else a for a in step.adapters]
    state["config"][step.id] = {**step.model_dump(), "base": base, "adapters": adapters}
    result = merge(base, adapters, state["out"] / step.id, dtype=step.dtype, check=step.check,
                   push_to_hub=step.push_to_hub, dequantize=step.dequantize)
    outputs[step.id] = {"merged": result.path, "base": base}
    return result.model_dump()


def _run_build_twin(step: BuildTwinStep, state: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    from prefjudge.recipes.llm_twin import build_llm_twin_dataset

    state["config"][step.id] = step.model_dump()
    result = build_llm_twin_dataset(
        in_recipe(step.articles, base_dir), state["out"] / step.id / "train.jsonl",
        step.generator, min_chunk_chars=step.min_chunk_chars, max_chunk_chars=step.max_chunk_chars,
        min_chosen_chars=step.min_chosen_chars)
    state["outputs"][step.id] = {"data": result["path"]}
    return result


def _run_curate(step: CurateStep, state: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    from prefjudge.recipes.steps import run_curate_step

    state["config"][step.id] = step.model_dump()
    result = run_curate_step(step, state["out"] / step.id, base_dir)
    state["outputs"][step.id] = {"data": result["path"]}
    return result


def with_judges(recipe: Recipe, judges_file: str | Path) -> Recipe:
    """The recipe with real judges from ``judges_file`` in every curate and eval step (the
    simulated generators of a curate step stay: real judges then judge simulated answers).
    A relative ``judges_file`` is relative to the current directory (it comes from the command line)."""
    path = str(cli_path(judges_file))
    steps = []
    for step in recipe.steps:
        if isinstance(step, CurateStep):
            step = step.model_copy(update={"judges_file": path})
        elif isinstance(step, EvalStep):
            step = step.model_copy(update={"jury": JurySpec(judges_file=path)})
        elif isinstance(step, IterateStep):
            step = step.model_copy(update={"judges_file": path, "simulated": None,
                                           "eval": {**step.eval, "jury": {"judges_file": path}}})
        steps.append(step)
    return recipe.model_copy(update={"steps": steps})


def read_prompts(path: Path, field: str, limit: int | None) -> list:
    """Held-out prompts from a JSONL/JSON/parquet/CSV file (``field``: a string or messages)."""
    from prefjudge.train.config import DataConfig
    from prefjudge.train.data import read_rows

    rows = read_rows(DataConfig(path=str(path), max_rows=limit))
    missing = [i for i, r in enumerate(rows) if field not in r]
    if missing:
        raise ConfigError(f"{path}: row {missing[0]} has no field {field!r} (set prompt_field)")
    return [r[field] for r in rows]


@contextlib.contextmanager
def _jury(spec: JurySpec, base_dir: Path) -> Iterator[list]:
    if spec.simulated_score is not None:
        from prefjudge.testing.jury import simulated_jury

        with simulated_jury(spec.simulated_score, noise=spec.noise) as judges:
            yield judges
        return
    yield load_judges(in_recipe(spec.judges_file or "", base_dir))


def run_eval(step: EvalStep, trained: str, base: str, out: Path, base_dir: Path) -> dict[str, Any]:
    """Evaluate ``trained`` against ``base`` as ``step`` says; write ``out/eval.json``."""
    from prefjudge.recipes.evaluation import evaluate

    prompts = read_prompts(Path(in_recipe(step.prompts, base_dir)), step.prompt_field, step.max_prompts)
    out.mkdir(parents=True, exist_ok=True)
    with _jury(step.jury, base_dir) as judges:
        result = evaluate(trained, base, prompts, judges, order=step.order, seed=step.seed,
                          max_new_tokens=step.max_new_tokens, chat_template=step.chat_template,
                          store=str(out / "store.db"), device=step.device, quantization=step.quantization,
                          batch_size=step.batch_size, temperature=step.temperature, samples=step.samples)
    saved = result.save(out)
    summary = result.model_dump(exclude={"answers"})
    summary.update(path=str(saved), simulated=step.jury.simulated_score is not None, simulated_parts=result.simulated)
    return summary


def _run_eval(step: EvalStep, state: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    outputs = state["outputs"]
    trained = _ref(outputs, step.trained, "merged", step.id) if is_ref(step.trained) else step.trained
    base = _base_of(outputs, step.base, step.id) if is_ref(step.base) else step.base
    state["config"][step.id] = {**step.model_dump(), "trained": trained, "base": base}
    return run_eval(step, trained, base, state["out"] / step.id, base_dir)


def _run_iterate(step: IterateStep, state: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    from prefjudge.recipes.iterate import run_iterate_step

    state["config"][step.id] = step.model_dump()
    result = run_iterate_step(step, state["out"] / step.id, base_dir, run_eval=run_eval, read_prompts=read_prompts)
    state["outputs"][step.id] = {"merged": result["merged_path"], "base": result["base"]}
    return result


RUNNERS = {TrainStep: _run_train, MergeStep: _run_merge, BuildTwinStep: _run_build_twin, CurateStep: _run_curate,
           EvalStep: _run_eval, IterateStep: _run_iterate}


def _summary(recipe: Recipe, profile: str, path: Path, state: dict[str, Any]) -> dict[str, Any]:
    results: dict[str, Any] = state["results"]
    kinds = {s.id: s.kind for s in recipe.steps}
    last = {k: [results[i] for i in results if kinds[i] == k]
            for k in ("dpo", "sft", "merge", "build_llm_twin", "curate", "eval", "iterate")}
    train = (last["dpo"] or last["sft"] or [None])[-1]
    summary: dict[str, Any] = {
        "simulated": simulated_run(results),  # first: what in this run was SIMULATED (None: nothing)
        "recipe": recipe.name, "profile": profile, "recipe_path": str(path), "source": recipe.source,
        "config": {"steps": [state["config"].get(s.id, s.model_dump()) for s in recipe.steps]},
        "steps": results, "train": train, "adapter_path": train["adapter_path"] if train else None,
    }
    if last["sft"] and last["dpo"]:
        summary["sft"] = last["sft"][-1]
    # over-long rows of every training step: truncated or dropped (data.too_long), counted
    summary["lengths"] = {i: r.get("lengths") for i, r in results.items() if kinds[i] in ("dpo", "sft") and isinstance(r, dict)}
    if last["merge"]:
        summary["merge"] = last["merge"][-1]
        summary["merged_path"] = last["merge"][-1]["path"]
    if last["build_llm_twin"]:
        summary["dataset"] = last["build_llm_twin"][-1]
    if last["curate"]:
        summary["curate"] = summary["dataset"] = last["curate"][-1]
    if last["eval"]:
        summary["eval"] = last["eval"][-1]
    if last["iterate"]:  # every round: pairs, training loss, merged model, win rate against round 0
        summary["iterate"] = last["iterate"][-1]
        summary.setdefault("merged_path", last["iterate"][-1]["merged_path"])
    summary["notes"] = sorted({n for r in results.values() if isinstance(r, dict) for n in r.get("notes", [])})
    return summary


def simulated_run(results: dict[str, Any]) -> dict[str, Any] | None:
    """The SIMULATED marker of the whole run (:mod:`prefjudge.simulated`): every step's, merged."""
    from prefjudge.simulated import merge

    return merge(*(r.get("simulated_parts") for r in results.values() if isinstance(r, dict)))


@contextlib.contextmanager
def cpu_threads(n: int | None) -> Iterator[None]:
    """``torch.set_num_threads(n)`` for the block (nothing when ``n`` is None)."""
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_recipe(path: str | Path, profile: str = "full", dry_run: bool = False, out: str | Path | None = None,
               *, echo=print, judges_file: str | Path | None = None) -> dict[str, Any]:
    """Run every step of a recipe under ``out`` and write ``out/run.json``; or, with
    ``dry_run``, validate, map the local samples and estimate memory without training. ``path``
    may name a built-in recipe (``"neuralhermes"``, :func:`~prefjudge.recipes.loading.find_recipe`).
    ``judges_file``: real judges for every curate and eval step (see :func:`with_judges`).

    Paths (:mod:`prefjudge.recipes.paths`): ``path``, ``out`` and ``judges_file`` are relative to the
    current directory; paths written in the recipe to the recipe's folder; ``@step`` outputs lie
    under ``out`` (default: a new ``runs/NAME-PROFILE-TIME``). An ``out`` that is a file is a
    ``ConfigError``."""
    path = cli_path(find_recipe(path))
    recipe = load_recipe(path, profile)
    if judges_file is not None:
        recipe = with_judges(recipe, judges_file)
    if dry_run:
        from prefjudge.recipes.plan import plan_recipe

        return plan_recipe(recipe, profile, path, echo=echo)
    from prefjudge.train import distributed as dist
    from prefjudge.train.runtime import peak_memory_mb

    dist.ensure_group()
    if not dist.is_main():
        echo = _quiet
    given = out
    out = dist.on_main(lambda: output_dir(given) if given else default_out(recipe.name, profile), "creating the output folder")
    state: dict[str, Any] = {"out": out, "outputs": {}, "results": {}, "config": {}}
    executed: list[str] = []
    started, status, error = time.perf_counter(), "ok", None
    try:
        with cpu_threads(recipe.cpu_threads):
            for step in recipe.steps:
                echo(f"[{recipe.name}/{profile}] step {step.id} ({step.kind})")
                state["results"][step.id] = run_step(step, state, path.parent, executed)
    except Exception as err:  # recorded in run.json, then re-raised
        status, error = "failed", f"{type(err).__name__}: {err}"
        raise
    finally:
        summary = _summary(recipe, profile, path, state)
        device = (summary.get("train") or {}).get("runtime", {}).get("device", "cpu")
        peak, kind = peak_memory_mb(device)
        summary.update(status=status, error=error, out=str(out), wall_seconds=time.perf_counter() - started,
                       peak_memory_mb=peak, peak_memory_kind=kind, cpu_threads=recipe.cpu_threads)
        summary["distributed"] = {**dist.describe(), "steps_by_rank": dict(enumerate(dist.gather(executed)))}
        if dist.is_main():  # one run.json, written once
            (out / "run.json").write_text(json.dumps(summary, indent=2, default=str))
    echo(f"[{recipe.name}/{profile}] done in {summary['wall_seconds']:.1f}s: {out / 'run.json'}")
    dist.finish()  # every process leaves together and closes the process group (no abort at exit)
    return summary


def _quiet(_: str) -> None:
    """The echo of the processes other than the main one."""


def run_step(step: Any, state: dict[str, Any], base_dir: Path, executed: list[str]) -> dict[str, Any]:
    """Run one step. Under a multi-process launch (:mod:`prefjudge.train.distributed`) a training step
    runs on every process (the trainer shares the work and saves once); every other step (merge,
    curate, build, eval) runs on the main process only, the others waiting for its result, and every
    process then records the step's outputs, so the next steps find the same paths everywhere."""
    from prefjudge.train import distributed as dist

    runner = RUNNERS[type(step)]
    if isinstance(step, TrainStep):
        executed.append(step.id)
        return runner(step, state, base_dir)

    def once() -> tuple[dict[str, Any], Any, Any]:
        executed.append(step.id)
        result = runner(step, state, base_dir)
        return result, state["outputs"].get(step.id), state["config"].get(step.id)

    result, produced, config = dist.on_main(once, f"step {step.id!r}")
    if produced is not None:
        state["outputs"][step.id] = produced
    if config is not None:
        state["config"][step.id] = config
    return result
