"""``prefjudge quickstart``: the smoke run of the built-in recipe ``curate_judge_train``, end to end on CPU.

generate candidates -> jury with order randomization -> audit (HTML report) -> curate -> export
-> QLoRA DPO -> merge -> evaluate, then a summary: the headline numbers and where every artefact
is. With no judge configured the jury is SIMULATED (and says so); ``--judges-file`` or
``PREFJUDGE_JUDGES`` put real judges in the curate and eval steps.
"""

from __future__ import annotations

import contextlib
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import typer

from prefjudge.cli import app
from prefjudge.cli.common import user_errors

RECIPE = "curate_judge_train.yaml"
BANNER = (
    "=" * 78 + "\n"
    "  SIMULATED JURY: no judge is configured, so prefjudge starts its loopback test server\n"
    "  (prefjudge.testing) with simulated writers and three scripted, deliberately biased\n"
    "  simulated judges. Verdicts below are NOT from real LLMs. Configure real judges with\n"
    "  --judges-file or PREFJUDGE_JUDGES=judges.yaml.\n" + "=" * 78
)


def recipe_path() -> Path:
    """The built-in ``curate_judge_train.yaml``, shipped inside the package (works from any folder)."""
    from prefjudge.recipes.loading import BUILTIN_DIR

    return BUILTIN_DIR / RECIPE


def default_out(now: datetime | None = None) -> Path:
    """A new folder ``runs/quickstart-TIME`` under the current directory (``-2``, ``-3``... when
    another quickstart took that name in the same second)."""
    from prefjudge.recipes.paths import fresh_dir

    return fresh_dir("runs", f"quickstart-{(now or datetime.now(timezone.utc)).strftime('%Y%m%d-%H%M%S')}")


def judges_source(judges_file: Path | None) -> Path | None:
    """``--judges-file``, else ``PREFJUDGE_JUDGES``, else None (simulated); relative to the current
    directory, returned absolute."""
    from prefjudge.recipes.paths import cli_path

    env = os.environ.get("PREFJUDGE_JUDGES")
    chosen = judges_file or (Path(env) if env else None)
    return cli_path(chosen) if chosen is not None else None


@app.command("quickstart")
def quickstart_command(
    out: Optional[Path] = typer.Option(None, help="Folder for the artefacts, relative to the current directory "
                                       "(default: a new runs/quickstart-TIME there)."),
    judges_file: Optional[Path] = typer.Option(None, help="YAML list of real judges (else PREFJUDGE_JUDGES, else simulated)."),
) -> None:
    """Curate a preference set with a jury, audit it, train on it (QLoRA DPO), merge and evaluate."""
    from prefjudge.recipes.paths import output_dir

    recipe = recipe_path()
    with user_errors():
        judges = judges_source(judges_file)
        out = output_dir(out) if out is not None else default_out()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is built locally: never wait on the Hub
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    typer.echo(f"prefjudge quickstart: the smoke run of {recipe}\n"
               "  generate -> jury (random order) -> audit -> curate -> export -> QLoRA DPO -> merge -> evaluate")
    if judges is None:
        typer.secho(BANNER, fg="yellow")
    else:
        typer.echo(f"judges from {judges} (curate and eval steps); the candidates still come from the "
                   "simulated writers")
    with user_errors():
        run = _run(recipe, out, judges)
    print_summary(run)


def _run(recipe: Path, out: Path, judges: Path | None) -> dict[str, Any]:
    """Run the smoke profile; library output (TRL's logs, progress bars) goes to OUT/quickstart.log."""
    from prefjudge.recipes.runner import run_recipe

    console = sys.stdout
    with open(out / "quickstart.log", "w", encoding="utf-8") as log, \
            contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        return run_recipe(recipe, profile="smoke", out=out, judges_file=judges,
                          echo=lambda line: print(line, file=console, flush=True))


def _rate(r: dict[str, Any]) -> str:
    if r.get("value") is None:
        return f"n/a ({r.get('reason')})"
    ci = r.get("ci") or [None, None]
    note = f"; {r['reason']}" if r.get("reason") else ""
    return f"{r['value']:.2f} (95% CI {ci[0]:.2f}-{ci[1]:.2f}, n={r['n']}{note})"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def curation_lines(c: dict[str, Any]) -> list[str]:
    rows = dict(c["rows"])
    head = [f"{k} {rows.pop(k)}" for k in ("prompts", "candidates", "comparisons", "judgments", "pairs") if k in rows]
    jury = "SIMULATED jury" if c.get("simulated_jury") else "jury"
    lines = [f"Curation ({jury}: {', '.join(c['judges'])}; {c['strategy']} ranking, {c['order']} order)",
             "  " + " -> ".join(head),
             "  rows kept after each step: " + ", ".join(f"{k} {v}" for k, v in rows.items())]
    lb = c.get("length_balance")
    if lb:
        lines.append(f"  chosen answer longer: {_pct(lb['before'])} of {lb['n_before']} pairs before length balance, "
                     f"{_pct(lb['after'])} of {lb['n_after']} after")
    ls = c.get("latent_score")
    if ls and ls.get("n"):
        lines.append(f"  simulated truth: chosen answers score {ls['chosen_mean']:.2f} vs rejected {ls['rejected_mean']:.2f} "
                     f"(chosen better in {_pct(ls['chosen_better_share'])} of {ls['n']} pairs)")
    lines.append(f"  audit: {len(c.get('audit_warnings', []))} warning(s) about the judges; see the HTML report")
    return lines


def _limits(run: dict[str, Any]) -> dict[str, Any]:
    """The last training step's ``dpo`` (or ``sft``) settings in the run's config (max_length...)."""
    steps = (run.get("config") or {}).get("steps") or []
    for step in reversed(steps):
        for key in ("dpo", "sft"):
            if isinstance(step, dict) and isinstance(step.get(key), dict):
                return step[key]
    return {}


def training_rows(rows: dict[str, Any], run: dict[str, Any]) -> str:
    """``41 training pairs of the 42 read: 1 dropped as longer than ...``: where the rows that
    reached the training step went (the export's count and the trainer's differ by exactly these)."""
    limits = _limits(run)
    why = {"filtered": "removed by the loader's filters",
           "too_long": (f"dropped as longer than max_length={limits.get('max_length')} tokens or with a prompt over "
                        f"max_prompt_length={limits.get('max_prompt_length')}"),
           "eval": "held out for evaluation"}
    gone = [f"{n} {why.get(k, k.replace('_', ' '))}" for k, n in rows.items()
            if k not in ("read", "train") and isinstance(n, int) and n]
    head = f"{rows.get('train')} training pairs"
    if rows.get("read") is None:
        return head
    return f"{head} of the {rows['read']} read" + (f": {'; '.join(gone)}" if gone else "")


def training_lines(run: dict[str, Any]) -> list[str]:
    train, lines = run.get("train") or {}, []
    h = train.get("history") or []
    if h:
        first, last = h[0], h[-1]

        def at(e: dict) -> str:
            return (f"step {int(e['step'])}: loss {e.get('loss', float('nan')):.3f}, margins "
                    f"{e.get('rewards/margins', float('nan')):.3f}, accuracies {e.get('rewards/accuracies', float('nan')):.2f}")

        lines += [f"DPO ({train['runtime'].get('quantization')} LoRA, {training_rows(train['rows'], run)})",
                  f"  {at(first)}  ->  {at(last)}"]
    m = run.get("merge") or {}
    if m.get("max_abs_logit_diff") is not None:
        lines.append(f"Merge: max |logit diff| merged vs base+adapter {m['max_abs_logit_diff']:.2g} "
                     f"(tolerance {m['tolerance']:.2g})")
    return lines


def eval_lines(ev: dict[str, Any]) -> list[str]:
    jury = "SIMULATED jury" if ev.get("simulated") else "jury: " + ", ".join(ev.get("judges", []))
    ml = ev["mean_length"]
    lines = [f"Evaluation, trained vs base on {ev['n_prompts']} held-out prompts ({jury}, random order)",
             f"  win rate {_rate(ev['win_rate'])}; length-controlled {_rate(ev['lc_win_rate'])}",
             f"  mean answer length: base {ml['base_chars']:.1f} chars / {ml['base_words']:.1f} words, "
             f"trained {ml['trained_chars']:.1f} chars / {ml['trained_words']:.1f} words"]
    return lines


def artefacts(run: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, path) of every artefact the run wrote."""
    c, out = run.get("curate") or {}, Path(run["out"])
    items = [("audit report (HTML)", (c.get("audit") or {}).get("html")),
             ("audit (Markdown, JSON)", ", ".join(v for k, v in (c.get("audit") or {}).items() if k != "html")),
             ("curated dataset export", c.get("path")), ("dataset file", (c.get("data_files") or [None])[0]),
             ("dataset card", c.get("card")), ("adapter", run.get("adapter_path")),
             ("merged model", run.get("merged_path")), ("eval answers", (run.get("eval") or {}).get("path")),
             ("run.json", str(out / "run.json")), ("library log", str(out / "quickstart.log"))]
    return [(label, path) for label, path in items if path]


def print_summary(run: dict[str, Any]) -> None:
    """The headline numbers and the artefact paths."""
    from prefjudge.simulated import headline

    lines = [""]
    if run.get("simulated"):
        lines.append(f"{headline(run['simulated'])} The numbers below show the pipeline at work, not real models.")
    if run.get("curate"):
        lines += curation_lines(run["curate"])
    lines += training_lines(run)
    if run.get("eval"):
        lines += eval_lines(run["eval"])
    lines += ["", "Artefacts"] + [f"  {label:<24}{path}" for label, path in artefacts(run)]
    lines.append(f"\nDone in {run['wall_seconds']:.1f} s (peak memory {run['peak_memory_mb']:.0f} MB).")
    typer.echo("\n".join(lines))
    for note in run.get("notes", []):
        typer.secho(f"note: {note}", fg="yellow")
