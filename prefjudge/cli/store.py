"""``prefjudge store``: work with call stores (merge the stores of a sharded run)."""

from __future__ import annotations

from pathlib import Path

import typer

from prefjudge.cli.common import user_errors

app = typer.Typer(help="Work with call stores (SQLite files of finished calls).", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)


@app.command("merge")
def merge_command(
    stores: list[Path] = typer.Argument(..., help="Stores to merge, in priority order (the first keeps its answer on a conflict)."),
    out: Path = typer.Option(..., "-o", "--out", help="The merged store (created, or added to)."),
    strict: bool = typer.Option(False, "--strict", help="Exit with code 1 when two stores answered a request differently."),
) -> None:
    """Merge stores (e.g. of `--shard i/n` runs): same request and same answer is no conflict;
    conflicting answers are reported.

    Example: prefjudge store merge shard0.db shard1.db -o all.db
    """
    from prefjudge.judging.store_merge import merge_stores

    with user_errors():
        report = merge_stores(stores, out)
    typer.echo(report.summary())
    for c in report.conflicts:
        typer.secho(f"conflict: {c.key}: kept {c.kept!r} (from {c.kept_from}); dropped {c.dropped!r} (from {c.other})",
                    fg="yellow", err=True)
    if strict and report.conflicts:
        raise typer.Exit(code=1)
