"""``--dry-run`` of a ``curate`` step: validate offline, count the prompts, plan the calls, list the keys.

Nothing is called: the judges file is read and every judge and generator setting validated, the
local prompts file is counted, and the plan says how many candidates and judge calls the step will
make at most and which API key variables the hosted models need (and whether they are set).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prefjudge.recipes.schema import CurateStep

#: litellm model prefix -> the environment variable it reads the key from.
PROVIDER_KEYS = {"anthropic/": "ANTHROPIC_API_KEY", "gemini/": "GEMINI_API_KEY", "mistral/": "MISTRAL_API_KEY",
                 "groq/": "GROQ_API_KEY", "together_ai/": "TOGETHERAI_API_KEY", "cohere/": "COHERE_API_KEY",
                 "openai/": "OPENAI_API_KEY", "deepseek/": "DEEPSEEK_API_KEY"}


def key_note(spec: dict[str, Any]) -> str:
    """Where a judge's or generator's credentials come from (no value is ever read or printed)."""
    named = spec.get("api_key_env")
    if named:
        where = f"server at {spec['base_url']}, key from " if spec.get("base_url") else ""
        return f"{where}{named} ({'set' if os.environ.get(named) else 'NOT set'})"
    if spec.get("base_url"):
        return f"server at {spec['base_url']}"
    model, backend = str(spec.get("model", "")), spec.get("backend", "openai")
    var = "OPENAI_API_KEY" if backend == "openai" else next(
        (v for prefix, v in PROVIDER_KEYS.items() if model.startswith(prefix)), None)
    if var is None:
        return "key from the provider's variable (litellm)"
    return f"{var} ({'set' if os.environ.get(var) else 'NOT set'})"


def _models(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Name, model, backend and credentials of each generator or judge entry; a ``kind: reward_model``
    judges entry is a local reward model: its path, no endpoint and no key."""
    from prefjudge.judging.judges_file import is_reward_model, judge_name

    return [{"name": judge_name(s), "kind": "reward_model", "model": s.get("path"), "path": s.get("path"),
             "backend": "local reward model", "credentials": "none (scores locally, no remote call)"}
            if is_reward_model(s) else
            {"name": s.get("name") or s.get("model"), "model": s.get("model"), "backend": s.get("backend", "openai"),
             "credentials": key_note(s)} for s in specs]


def remote_judges(judges: list[dict[str, Any]]) -> int:
    """The judges of a plan that call an endpoint (a local reward model makes no remote call)."""
    return sum(1 for j in judges if j.get("kind") != "reward_model")


def judge_calls_at_most(n_prompts: int, comparisons: int, judges: list[dict[str, Any]], order: str,
                        strategy: str) -> int:
    """Remote judge calls at most: each comparison (or rating) of each prompt asked of each judge that
    calls an endpoint, twice with ``order="both"`` (a rating shows one answer: once)."""
    orders = 2 if order == "both" and strategy != "rating" else 1
    return n_prompts * comparisons * remote_judges(judges) * orders


def comparisons_per_prompt(strategy: str, n: int, budget: int | None) -> int:
    """At most this many comparisons per prompt of ``n`` candidates, each asked of every judge (with
    ``strategy="rating"``: ``n`` ratings per judge, one per candidate).

    >>> comparisons_per_prompt("round_robin", 12, None), comparisons_per_prompt("adaptive", 12, None)
    (66, 24)
    >>> comparisons_per_prompt("rating", 12, None)
    12
    """
    if strategy == "round_robin":
        return n * (n - 1) // 2
    if strategy == "rating":
        return n
    return budget or 2 * n


def _n_prompts(cfg) -> int | None:
    inp = cfg.input
    if isinstance(inp.prompts, list):
        n = len(inp.prompts)
    elif inp.prompts and Path(inp.prompts).is_file():
        from prefjudge.io import read_table

        n = len(read_table(inp.prompts))
    else:
        return None
    return min(n, inp.limit) if inp.limit else n


def plan_curate(step: CurateStep, base_dir: Path) -> dict[str, Any]:
    """The dry-run plan of a curate step (raises ``ConfigError`` naming the field on a bad config)."""
    from prefjudge.judging.judges_file import read_judge_specs
    from prefjudge.recipes.steps import check_curate_step, sim_parts

    cfg = check_curate_step(step, f"step {step.id!r} config", base_dir)
    real = read_judge_specs(_resolve(step.judges_file, base_dir)) if step.judges_file else None
    if step.simulated is not None:
        sim_gens, sim_judges = sim_parts(step.simulated)
        generators = [{"name": g.name, "model": g.name, "backend": "SIMULATED", "credentials": "in-process SimServer"}
                      for g in sim_gens]
        judges = _models(real) if real else [{"name": j.name, "model": j.name, "backend": "SIMULATED",
                                              "credentials": "in-process SimServer"} for j in sim_judges]
    else:
        generators, judges = _models(cfg.generators), _models(real or cfg.judges)
    per_prompt = len(generators) * cfg.generate.n if cfg.input.kind == "prompts" else None
    comparisons = comparisons_per_prompt(cfg.rank.strategy, per_prompt, cfg.rank.budget) if per_prompt else None
    n_prompts = _n_prompts(cfg) if cfg.input.kind == "prompts" else None
    calls = None
    if n_prompts and comparisons:
        calls = {"generate": n_prompts * per_prompt,
                 "judge_at_most": judge_calls_at_most(n_prompts, comparisons, judges, cfg.rank.order, cfg.rank.strategy)}
    return {"id": step.id, "kind": "curate", "input": {"kind": cfg.input.kind, "source": getattr(cfg.input, cfg.input.kind),
                                                     "n_prompts": n_prompts},
            "generators": generators, "judges": judges, "simulated": step.simulated is not None,
            "simulated_score": step.simulated.score if step.simulated else None,
            "candidates_per_prompt": per_prompt, "comparisons_per_prompt": comparisons, "calls": calls,
            "rank": cfg.rank.model_dump(exclude={"store"}), "preferences": cfg.preferences.model_dump(),
            "filters": cfg.filters.model_dump(exclude_defaults=True),
            "dedup": cfg.dedup.model_dump() if cfg.dedup else None, "decontaminate": bool(cfg.decontaminate),
            "output": {"format": cfg.output.format, "push": cfg.push.repo_id if cfg.push else None},
            "audit": step.audit}


def _resolve(value: str, base_dir: Path) -> Path:
    """A path written in the recipe (relative to its folder, ``base_dir``), absolute."""
    from prefjudge.recipes.paths import in_recipe

    return Path(in_recipe(value, base_dir))


def format_curate(s: dict[str, Any]) -> list[str]:
    """Readable lines of a curate step's plan."""
    def names(models: list[dict]) -> str:
        return ", ".join(f"{m['name']} [{m['credentials']}]" for m in models)

    inp, p = s["input"], s["preferences"]
    lines = [f"    input: {inp['n_prompts'] if inp['n_prompts'] is not None else '?'} {inp['kind']} from {inp['source']}"]
    if s["candidates_per_prompt"]:
        lines.append(f"    generate: {s['candidates_per_prompt']} candidates per prompt from {names(s['generators'])}")
    tag = " SIMULATED" if all(j["backend"] == "SIMULATED" for j in s["judges"]) else ""
    per = s["comparisons_per_prompt"]
    per_text = ("" if not per else f", {per} ratings per prompt and judge" if s["rank"]["strategy"] == "rating"
                else f", at most {per} comparisons per prompt")
    lines.append(f"    jury{tag}: {names(s['judges'])}; order {s['rank']['order']}, strategy {s['rank']['strategy']}"
                 + per_text)
    if s["calls"]:
        local = any(j.get("kind") == "reward_model" for j in s["judges"])
        lines.append(f"    calls: {s['calls']['generate']} generations, at most {s['calls']['judge_at_most']} judge calls"
                     + (" (reward models score locally: no remote call)" if local else ""))
    if s["simulated"]:
        lines.append(f"    SIMULATED world: latent quality = {s['simulated_score']}")
    lines.append(f"    curate: min_margin {p['min_margin']}, min_agreement {p['min_agreement']}, drop ties {p['drop_ties']}, "
                 f"length balance {p['length_balance']}, dedup {s['dedup']}, filters {s['filters'] or 'none'}, "
                 f"format {p['format']}")
    lines.append(f"    export: {s['output']['format']}, audit {', '.join(s['audit']) or 'none'}"
                 + (f", push to {s['output']['push']}" if s["output"]["push"] else ""))
    return lines
