"""Shared CLI helpers: the one place that turns an exception into what the user reads.

Every command body runs inside :func:`user_errors`. A user's mistake (a prefjudge error, a missing
or unreadable file, an invalid YAML or config) prints one line ``error: ...`` and exits with code 2;
anything else is a bug: one line naming the exception type, exit code 1, and the traceback when
``PREFJUDGE_DEBUG`` is set. typer's own exits and parameter errors pass through unchanged.

Also what several commands share: the pairs argument and judge options of the commands that judge
(``rank``, ``probe``; :func:`judges_from_options` makes the judges), and the report options of those
that write a report (``audit``, ``probe``; :func:`write_reports` writes and prints it).
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

if TYPE_CHECKING:
    from prefjudge.judging.judge import Judge

USER_ERROR = 2
BUG = 1


def fail(exc: BaseException) -> typer.Exit:
    """Print ``error: <exc>`` (red, to stderr) and return the ``typer.Exit`` (code 2) to raise."""
    typer.secho(f"error: {exc}", fg="red", err=True)
    return typer.Exit(code=USER_ERROR)


def _is_user_error(exc: BaseException) -> bool:
    from pydantic import ValidationError

    from prefjudge.errors import PrefjudgeError

    if isinstance(exc, (PrefjudgeError, OSError, ValidationError)):
        return True
    yaml_error = getattr(sys.modules.get("yaml"), "YAMLError", None)  # yaml imported only if a file was read
    return yaml_error is not None and isinstance(exc, yaml_error)


@contextmanager
def user_errors() -> Iterator[None]:
    """Run a command body: user errors become ``error: ...`` (exit 2), bugs a one-line report (exit 1)."""
    try:
        yield
    except (typer.Exit, typer.Abort, typer.BadParameter, KeyboardInterrupt):
        raise
    except Exception as exc:
        if _is_user_error(exc):
            raise fail(exc) from exc
        typer.secho(f"error: unexpected {type(exc).__name__}: {exc}", fg="red", err=True)
        if os.environ.get("PREFJUDGE_DEBUG"):
            typer.echo("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)), err=True)
        else:
            typer.echo("(this looks like a bug in prefjudge; rerun with PREFJUDGE_DEBUG=1 for the traceback and "
                       "please report it)", err=True)
        raise typer.Exit(code=BUG) from exc


# -- the pairs and judges of the commands that judge (rank, probe) ---------------------------------
# A command takes them as ``judge: JudgeOption = []``...; the defaults stay in the signatures.

PairsArgument = Annotated[Path, typer.Argument(help="Pairs file (.jsonl, .json, .parquet, .csv) with prompt, response_a, "
                                                    "response_b.")]
JudgeOption = Annotated[list[str], typer.Option("--judge", "-j", help="Judge model name; repeat for several judges.")]
BackendOption = Annotated[str, typer.Option(help="Backend for --judge models: openai, litellm or transformers.")]
BaseUrlOption = Annotated[Optional[str], typer.Option(help="OpenAI-compatible server URL, e.g. http://127.0.0.1:8000/v1.")]
ApiKeyEnvOption = Annotated[Optional[str], typer.Option(help="Name of the environment variable that holds the API key.")]
JudgesFileOption = Annotated[Optional[Path], typer.Option(help="YAML list of judge settings (mix backends and servers).")]
TemplateOption = Annotated[str, typer.Option(help="Template name (pairwise, pairwise_json, pairwise_logprob) or .txt path.")]


def judges_from_options(judge: list[str], backend: str, base_url: str | None, api_key_env: str | None,
                        judges_file: Path | None, template: str) -> list[Judge]:
    """The judges of ``--judges-file`` then one per ``--judge`` model (the key read from the variable
    ``--api-key-env`` names); a ``typer.BadParameter`` when there is none."""
    from prefjudge.judging.judge import Judge
    from prefjudge.judging.judges_file import load_judges

    judges = load_judges(judges_file) if judges_file else []
    key = os.environ.get(api_key_env) if api_key_env else None
    judges += [Judge(m, backend=backend, base_url=base_url, api_key=key, template=template) for m in judge]
    if not judges:
        raise typer.BadParameter("give at least one --judge or a --judges-file")
    return judges


# -- the report files of the commands that write a report (audit, probe) ----------------------------

HtmlOption = Annotated[Optional[Path], typer.Option("--html", help="Write the self-contained HTML report here.")]
MdOption = Annotated[Optional[Path], typer.Option("--md", help="Write the Markdown report here.")]


def write_reports(report: Any, *, html: Path | None, md: Path | None, json_out: Path | None,
                  fail_on_warning: bool) -> None:
    """Write ``report`` (an AuditReport or a ProbeReport) to each path given, as HTML, Markdown and
    JSON (a failed write is a user error, exit 2). Then print: the Markdown when no path was given,
    else the report's repr and one ``warning: ...`` line per warning. With ``fail_on_warning``, a
    report with warnings exits with code 1 (a CI gate)."""
    with user_errors():
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
