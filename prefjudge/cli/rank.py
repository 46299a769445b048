"""``prefjudge rank``: judge a file of pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from prefjudge.cli import app
from prefjudge.cli.common import (
    ApiKeyEnvOption,
    BackendOption,
    BaseUrlOption,
    JudgeOption,
    JudgesFileOption,
    PairsArgument,
    TemplateOption,
    judges_from_options,
    user_errors,
)


@app.command("rank")
def rank_command(
    pairs: PairsArgument,
    judge: JudgeOption = [],  # noqa: B006 (typer passes a new list; this one is never mutated)
    backend: BackendOption = "openai",
    base_url: BaseUrlOption = None,
    api_key_env: ApiKeyEnvOption = None,
    judges_file: JudgesFileOption = None,
    template: TemplateOption = "pairwise",
    order: str = typer.Option("random", help="random (seeded, one call), both (two calls, both orders), fixed (a first) or adaptive (the second order only where it can change the decision)."),
    seed: int = typer.Option(0, help="Seed of the order randomization."),
    store: Optional[Path] = typer.Option(None, help="SQLite store: a rerun resumes without repeating finished calls."),
    out: Path = typer.Option(Path("ranked.parquet"), help="Per-pair results (.parquet or .jsonl)."),
    judgments_out: Optional[Path] = typer.Option(None, help="Judgments table, one row per call (.parquet or .jsonl)."),
    shard: Optional[str] = typer.Option(None, help="i/n: judge only this machine's share of the pairs (0 <= i < n); "
                                        "merge the stores with `prefjudge store merge`."),
    max_cost_usd: Optional[float] = typer.Option(None, help="Stop before the run's estimated spend would cross this (USD)."),
    max_calls: Optional[int] = typer.Option(None, help="Stop before making more than this many new calls."),
    batch: bool = typer.Option(False, help="Submit through the providers' batch APIs (half price; see docs/batch.md)."),
    stream_dir: Optional[Path] = typer.Option(None, help="Stream judgments to parquet parts in this folder (bounded "
                                              "memory for very large inputs; --out then gets the outcomes)."),
) -> None:
    """Judge every pair with every judge; write one row per pair (winner, chosen, rejected, p_a...).

    Example: prefjudge rank pairs.jsonl --judge gpt-4o-mini --order both --store runs.db --out ranked.parquet
    """
    from prefjudge.io import read_table, write_table
    from prefjudge.judging.rank_pairs import rank_pairs

    with user_errors():
        judges = judges_from_options(judge, backend, base_url, api_key_env, judges_file, template)
        source = str(pairs) if stream_dir is not None and pairs.suffix in (".jsonl", ".parquet") else read_table(pairs)
        result = rank_pairs(source, judges=judges, order=order, seed=seed, store=str(store) if store else None,
                            shard=_shard(shard), max_cost_usd=max_cost_usd, max_calls=max_calls, batch=batch,
                            out=stream_dir)
        write_table(result.to_pandas(), out)
        if judgments_out:
            write_table(result.judgments, judgments_out)
    df = result.to_pandas()
    counts = df["winner"].value_counts(dropna=False).to_dict()
    typer.echo(f"{len(df)} pairs judged: " + ", ".join(f"{k}={v}" for k, v in counts.items()) + f" -> {out}")
    not_judged = getattr(result, "not_judged", None)
    if not_judged is not None and len(not_judged):
        typer.echo(f"{len(not_judged)} call(s) not made ({not_judged['reason'].iloc[0] if 'reason' in not_judged else 'budget'}); "
                   "rerun with a higher limit and the same --store to make only those")


def _shard(text: str | None) -> tuple[int, int] | None:
    """``"i/n"`` as (i, n); the library checks the range."""
    if text is None:
        return None
    i, sep, n = text.partition("/")
    try:
        if not sep:
            raise ValueError
        return int(i), int(n)
    except ValueError:
        raise typer.BadParameter(f"--shard must be i/n, e.g. 0/4, not {text!r}") from None
