"""``prefjudge audit PATH --html audit.html --md audit.md --json audit.json``.

The lead's CLI mounts :func:`audit_command` as the ``audit`` sub-command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from prefjudge.cli.common import HtmlOption, MdOption, user_errors, write_reports


def audit_command(
    path: Path = typer.Argument(..., help="Judgments table (.parquet, .jsonl, .json, .csv), AlpacaEval annotations "
                                          "(.json) or a prompt/chosen/rejected preference dataset."),
    html: HtmlOption = None,
    md: MdOption = None,
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

    with user_errors():
        report = audit(path, aggregate=aggregate, quorum=quorum, same_family=same_family, seed=seed)
    write_reports(report, html=html, md=md, json_out=json_out, fail_on_warning=fail_on_warning)
