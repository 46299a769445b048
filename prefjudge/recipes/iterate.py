"""The ``iterate`` recipe step: on-policy iterative DPO.

With ``warm_start``, an SFT run first makes the base a chat model (merged: round 0's policy and the
model every round is judged against). Then, for each round ``r`` of ``rounds``:

1. the current policy (round 0: the base model of ``train.model``, or the warm start; then round ``r-1``'s merged
   model) answers every training prompt ``n`` times (``prefjudge.generate`` through the
   transformers backend on the policy's folder, or an OpenAI-compatible server such as vLLM:
   ``policy: {backend: openai, base_url: ..., model: "{policy}"}``, optionally started per round
   with ``serve``);
2. the jury ranks each prompt's answers (``rank_responses``, seeded random order) and
   ``to_preferences`` keeps best vs worst with the step's filters, agreement threshold and
   length balance; the pairs are exported (with the audit) under ``OUT/<id>/round-r/curate``;
3. QLoRA/LoRA DPO trains from the current policy on those pairs (its reference: the policy);
4. the adapter is merged into the policy: the merged model is the next round's policy;
5. the merged model is judged against round 0's base on held-out prompts (random order).

The step's result (``run.json``'s ``iterate``) lists every round: its policy, the pairs made
(rows after each curation step, length balance, the latent score of chosen and rejected answers
in a simulated world), the training loss (first and last logged), the adapter and merged paths,
and the judged win rate against the base with its CI.
"""

from __future__ import annotations

import contextlib
import copy
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prefjudge.errors import ConfigError
from prefjudge.recipes.schema import CurateStep, EvalStep, IterateStep, deep_merge

POLICY = "{policy}"
#: CurateConfig sections the step sets itself each round.
OWN_SECTIONS = ("input", "generators", "judges")


def eval_step(step: IterateStep) -> EvalStep:
    """The step's ``eval`` block as an eval step (``trained``/``base`` are filled per round)."""
    from pydantic import ValidationError

    from prefjudge.config_files import format_errors

    try:
        return EvalStep.model_validate({"id": f"{step.id}-eval", "kind": "eval", "trained": "@round",
                                        "base": "@base", **step.eval})
    except ValidationError as err:
        raise ConfigError(format_errors(err, f"invalid step {step.id!r}", ("eval",))) from None


def curate_step(step: IterateStep, prompts: str | None = None) -> CurateStep:
    """A curate step of one round: the policy's answers to ``prompts`` judged by the step's jury."""
    taken = set(step.curate) & set(OWN_SECTIONS)
    if taken:
        raise ConfigError(f"step {step.id!r}: field 'curate.{sorted(taken)[0]}' is set by the step each round")
    config = deep_merge({"rank": {"strategy": "knockout", "order": "random"},
                         "generate": {"n": step.n, "temperature": step.temperature, "max_tokens": step.max_tokens,
                                      "seed": step.seed},
                         "output": {"format": "jsonl"}}, step.curate)
    config["input"] = {"prompts": prompts or "prompts.jsonl"}
    config["generators"] = [policy_generator(step, POLICY, 0)]
    return CurateStep(id="curate", kind="curate", config=config, judges_file=step.judges_file,
                      simulated=step.simulated, audit=["json"])


def policy_generator(step: IterateStep, policy: str, round_no: int) -> dict[str, Any]:
    """The generator settings of round ``round_no``'s policy."""
    spec = copy.deepcopy(step.policy)
    model = spec.get("model")
    spec["model"] = policy if model is None else str(model).replace(POLICY, policy)
    spec.setdefault("name", f"policy-round-{round_no}")
    return spec


def base_train_config(step: IterateStep, data: str = "@round"):
    """The step's ``TrainConfig`` with a round's pairs as ``data.path`` (by default ``@round``, a
    placeholder: the pairs exist once the round has curated them)."""
    from prefjudge.train.config import config_from_dict

    return config_from_dict(deep_merge(step.train, {"data": {"path": data}}),
                            source=f"step {step.id!r}, field 'train'")


#: ``train`` sections a warm start inherits unless it sets them.
WARM_START_INHERITS = ("model", "quantization", "lora", "device")


def warm_start_config(step: IterateStep, output_dir: str = "@warm_start"):
    """The warm start's SFT ``TrainConfig`` (None without one): its own sections over the
    ``train`` sections it inherits (:data:`WARM_START_INHERITS`)."""
    from prefjudge.train.config import config_from_dict

    if step.warm_start is None:
        return None
    if "dpo" in step.warm_start or "trainer" in step.warm_start:
        raise ConfigError(f"step {step.id!r}: field 'warm_start' is an SFT config (its settings go under 'sft')")
    inherited = {k: copy.deepcopy(step.train[k]) for k in WARM_START_INHERITS if k in step.train}
    return config_from_dict(deep_merge(deep_merge(inherited, step.warm_start), {"output_dir": output_dir}),
                            source=f"step {step.id!r}, field 'warm_start'")


def run_warm_start(step: IterateStep, out: Path, base_dir: Path, echo=print) -> dict[str, Any]:
    """SFT (``warm_start``) and merge: the merged model is round 0's policy."""
    from prefjudge.train.merging import merge
    from prefjudge.train.sft import train_sft

    cfg = warm_start_config(step, str(out / "sft"))
    echo(f"  warm start: SFT of {cfg.model.name_or_path or 'the tiny model'} on {cfg.data.path or cfg.data.hub_id}")
    result = train_sft(cfg, base_dir=base_dir)
    merged = merge(result.base_model, [result.adapter_path], out / "merged", dtype=step.merge_dtype,
                   check=step.merge_check)
    return {"trained_from": result.base_model, "rows": result.rows, "train": _loss(result.history),
            "adapter_path": result.adapter_path, "merged_path": merged.path,
            "merge": {"max_abs_logit_diff": merged.max_abs_logit_diff}}


def check_iterate_step(step: IterateStep, where: str) -> None:
    """Validate offline: the training config, the per-round curate config, the eval block."""
    from prefjudge.curate.generator import Generator
    from prefjudge.recipes.steps import curate_config_dict, resolve_score, sim_parts, validate_curate_config

    base_train_config(step)
    warm_start_config(step)
    if (step.train.get("trainer") or "dpo") != "dpo":
        raise ConfigError(f"{where}: field 'train.trainer': the iterate step trains DPO")
    cstep = curate_step(step)
    if step.simulated is not None:
        resolve_score(step.simulated.score)
        sim_parts(step.simulated)
    config = curate_config_dict(cstep, Path("OUT"), Path("."), [{"model": "placeholder"}],
                                [policy_generator(step, "/policy", 0)])
    validate_curate_config(config, f"{where}, field 'curate'")
    eval_step(step)
    try:
        Generator(**policy_generator(step, "/policy", 0))
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: field 'policy': {err}") from None
    if step.serve is not None and not step.policy.get("base_url"):
        raise ConfigError(f"{where}: field 'serve' needs policy.base_url (where the started server answers)")


@contextlib.contextmanager
def served(step: IterateStep, policy: str, log: Path) -> Iterator[None]:
    """Start ``step.serve`` for ``policy`` (when set), wait until ``policy.base_url``/models answers,
    stop it (by its process id) when the block ends."""
    if step.serve is None:
        yield
        return
    command = [part.replace(POLICY, policy) for part in step.serve]
    url = str(step.policy["base_url"]).rstrip("/") + "/models"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + step.serve_timeout
            while True:
                if proc.poll() is not None:
                    raise ConfigError(f"step {step.id!r}: the serve command {command} exited with {proc.returncode} "
                                      f"before {url} answered (its output: {log})")
                try:
                    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 (a local server)
                        if resp.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise ConfigError(f"step {step.id!r}: {url} did not answer within {step.serve_timeout:g}s "
                                      f"of {command} (its output: {log})")
                time.sleep(0.5)
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _write_prompts(step: IterateStep, base_dir: Path, out: Path, read_prompts) -> str:
    from prefjudge.io import write_table
    from prefjudge.recipes.paths import in_recipe

    prompts = read_prompts(Path(in_recipe(step.prompts, base_dir)), step.prompt_field, step.max_prompts)
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    return str(write_table(pd.DataFrame({"prompt": prompts}), out / "prompts.jsonl"))


@contextlib.contextmanager
def _judges(step: IterateStep, base_dir: Path) -> Iterator[list[dict[str, Any]]]:
    """The jury's settings: real judges from ``judges_file`` or the simulated judges on a loopback server."""
    from prefjudge.judging.judges_file import read_judge_specs
    from prefjudge.recipes.paths import in_recipe

    if step.simulated is None:
        yield read_judge_specs(Path(in_recipe(step.judges_file or "", base_dir)))
        return
    from prefjudge.recipes.steps import simulated_world

    with simulated_world(step.simulated) as (_, judges):
        yield judges


def _loss(history: list[dict[str, Any]]) -> dict[str, Any]:
    losses = [h["loss"] for h in history if "loss" in h]
    margins = [h["rewards/margins"] for h in history if "rewards/margins" in h]
    return {"first": losses[0] if losses else None, "last": losses[-1] if losses else None,
            "rewards_margins_last": margins[-1] if margins else None}


def run_round(step: IterateStep, r: int, policy: str, base: str, prompts: str, judges: list[dict[str, Any]],
              out: Path, base_dir: Path, run_eval) -> dict[str, Any]:
    """One round from ``policy``; returns its record (see the module docstring). ``run_eval``: the
    eval step's runner (:func:`prefjudge.recipes.runner.run_eval`)."""
    from prefjudge.recipes.steps import (
        curate,
        curate_config_dict,
        export_curated,
        latent_scores,
        summarize_curation,
        validate_curate_config,
    )
    from prefjudge.simulated import marker
    from prefjudge.train.config import config_from_dict
    from prefjudge.train.dpo import train_dpo
    from prefjudge.train.merging import merge

    rdir = out / f"round-{r}"
    gen = policy_generator(step, policy, r)
    cstep = curate_step(step, prompts)
    config = curate_config_dict(cstep, rdir / "curate", base_dir, judges, [gen])
    cfg = validate_curate_config(config, f"step {step.id!r}, round {r}, field 'curate'")
    sim = marker(judges=[j.get("name") or j.get("model") for j in cfg.judges], generators=[]) if step.simulated else None
    _seed(step.seed + r)
    with served(step, policy, rdir / "serve.log"):
        ranked, prefs = curate(cfg, sim)
    export_dir, report, audit_paths = export_curated(cfg, ranked, prefs, rdir / "curate", cstep.audit)
    pairs = summarize_curation(cfg, ranked, prefs, export_dir, report, audit_paths)
    pairs["simulated_parts"] = sim
    if step.simulated is not None:
        pairs["latent_score"] = latent_scores(prefs, step.simulated.score)
        pairs["policy_latent_score"] = policy_score(ranked, step.simulated.score)
    record: dict[str, Any] = {"round": r, "policy": policy, "generator": gen.get("name"), "pairs": len(prefs),
                              "curate": pairs}
    if not len(prefs):
        raise ConfigError(f"step {step.id!r}, round {r}: curation kept no pair to train on "
                          f"(rows after each step: {pairs['rows']})")
    train = deep_merge(step.train, {"output_dir": str(rdir / "dpo"), "data": {"path": pairs["data_files"][0]}})
    train["model"] = {**{k: v for k, v in train.get("model", {}).items() if k != "tiny"}, "name_or_path": policy}
    result = train_dpo(config_from_dict(train, source=f"step {step.id!r}, round {r}, field 'train'"), base_dir=base_dir)
    record.update(train=_loss(result.history), train_rows=result.rows, adapter_path=result.adapter_path,
                  trained_from=result.base_model)
    merged = merge(result.base_model, [result.adapter_path], rdir / "merged", dtype=step.merge_dtype,
                   check=step.merge_check)
    record.update(merged_path=merged.path, merge={"max_abs_logit_diff": merged.max_abs_logit_diff})
    ev = eval_step(step)
    summary = run_eval(ev, merged.path, base, rdir / "eval", base_dir)
    record["eval"] = {k: summary[k] for k in ("win_rate", "lc_win_rate", "outcomes", "mean_length", "decoding", "path")}
    record["win_rate_vs_base"] = summary["win_rate"]["value"]
    if ev.jury.simulated_score is not None:  # the simulated world's truth about both models' answers
        record["eval"]["latent_score"] = eval_latent_score(summary["path"], ev.jury.simulated_score)
    record["simulated_parts"] = summary.get("simulated_parts")
    return record


def eval_latent_score(eval_json: str, score: str) -> dict[str, Any]:
    """Mean latent score (``score``, the simulated judges' truth) of the trained and base answers."""
    import json

    from prefjudge.recipes.steps import resolve_score

    fn = resolve_score(score, "eval.jury.simulated_score")
    answers = json.loads(Path(eval_json).read_text())["answers"]

    def mean(side: str) -> float | None:
        values = [float(fn(str(a["prompt"]), a[side])) for a in answers]
        return sum(values) / len(values) if values else None

    return {"score": score, "n": len(answers), "trained_mean": mean("trained"), "base_mean": mean("base")}


def policy_score(ranked, score: str) -> float | None:
    """Mean latent score of every answer the round's policy sampled (the simulated world's truth)."""
    from prefjudge.recipes.steps import resolve_score

    fn = resolve_score(score)
    items = getattr(ranked, "items", None)  # a RatingResult: one row per answer
    answers = (zip(items["prompt"], items["response"]) if items is not None else
               ((g.prompt, text) for g in getattr(ranked, "groups", None) or [] for text in g.responses))
    values = [float(fn(str(prompt), str(text))) for prompt, text in answers]
    return sum(values) / len(values) if values else None


def _seed(seed: int) -> None:
    """Seed torch's sampling (the transformers backend samples from the global generator)."""
    import torch

    torch.manual_seed(seed)


def run_iterate_step(step: IterateStep, out: Path, base_dir: Path, *, run_eval, read_prompts,
                     echo=print) -> dict[str, Any]:
    """Run every round under ``out``; return the ``iterate`` entry of ``run.json``. ``run_eval`` and
    ``read_prompts``: the runner's (:mod:`prefjudge.recipes.runner`, which calls this)."""
    from prefjudge.simulated import merge as merge_markers
    from prefjudge.train.runtime import resolve_model_path

    warm = run_warm_start(step, out / "warm-start", base_dir, echo) if step.warm_start is not None else None
    base = warm["merged_path"] if warm else resolve_model_path(base_train_config(step).model)
    prompts = _write_prompts(step, base_dir, out, read_prompts)
    rounds: list[dict[str, Any]] = []
    policy = base
    with _judges(step, base_dir) as judges:
        for r in range(step.rounds):
            echo(f"  round {r}: policy {policy}")
            record = run_round(step, r, policy, base, prompts, judges, out, base_dir, run_eval)
            echo(f"  round {r}: {record['pairs']} pairs, loss {record['train']['first']} -> "
                 f"{record['train']['last']}, win rate vs base {record['win_rate_vs_base']}")
            rounds.append(record)
            policy = record["merged_path"]
    parts = [r.pop("simulated_parts") for r in rounds]
    return {"base": base, "warm_start": warm, "rounds": rounds, "merged_path": policy,
            "win_rate_vs_base": [r["win_rate_vs_base"] for r in rounds],
            "pairs": [r["pairs"] for r in rounds],
            "simulated": step.simulated is not None,
            "simulated_parts": merge_markers(*parts, *(r["curate"].get("simulated_parts") for r in rounds))}
