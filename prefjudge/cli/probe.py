"""``prefjudge probe``: counterfactual bias probes of judges on a file of pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from prefjudge.cli import app
from prefjudge.cli.common import (
    ApiKeyEnvOption,
    BackendOption,
    BaseUrlOption,
    HtmlOption,
    JudgeOption,
    JudgesFileOption,
    MdOption,
    PairsArgument,
    TemplateOption,
    judges_from_options,
    user_errors,
    write_reports,
)


@app.command("probe")
def probe_command(
    pairs: PairsArgument,
    judge: JudgeOption = [],  # noqa: B006 (typer passes a new list; this one is never mutated)
    backend: BackendOption = "openai",
    base_url: BaseUrlOption = None,
    api_key_env: ApiKeyEnvOption = None,
    judges_file: JudgesFileOption = None,
    template: TemplateOption = "pairwise",
    probe: list[str] = typer.Option([], "--probe", "-p", help="swap, pad, lists, injection, identity or repeat; "
                                                              "repeat for several (default: all six)."),
    n: Optional[int] = typer.Option(None, help="Probe a seeded sample of this many pairs (default: all)."),
    seed: int = typer.Option(0, help="Seed of the sample, the variants and the bootstrap."),
    store: Optional[Path] = typer.Option(None, help="SQLite store: a rerun replays finished calls (share it with rank)."),
    html: HtmlOption = None,
    md: MdOption = None,
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the report dictionary (with the variant texts) as JSON here."),
    fail_on_warning: bool = typer.Option(False, "--fail-on-warning", help="Exit with code 1 when a probe moved a judge (a CI gate)."),
) -> None:
    """Judge content-preserving variants of each pair (swapped order, filler, lists, an injected
    instruction, named authors, the same call again) and report how far each judge's verdicts moved.

    Example: prefjudge probe pairs.jsonl --judge gpt-4o-mini --probe pad --probe swap --n 100 --store runs.db --html probes.html
    """
    from prefjudge.io import read_table
    from prefjudge.probing.run import probe as run_probe
    from prefjudge.probing.variants import PROBES

    with user_errors():
        judges = judges_from_options(judge, backend, base_url, api_key_env, judges_file, template)
        _refuse_reward_models(judges, judges_file)
        report = run_probe(read_table(pairs), judges, probes=tuple(probe) or PROBES, n=n, seed=seed,
                           store=str(store) if store else None)
    write_reports(report, html=html, md=md, json_out=json_out, fail_on_warning=fail_on_warning)


def _refuse_reward_models(judges: list, judges_file: Path | None) -> None:
    """A ``kind: reward_model`` entry of ``--judges-file`` (its judges come first) is refused, naming it."""
    from prefjudge.config_files import field_path, load_yaml
    from prefjudge.errors import ConfigError
    from prefjudge.judging.judge import Judge

    for i, j in enumerate(judges):
        if not isinstance(j, Judge):
            keyed = judges_file is not None and isinstance(load_yaml(judges_file, "judges file"), dict)
            raise ConfigError(f"{judges_file}: entry {field_path(('judges', i) if keyed else (i,))} "
                              f"(reward model {j.name!r}, kind: reward_model, path {getattr(j, 'path', '?')}) is a local reward "
                              "model; prefjudge probe measures how LLM judges' verdicts move (display order, filler, "
                              "lists, injected instructions, named authors, repeated calls): remove the entry or give "
                              "a judges file of LLM judges")
