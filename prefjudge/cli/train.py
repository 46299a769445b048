"""Command line for training: a typer app mounted as ``prefjudge train`` (plus top-level
``prefjudge merge``, ``prefjudge eval`` and ``prefjudge recipe run``).

    prefjudge train dpo config.yaml [--out DIR] [--set dpo.beta=0.2] [--beta 0.2] [--dry-run]
    prefjudge train sft config.yaml
    prefjudge train run trl_dpo.yaml --beta 0.2 --set lora.r=32   # prefjudge's YAML or TRL's flat `trl dpo` one
    prefjudge train memory config.yaml [--method sft] [--hidden-size H --layers L --params N ...]
    prefjudge train unpair pairs.jsonl --out kto.jsonl   # prompt/completion/label rows for KTO
    prefjudge merge BASE ADAPTER [ADAPTER...] --out DIR [--dtype float16]
    prefjudge eval TRAINED BASE --prompts prompts.jsonl (--judges-file judges.yaml | --simulated-score mod:fn)
    prefjudge recipe list                      # the built-in recipes, with one line each
    prefjudge recipe show judges > judges.yaml # print a built-in file (here: the example judges file)
    prefjudge recipe run neuralhermes [--smoke | --dry-run] [--out DIR]   # a built-in name or a file

Thin: parses, calls ``prefjudge.train``, prints. Errors print one line and exit with code 2
(``prefjudge.cli.common.user_errors``, imported inside the commands: ``prefjudge.cli`` imports this module).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from prefjudge.errors import PrefjudgeError

app = typer.Typer(help="QLoRA DPO/SFT with TRL, merge, evaluate, recipes.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
recipe_app = typer.Typer(help="List, show and run recipes (built-in by name, or a YAML file).", no_args_is_help=True,
                         add_completion=False, pretty_exceptions_enable=False)
app.add_typer(recipe_app, name="recipe")


TRAIN_CONTEXT = {"allow_extra_args": True, "ignore_unknown_options": True}
SET_HELP = "Override a field: --set dpo.beta=0.2 (repeatable; the value is read as YAML). TRL-style flags " \
           "(--beta 0.2 --lora_r 32) work too."


def _train(method: str, config: Path, out: Optional[Path], sets: list[str] | None = None,
           extra: list[str] | None = None, dry_run: bool = False) -> None:
    from prefjudge.cli.common import user_errors
    from prefjudge.train import distributed as dist
    from prefjudge.train.trl_config import load_training_config, parse_flags

    with user_errors():
        cfg, notes = load_training_config(config, sets=list(sets or []), flags=parse_flags(extra or []), method=method)
        if out is not None:
            cfg = cfg.model_copy(update={"output_dir": str(out)})
        if dry_run:
            _print_dry_run(method, cfg, notes, config.parent)
            return
        if method == "dpo":
            from prefjudge.train.dpo import train_dpo as run
        else:
            from prefjudge.train.sft import train_sft as run
        result = run(cfg, base_dir=config.parent)
    if not dist.is_main():  # the other processes of a multi-GPU launch trained; the main one reports
        return
    path = Path(cfg.output_dir) / "train.json"
    path.write_text(json.dumps(result.model_dump(), indent=2))
    for note in [*notes, *result.notes]:
        typer.secho(f"note: {note}", fg="yellow")
    last = result.history[-1] if result.history else {}
    typer.echo(f"rows {result.rows}; last logged step: "
               + ", ".join(f"{k}={v:.4g}" for k, v in last.items() if k != "epoch"))
    lengths = result.lengths
    if lengths.get("over_limit"):
        typer.echo(f"over-long rows ({lengths['mode']}): {lengths['truncated']} truncated, {lengths['dropped']} dropped")
    typer.echo(f"adapter: {result.adapter_path}\nresult:  {path}")
    if result.card_path:
        typer.echo(f"card:    {result.card_path}")
    if result.merged:
        typer.echo(f"merged:  {result.merged['path']}")
    for pushed in result.pushed:
        typer.echo(f"pushed {pushed['what']} to {pushed['repo_id']}")


def _print_dry_run(method: str, cfg: Any, notes: list[str], base_dir: Path) -> None:
    """The validated config as YAML (what would run), the mapping notes and the memory estimate."""
    import yaml

    from prefjudge.recipes.plan import format_plan, plan_config

    for note in notes:
        typer.secho(f"note: {note}", fg="yellow")
    typer.echo(yaml.safe_dump(cfg.model_dump(mode="json", exclude={"sft" if method == "dpo" else "dpo"}),
                              sort_keys=False, allow_unicode=True), nl=False)
    typer.echo(format_plan(plan_config(cfg, method, base_dir)))


@app.command("dpo", context_settings=TRAIN_CONTEXT)
def dpo_command(ctx: typer.Context, config: Path = typer.Argument(..., help="Training config (YAML, prefjudge's or TRL's flat layout)."),
                out: Optional[Path] = typer.Option(None, help="Output folder (overrides output_dir)."),
                set_: list[str] = typer.Option([], "--set", help=SET_HELP),
                dry_run: bool = typer.Option(False, "--dry-run", help="Validate and print the config and plan; no training.")) -> None:
    """LoRA/QLoRA DPO from a YAML config; writes the adapter and OUT/train.json."""
    _train("dpo", config, out, set_, ctx.args, dry_run)


@app.command("sft", context_settings=TRAIN_CONTEXT)
def sft_command(ctx: typer.Context, config: Path = typer.Argument(..., help="Training config (YAML)."),
                out: Optional[Path] = typer.Option(None, help="Output folder (overrides output_dir)."),
                set_: list[str] = typer.Option([], "--set", help=SET_HELP),
                dry_run: bool = typer.Option(False, "--dry-run", help="Validate and print the config and plan; no training.")) -> None:
    """LoRA/QLoRA SFT from a YAML config; writes the adapter and OUT/train.json."""
    _train("sft", config, out, set_, ctx.args, dry_run)


@app.command("run", context_settings=TRAIN_CONTEXT)
def run_command(ctx: typer.Context, config: Path = typer.Argument(..., help="Training config: prefjudge's YAML or TRL's flat one."),
                method: str = typer.Option("dpo", help="dpo (the DPO family: the config's trainer) or sft."),
                out: Optional[Path] = typer.Option(None, help="Output folder (overrides output_dir)."),
                set_: list[str] = typer.Option([], "--set", help=SET_HELP),
                dry_run: bool = typer.Option(False, "--dry-run", help="Validate and print the config and plan; no training.")) -> None:
    """Train from a config: prefjudge's sections or TRL's flat `trl dpo` YAML (model_name_or_path, lora_r,
    load_in_4bit, dataset_name, beta...), with --set FIELD=VALUE and TRL-style --flag VALUE overrides."""
    if method not in ("dpo", "sft"):
        from prefjudge.cli.common import fail
        from prefjudge.errors import ConfigError

        raise fail(ConfigError(f"--method {method!r}: want dpo or sft"))
    _train(method, config, out, set_, ctx.args, dry_run)


def _count(text: str | None) -> float | None:
    """A parameter count: 9.24e9, 9240000000, 9.24B or 350M."""
    if text is None:
        return None
    scale = {"k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}.get(text[-1:].lower(), 1.0)
    number = text[:-1] if scale != 1.0 else text
    try:
        return float(number) * scale
    except ValueError:
        from prefjudge.errors import ConfigError

        raise ConfigError(f"--params {text!r}: want a number such as 9.24e9 or 9.24B") from None


@app.command("memory")
def memory_command(config: Path = typer.Argument(..., help="Training config (YAML)."),
                   method: str = typer.Option("dpo", help="dpo or sft."),
                   hidden_size: Optional[int] = typer.Option(None, "--hidden-size", min=1, help="Model width."),
                   layers: Optional[int] = typer.Option(None, "--layers", min=1, help="Number of decoder layers."),
                   intermediate_size: Optional[int] = typer.Option(None, "--intermediate-size", min=1,
                                                                   help="MLP width."),
                   params: Optional[str] = typer.Option(None, "--params",
                                                        help="Total parameters (9.24B): solves the MLP width."),
                   heads: Optional[int] = typer.Option(None, "--heads", min=1, help="Attention heads."),
                   kv_heads: Optional[int] = typer.Option(None, "--kv-heads", min=1, help="Key/value heads."),
                   head_dim: Optional[int] = typer.Option(None, "--head-dim", min=1, help="Head dimension."),
                   vocab_size: Optional[int] = typer.Option(None, "--vocab-size", min=1, help="Vocabulary size."),
                   tied: Optional[bool] = typer.Option(None, "--tied/--untied",
                                                       help="Input and output embeddings shared or not."),
                   hub: bool = typer.Option(True, "--hub/--no-hub", help="Read the model's config.json from the Hub.")
                   ) -> None:
    """Estimate peak GPU memory of a config and list the GPUs it fits.

    Model dimensions come from the model's config.json (a local folder, or the Hub when online),
    else prefjudge's table; --hidden-size, --layers, --params... give or replace them."""
    from prefjudge.cli.common import user_errors
    from prefjudge.errors import ConfigError
    from prefjudge.train.architectures import dims_for, dims_with_overrides
    from prefjudge.train.config import load_config
    from prefjudge.train.memory import estimate_memory
    from prefjudge.train.runtime import resolve_model_path

    given: dict[str, Any] = dict(hidden_size=hidden_size, num_layers=layers, intermediate_size=intermediate_size, num_heads=heads,
                 num_kv_heads=kv_heads, head_dim=head_dim, vocab_size=vocab_size, tie_word_embeddings=tied)
    with user_errors():
        cfg = load_config(config)
        name = resolve_model_path(cfg.model)
        by_hand = any(v is not None for v in given.values()) or params is not None
        try:
            base = dims_for(name, hub=hub)
        except ConfigError:
            if not by_hand:
                raise
            base = None
        dims = dims_with_overrides(base, name, params=_count(params), **given) if by_hand else base
        est = estimate_memory(cfg, method=method, dims=dims)  # type: ignore[arg-type]
    typer.echo(f"{est.model}: {est.n_params / 1e9:.2f}B parameters ({dims.source if dims else ''})")
    for name, gb in est.components_gb.items():
        typer.echo(f"  {name:<18} {gb:8.2f} GiB")
    typer.echo(f"  {'total':<18} {est.total_gb:8.2f} GiB -> fits: {', '.join(est.fits) or 'none of the listed GPUs'}")


@app.command("unpair")
def unpair_command(pairs: Path = typer.Argument(..., help="Preference rows (prompt/chosen/rejected): a file or an export."),
                   out: Path = typer.Option(..., help="JSONL to write: prompt/completion/label rows."),
                   split: str = typer.Option("train", help="Split of an export folder.")) -> None:
    """Write the unpaired rows KTO trains on: each pair becomes (prompt, chosen, True) and (prompt, rejected, False)."""
    from prefjudge.cli.common import user_errors
    from prefjudge.train.config import DataConfig
    from prefjudge.train.data import read_rows, unpair_rows

    with user_errors():
        rows = unpair_rows(read_rows(DataConfig(path=str(pairs), split=split)))
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    typer.echo(f"{len(rows)} unpaired rows ({len(rows) // 2} pairs) -> {out}")


def merge_command(base: str = typer.Argument(..., help="Base model (Hub id or folder)."),
                  adapters: list[str] = typer.Argument(..., help="Adapter folder(s), merged in this order."),
                  out: Path = typer.Option(..., help="Folder for the merged model and tokenizer."),
                  dtype: str = typer.Option("float16", help="float16, bfloat16 or float32."),
                  check: bool = typer.Option(True, help="Compare merged vs base+adapter logits."),
                  dequantize: bool = typer.Option(False, "--dequantize",
                                                  help="Merge into a dequantized copy of the 4-bit base (QLoRA merge gap)."),
                  push_to_hub: Optional[str] = typer.Option(None, help="Push the merged model to this repo.")) -> None:
    """Merge one adapter, or a chain (SFT then DPO), into the base and check the logits."""
    from prefjudge.cli.common import user_errors
    from prefjudge.train.merging import merge

    with user_errors():
        result = merge(base, adapters, out, dtype=dtype, check=check, push_to_hub=push_to_hub,  # type: ignore[arg-type]
                       dequantize=dequantize)
    typer.echo(f"merged: {result.path} (max |logit diff| {result.max_abs_logit_diff}, tolerance {result.tolerance})")
    typer.echo(merge_gap_line(result.model_dump()))


def merge_gap_line(merge: dict) -> str:
    """Both gaps of a merge: to base + adapters (the merge itself) and to the trained 4-bit model."""
    def fmt(value: Any, spec: str) -> str:
        return "n/a" if value is None else format(value, spec)

    line = (f"merge check: vs base + adapters max |logit diff| {fmt(merge.get('max_abs_logit_diff'), '.3g')}, "
            f"argmax disagreement {fmt(merge.get('argmax_disagreement'), '.3f')}")
    gap = merge.get("trained_gap") or {}
    if gap.get("max_abs_logit_diff") is not None:
        line += (f"; vs the trained 4-bit model {gap['max_abs_logit_diff']:.3g}, argmax disagreement "
                 f"{gap['argmax_disagreement']:.3f}" + (" (dequantized merge)" if merge.get("dequantized") else ""))
    elif gap.get("reason"):
        line += f"; vs the trained model: not measured ({gap['reason']})"
    return line


def eval_command(trained: str = typer.Argument(..., help="Merged model folder, or an adapter folder."),
                 base: str = typer.Argument(..., help="The base model to compare with."),
                 prompts: Path = typer.Option(..., help="Held-out prompts (JSONL with a `prompt` field)."),
                 judges_file: Optional[Path] = typer.Option(None, help="YAML list of prefjudge.Judge settings."),
                 simulated_score: Optional[str] = typer.Option(None, help="SIMULATED jury: module:function score."),
                 out: Path = typer.Option(Path("runs/eval"), help="Folder for eval.json."),
                 max_new_tokens: int = typer.Option(128), seed: int = typer.Option(0),
                 device: str = typer.Option("auto", help="auto, cpu or cuda: where both models answer."),
                 quantization: str = typer.Option("none", help="none or 4bit (4-bit nf4 on a GPU)."),
                 batch_size: int = typer.Option(8, min=1, help="Prompts per generate call."),
                 temperature: float = typer.Option(0.0, min=0.0, help="0: greedy; above 0: seeded sampling."),
                 samples: int = typer.Option(1, min=1, help="Sampled answers per prompt (needs --temperature).")) -> None:
    """Judge the trained model's answers against the base's (random order): win rate, LC win rate, lengths."""
    from prefjudge.cli.common import fail
    from prefjudge.recipes.runner import run_eval
    from prefjudge.recipes.schema import EvalStep

    try:
        step = EvalStep(id="eval", kind="eval", trained=trained, base=base, prompts=str(prompts.resolve()),
                        max_new_tokens=max_new_tokens, seed=seed, device=device, quantization=quantization,
                        batch_size=batch_size, temperature=temperature, samples=samples,
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
    from prefjudge.cli.common import user_errors
    from prefjudge.recipes.runner import run_recipe

    chosen = profile or ("smoke" if smoke else "full")
    with user_errors():
        result = run_recipe(recipe, profile=chosen, dry_run=dry_run, out=out, judges_file=judges_file,
                            echo=(lambda _: None) if as_json else typer.echo)
    from prefjudge.train.distributed import is_main

    if not is_main():  # the other processes of a multi-GPU launch: the main one reports
        return
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=str))
    elif not dry_run:
        _print_run(result)


@recipe_app.command("list")
def recipe_list_command() -> None:
    """The built-in recipes: name and one line of description; then the other built-in files."""
    import textwrap

    import yaml

    from prefjudge.recipes.loading import BUILTIN_DIR, BUILTIN_EXTRAS, accelerate_configs, builtin_recipes

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
    for name, path in accelerate_configs().items():
        typer.echo(f"{name}  accelerate launch --config_file {path} -m prefjudge recipe run NAME")
    typer.echo(f"\nin {BUILTIN_DIR}; run one with: prefjudge recipe run NAME --dry-run | --smoke")


@recipe_app.command("show")
def recipe_show_command(name: str = typer.Argument(..., help="A built-in recipe's name, judges, or accelerate/NAME.")) -> None:
    """Print a built-in file as it is (copy it with: prefjudge recipe show NAME > NAME.yaml)."""
    from prefjudge.cli.common import fail
    from prefjudge.errors import ConfigError
    from prefjudge.recipes.loading import BUILTIN_DIR, BUILTIN_EXTRAS, accelerate_configs, builtin_recipes

    files = {**builtin_recipes(), **{k: BUILTIN_DIR / f"{k}.yaml" for k in BUILTIN_EXTRAS}, **accelerate_configs()}
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
        typer.echo(merge_gap_line(run["merge"]))
    lengths = (run.get("train") or {}).get("lengths") or {}
    if lengths.get("over_limit"):
        typer.echo(f"over-long rows ({lengths['mode']}): {lengths['truncated']} truncated, {lengths['dropped']} dropped")
    if run.get("eval"):
        ev = run["eval"]
        tag = " (SIMULATED jury)" if ev.get("simulated") else ""
        typer.echo(f"eval{tag}: win rate {ev['win_rate']['value']} CI {ev['win_rate']['ci']} n={ev['win_rate']['n']}")
    for note in run.get("notes", []):
        typer.secho(f"note: {note}", fg="yellow")
    typer.echo(f"run.json: {Path(run['out']) / 'run.json'}")


app.command("merge")(merge_command)
app.command("eval")(eval_command)
