"""``prefjudge rank``: judge a file of pairs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from prefjudge.cli import app
from prefjudge.cli.common import user_errors
from prefjudge.judging.judges_file import load_judges


@app.command("rank")
def rank_command(
    pairs: Path = typer.Argument(..., help="Pairs file (.jsonl, .json, .parquet, .csv) with prompt, response_a, response_b."),
    judge: list[str] = typer.Option([], "--judge", "-j", help="Judge model name; repeat for several judges."),
    backend: str = typer.Option("openai", help="Backend for --judge models: openai, litellm or transformers."),
    base_url: Optional[str] = typer.Option(None, help="OpenAI-compatible server URL, e.g. http://127.0.0.1:8000/v1."),
    api_key_env: Optional[str] = typer.Option(None, help="Name of the environment variable that holds the API key."),
    judges_file: Optional[Path] = typer.Option(None, help="YAML list of judge settings (mix backends and servers)."),
    template: str = typer.Option("pairwise", help="Template name (pairwise, pairwise_json, pairwise_logprob) or .txt path."),
    order: str = typer.Option("random", help="random (seeded, one call), both (two calls, both orders) or fixed (a first)."),
    seed: int = typer.Option(0, help="Seed of the order randomization."),
    store: Optional[Path] = typer.Option(None, help="SQLite store: a rerun resumes without repeating finished calls."),
    out: Path = typer.Option(Path("ranked.parquet"), help="Per-pair results (.parquet or .jsonl)."),
    judgments_out: Optional[Path] = typer.Option(None, help="Judgments table, one row per call (.parquet or .jsonl)."),
) -> None:
    """Judge every pair with every judge; write one row per pair (winner, chosen, rejected, p_a...).

    Example: prefjudge rank pairs.jsonl --judge gpt-4o-mini --order both --store runs.db --out ranked.parquet
    """
    from prefjudge.io import read_table, write_table
    from prefjudge.judging.judge import Judge
    from prefjudge.judging.rank_pairs import rank_pairs

    with user_errors():
        judges = load_judges(judges_file) if judges_file else []
        key = os.environ.get(api_key_env) if api_key_env else None
        judges += [Judge(m, backend=backend, base_url=base_url, api_key=key, template=template) for m in judge]
        if not judges:
            raise typer.BadParameter("give at least one --judge or a --judges-file")
        result = rank_pairs(read_table(pairs), judges=judges, order=order, seed=seed, store=str(store) if store else None)
        write_table(result.to_pandas(), out)
        if judgments_out:
            write_table(result.judgments, judgments_out)
    df = result.to_pandas()
    counts = df["winner"].value_counts(dropna=False).to_dict()
    typer.echo(f"{len(df)} pairs judged: " + ", ".join(f"{k}={v}" for k, v in counts.items()) + f" -> {out}")
