"""``prefjudge curate config.yaml``: build a preference dataset from a YAML file.

The lead's CLI mounts :func:`curate_command` as the ``curate`` command.
"""

from __future__ import annotations

from pathlib import Path

import typer


def curate_command(
    config: Path = typer.Argument(..., help="YAML file validated as prefjudge.curate.config.CurateConfig."),
    check: bool = typer.Option(False, "--check", help="Only validate the config file and exit."),
    no_push: bool = typer.Option(False, "--no-push", help="Skip the push: section even when it is set."),
) -> None:
    """Load or generate, judge or rank, curate, audit and export (and push) a preference dataset.

    Example: prefjudge curate recipes/curate.yaml --no-push
    """
    from prefjudge.cli.common import user_errors
    from prefjudge.curate.config import CurateConfig
    from prefjudge.curate.pipeline import run_curation

    with user_errors():
        cfg = CurateConfig.from_file(config)
        if check:
            typer.echo(f"{config}: valid ({cfg.input.kind} input -> {cfg.output.dir})")
            return
        run = run_curation(cfg, config_file=config, push=not no_push)
    rep = run.prefs.report
    typer.echo(rep.to_markdown())
    typer.echo(f"\n{rep.n_input} rows in, {len(run.prefs)} pairs out -> {run.out_dir}")
    if run.commit is not None:
        typer.echo(f"pushed: {run.commit.commit_url}")
