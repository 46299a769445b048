"""Shared CLI helpers: the one place that turns an exception into what the user reads.

Every command body runs inside :func:`user_errors`. A user's mistake (a prefjudge error, a missing
or unreadable file, an invalid YAML or config) prints one line ``error: ...`` and exits with code 2;
anything else is a bug: one line naming the exception type, exit code 1, and the traceback when
``PREFJUDGE_DEBUG`` is set. typer's own exits and parameter errors pass through unchanged.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

import typer

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
