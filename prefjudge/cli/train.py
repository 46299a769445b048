"""Command line for training: a typer app mounted as ``prefjudge train`` (plus top-level
``prefjudge merge``, ``prefjudge eval`` and ``prefjudge recipe run``).

    prefjudge train dpo config.yaml [--out DIR]
    prefjudge train sft config.yaml
    prefjudge train memory config.yaml [--method sft]
    prefjudge merge BASE ADAPTER [ADAPTER...] --out DIR [--dtype float16]
    prefjudge eval TRAINED BASE --prompts prompts.jsonl (--judges-file judges.yaml | --simulated-score mod:fn)
    prefjudge recipe list                      # the built-in recipes, with one line each
    prefjudge recipe show judges > judges.yaml # print a built-in file (here: the example judges file)
    prefjudge recipe run neuralhermes [--smoke | --dry-run] [--out DIR]   # a built-in name or a file

Thin: parses, calls ``prefjudge.train``, prints. Errors print one line and exit with code 2
(``prefjudge.cli.common.fail``, imported inside the commands: ``prefjudge.cli`` imports this module).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from prefjudge.errors import PrefjudgeError

app = typer.Typer(help="QLoRA DPO/SFT with TRL, merge, evaluate, recipes.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
recipe_app = typer.Typer(help="List, show and run recipes (built-in by name, or a YAML file).", no_args_is_help=True,
                         add_completion=False, pretty_exceptions_enable=False)
app.add_typer(recipe_app, name="recipe")


def _train(method: str, config: Path, out: Optional[Path]) -> None:
    from prefjudge.cli.common import fail
    from prefjudge.train.config import load_config

    try:
        cfg = load_config(config)
        if out is not None:
            cfg = cfg.model_copy(update={"output_dir": str(out)})
        if method == "dpo":
            from prefjudge.train.dpo import train_dpo as run
        else:
            from prefjudge.train.sft import train_sft as run
        result = run(cfg, base_dir=config.parent)
    except PrefjudgeError as exc:
        raise fail(exc) from exc
    path = Path(cfg.output_dir) / "train.json"
    path.write_text(json.dumps(result.model_dump(), indent=2))
    for note in result.notes:
        typer.secho(f"note: {note}", fg="yellow")
    last = result.history[-1] if result.history else {}
    typer.echo(f"rows {result.rows}; last logged step: "
               + ", ".join(f"{k}={v:.4g}" for k, v in last.items() if k != "epoch"))
    typer.echo(f"adapter: {result.adapter_path}\nresult:  {path}")


@app.command("dpo")
def dpo_command(config: Path = typer.Argument(..., help="Training config (YAML)."),
                out: Optional[Path] = typer.Option(None, help="Output folder (overrides output_dir).")) -> None:
    """LoRA/QLoRA DPO from a YAML config; writes the adapter and OUT/train.json."""
    _train("dpo", config, out)


@app.command("sft")
def sft_command(config: Path = typer.Argument(..., help="Training config (YAML)."),
                out: Optional[Path] = typer.Option(None, help="Output folder (overrides output_dir).")) -> None:
    """LoRA/QLoRA SFT from a YAML config; writes the adapter and OUT/train.json."""
    _train("sft", config, out)


@app.command("memory")
def memory_command(config: Path = typer.Argument(..., help="Training config (YAML)."),
                   method: str = typer.Option("dpo", help="dpo or sft.")) -> None:
    """Estimate peak GPU memory of a config and list the GPUs it fits."""
    from prefjudge.cli.common import fail
    from prefjudge.train.config import load_config
    from prefjudge.train.memory import estimate_memory

    try:
        est = estimate_memory(load_config(config), method=method)  # type: ignore[arg-type]
    except PrefjudgeError as exc:
        raise fail(exc) from exc
    for name, gb in est.components_gb.items():
        typer.echo(f"  {name:<18} {gb:8.2f} GiB")
    typer.echo(f"  {'total':<18} {est.total_gb:8.2f} GiB -> fits: {', '.join(est.fits) or 'none of the listed GPUs'}")


def merge_command(base: str = typer.Argument(..., help="Base model (Hub id or folder)."),
                  adapters: list[str] = typer.Argument(..., help="Adapter folder(s), merged in this order."),
                  out: Path = typer.Option(..., help="Folder for the merged model and tokenizer."),
                  dtype: str = typer.Option("float16", help="float16, bfloat16 or float32."),
                  check: bool = typer.Option(True, help="Compare merged vs base+adapter logits."),
                  push_to_hub: Optional[str] = typer.Option(None, help="Push the merged model to this repo.")) -> None:
    """Merge one adapter, or a chain (SFT then DPO), into the base and check the logits."""
    from prefjudge.cli.common import fail
    from prefjudge.train.merging import merge

    try:
        result = merge(base, adapters, out, dtype=dtype, check=check, push_to_hub=push_to_hub)  # type: ignore[arg-type]
    except PrefjudgeError as exc:
        raise fail(exc) from exc
    typer.echo(f"merged: {result.path} (max |logit diff| {result.max_abs_logit_diff}, tolerance {result.tolerance})")


def eval_command(trained: str = typer.Argument(..., help="Merged model folder, or an adapter folder."),
                 base: str = typer.Argument(..., help="The base model to compare with."),
                 prompts: Path = typer.Option(..., help="Held-out prompts (JSONL with a `prompt` field)."),
                 judges_file: Optional[Path] = typer.Option(None, help="YAML list of prefjudge.Judge settings."),
                 simulated_score: Optional[str] = typer.Option(None, help="SIMULATED jury: module:function score."),
                 out: Path = typer.Option(Path("runs/eval"), help="Folder for eval.json."),
                 max_new_tokens: int = typer.Option(128), seed: int = typer.Option(0)) -> None:
    """Judge the trained model's answers against the base's (random order): win rate, LC win rate, lengths."""
    from prefjudge.cli.common import fail
    from prefjudge.recipes.runner import run_eval
    from prefjudge.recipes.schema import EvalStep

    try:
        step = EvalStep(id="eval", kind="eval", trained=trained, base=base, prompts=str(prompts.resolve()),
                        max_new_tokens=max_new_tokens, seed=seed,
                        jury={"judges_file": str(judges_file.resolve()) if judges_file else None,
                              "simulated_score": simulated_score})
        out.mkdir(parents=True, exist_ok=True)
        summary = run_eval(step, trained, base, out, Path.cwd())
    except (PrefjudgeError, ValueError) as exc:
        raise fail(exc) from exc
    if summary["simulated"]:
        typer.secho("SIMULATED jury: verdicts are not from real LLMs", fg="yellow")
    wr, lc = summary["win_rate"], summary["lc_win_rate"]
    typer.echo(f"win rate {wr['value']} (95% CI {wr['ci']}, n={wr['n']}); length-controlled {lc['value']} "
               f"({lc.get('reason') or lc['ci']}); mean length {summary['mean_length']}")
    typer.echo(f"result: {summary['path']}")


@recipe_app.command("run")
def recipe_run_command(recipe: Path = typer.Argument(..., help="A recipe YAML file, or a built-in recipe's name."),
                       smoke: bool = typer.Option(False, "--smoke", help="Tiny local model, local data, CPU."),
                       profile: Optional[str] = typer.Option(None, help="Profile name (default full; --smoke = smoke)."),
                       dry_run: bool = typer.Option(False, "--dry-run", help="Validate, map samples, estimate memory."),
                       out: Optional[Path] = typer.Option(None, help="Output folder (default runs/NAME-PROFILE-TIME)."),
                       judges_file: Optional[Path] = typer.Option(
                           None, help="YAML list of judges for the curate and eval steps (replaces a simulated jury)."),
                       as_json: bool = typer.Option(False, "--json", help="Print the result as JSON.")) -> None:
    """Run a recipe end to end (writes OUT/run.json), or plan it with --dry-run."""
    from prefjudge.cli.common import fail
    from prefjudge.recipes.runner import run_recipe

    chosen = profile or ("smoke" if smoke else "full")
    try:
        result = run_recipe(recipe, profile=chosen, dry_run=dry_run, out=out, judges_file=judges_file,
                            echo=(lambda _: None) if as_json else typer.echo)
    except PrefjudgeError as exc:
        raise fail(exc) from exc
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=str))
    elif not dry_run:
        _print_run(result)


@recipe_app.command("list")
def recipe_list_command() -> None:
    """The built-in recipes: name and one line of description; then the other built-in files."""
    import textwrap

    import yaml

    from prefjudge.recipes.loading import BUILTIN_DIR, BUILTIN_EXTRAS, builtin_recipes

    recipes = builtin_recipes()
    width = max(len(n) for n in [*recipes, *BUILTIN_EXTRAS])
    for name, path in recipes.items():
        try:
            description = str(yaml.safe_load(path.read_text(encoding="utf-8")).get("description") or "")
        except (OSError, yaml.YAMLError, AttributeError) as exc:
            description = f"(unreadable: {exc})"
        typer.echo(f"{name:<{width}}  {textwrap.shorten(description, 100, placeholder='...')}")
    for name, note in BUILTIN_EXTRAS.items():
        typer.echo(f"{name:<{width}}  {note}")
    typer.echo(f"\nin {BUILTIN_DIR}; run one with: prefjudge recipe run NAME --dry-run | --smoke")


@recipe_app.command("show")
def recipe_show_command(name: str = typer.Argument(..., help="A built-in recipe's name, or judges.")) -> None:
    """Print a built-in file as it is (copy it with: prefjudge recipe show NAME > NAME.yaml)."""
    from prefjudge.cli.common import fail
    from prefjudge.errors import ConfigError
    from prefjudge.recipes.loading import BUILTIN_DIR, BUILTIN_EXTRAS, builtin_recipes

    files = {**builtin_recipes(), **{k: BUILTIN_DIR / f"{k}.yaml" for k in BUILTIN_EXTRAS}}
    if name not in files:
        raise fail(ConfigError(f"no built-in file {name!r}; built-in: {', '.join(files)} (prefjudge recipe list)"))
    typer.echo(files[name].read_text(encoding="utf-8"), nl=False)


def _print_run(run: dict) -> None:
    train = run.get("train") or {}
    if train.get("history"):
        last = train["history"][-1]
        typer.echo(f"train: step {last['step']}, loss {last['loss']:.4f}, "
                   f"margins {last.get('rewards/margins', float('nan')):.3f}, "
                   f"accuracies {last.get('rewards/accuracies', float('nan')):.2f}")
    for key, label in (("adapter_path", "adapter"), ("merged_path", "merged")):
        if run.get(key):
            typer.echo(f"{label}: {run[key]}")
    if run.get("merge"):
        typer.echo(f"merge check: max |logit diff| {run['merge']['max_abs_logit_diff']}")
    if run.get("eval"):
        ev = run["eval"]
        tag = " (SIMULATED jury)" if ev.get("simulated") else ""
        typer.echo(f"eval{tag}: win rate {ev['win_rate']['value']} CI {ev['win_rate']['ci']} n={ev['win_rate']['n']}")
    for note in run.get("notes", []):
        typer.secho(f"note: {note}", fg="yellow")
    typer.echo(f"run.json: {Path(run['out']) / 'run.json'}")


app.command("merge")(merge_command)
app.command("eval")(eval_command)
