"""``prefjudge audit PATH --html audit.html --md audit.md --json audit.json``.

The lead's CLI mounts :func:`audit_command` as the ``audit`` sub-command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def audit_command(
    path: Path = typer.Argument(..., help="Judgments table (.parquet, .jsonl, .json, .csv), AlpacaEval annotations "
                                          "(.json) or a prompt/chosen/rejected preference dataset."),
    html: Optional[Path] = typer.Option(None, "--html", help="Write the self-contained HTML report here."),
    md: Optional[Path] = typer.Option(None, "--md", help="Write the Markdown report here."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the report dictionary as JSON here."),
    aggregate: str = typer.Option("majority", "--aggregate", "--rule",
                                  help="Jury rule: majority, call_majority, mean, weighted or dawid_skene "
                                       "(--rule is its old name)."),
    quorum: Optional[int] = typer.Option(None, help="Fewest judges with a parsed verdict a pair needs."),
    same_family: str = typer.Option("keep", help="keep, flag or exclude a judge's verdicts on its own family's answers."),
    seed: int = typer.Option(0, help="Seed of the bootstrap confidence intervals."),
    fail_on_warning: bool = typer.Option(False, "--fail-on-warning", help="Exit with code 1 when the audit warns (a CI gate)."),
) -> None:
    """Audit judge bias: position, length, lists, self-preference, consistency, agreement, human agreement.

    Example: prefjudge audit runs/judgments.parquet --html audit.html --md audit.md --json audit.json
    """
    from prefjudge.audit import audit
    from prefjudge.cli.common import user_errors

    with user_errors():
        report = audit(path, aggregate=aggregate, quorum=quorum, same_family=same_family, seed=seed)
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
