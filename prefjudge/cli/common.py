"""Shared CLI helpers: error reporting."""

from __future__ import annotations

import sys

import typer


def fail(exc: BaseException) -> typer.Exit:
    typer.secho(f"error: {exc}", fg="red", err=True)
    return typer.Exit(code=2)


def echo_err(message: str) -> None:
    print(message, file=sys.stderr)
