"""``prefjudge probe``: counterfactual bias probes of judges on a file of pairs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from prefjudge.cli import app
from prefjudge.cli.common import user_errors
from prefjudge.judging.judges_file import load_judges


@app.command("probe")
def probe_command(
    pairs: Path = typer.Argument(..., help="Pairs file (.jsonl, .json, .parquet, .csv) with prompt, response_a, response_b."),
    judge: list[str] = typer.Option([], "--judge", "-j", help="Judge model name; repeat for several judges."),
    backend: str = typer.Option("openai", help="Backend for --judge models: openai, litellm or transformers."),
    base_url: Optional[str] = typer.Option(None, help="OpenAI-compatible server URL, e.g. http://127.0.0.1:8000/v1."),
    api_key_env: Optional[str] = typer.Option(None, help="Name of the environment variable that holds the API key."),
    judges_file: Optional[Path] = typer.Option(None, help="YAML list of judge settings (mix backends and servers)."),
    template: str = typer.Option("pairwise", help="Template name (pairwise, pairwise_json, pairwise_logprob) or .txt path."),
    probe: list[str] = typer.Option([], "--probe", "-p", help="swap, pad, lists, injection, identity or repeat; "
                                                              "repeat for several (default: all six)."),
    n: Optional[int] = typer.Option(None, help="Probe a seeded sample of this many pairs (default: all)."),
    seed: int = typer.Option(0, help="Seed of the sample, the variants and the bootstrap."),
    store: Optional[Path] = typer.Option(None, help="SQLite store: a rerun replays finished calls (share it with rank)."),
    html: Optional[Path] = typer.Option(None, "--html", help="Write the self-contained HTML report here."),
    md: Optional[Path] = typer.Option(None, "--md", help="Write the Markdown report here."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the report dictionary (with the variant texts) as JSON here."),
    fail_on_warning: bool = typer.Option(False, "--fail-on-warning", help="Exit with code 1 when a probe moved a judge (a CI gate)."),
) -> None:
    """Judge content-preserving variants of each pair (swapped order, filler, lists, an injected
    instruction, named authors, the same call again) and report how far each judge's verdicts moved.

    Example: prefjudge probe pairs.jsonl --judge gpt-4o-mini --probe pad --probe swap --n 100 --store runs.db --html probes.html
    """
    from prefjudge.io import read_table
    from prefjudge.judging.judge import Judge
    from prefjudge.probing.run import probe as run_probe
    from prefjudge.probing.variants import PROBES

    with user_errors():
        judges = load_judges(judges_file) if judges_file else []
        key = os.environ.get(api_key_env) if api_key_env else None
        judges += [Judge(m, backend=backend, base_url=base_url, api_key=key, template=template) for m in judge]
        if not judges:
            raise typer.BadParameter("give at least one --judge or a --judges-file")
        report = run_probe(read_table(pairs), judges, probes=tuple(probe) or PROBES, n=n, seed=seed,
                           store=str(store) if store else None)
        for target, write in ((html, report.to_html), (md, report.to_markdown), (json_out, report.to_json)):
            if target is not None:
                write(target)
    if html is None and md is None and json_out is None:
        typer.echo(report.to_markdown())
    else:
        typer.echo(repr(report))
        for w in report.warnings:
            typer.echo(f"warning: {w}")
    if fail_on_warning and report.warnings:
        raise typer.Exit(code=1)
