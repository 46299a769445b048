"""Shared CLI helpers: error reporting."""

from __future__ import annotations

import typer


def fail(exc: BaseException) -> typer.Exit:
    """Print ``error: <exc>`` (red, to stderr) and return the ``typer.Exit`` (code 2) to raise."""
    typer.secho(f"error: {exc}", fg="red", err=True)
    return typer.Exit(code=2)
