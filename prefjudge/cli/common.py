"""Shared CLI helpers: error reporting and judge specs."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ..errors import PrefjudgeError


def fail(exc: BaseException) -> typer.Exit:
    typer.secho(f"error: {exc}", fg="red", err=True)
    return typer.Exit(code=2)


def load_judges_file(path: Path) -> list:
    """A YAML/JSON file holding a list of Judge settings (no API keys in it: use env vars)."""
    import yaml

    from ..judge import Judge

    data = yaml.safe_load(path.read_text())
    if isinstance(data, dict) and "judges" in data:
        data = data["judges"]
    if not isinstance(data, list):
        raise PrefjudgeError(f"{path}: expected a list of judges (or a 'judges:' key)")
    return [Judge(**item) for item in data]


def echo_err(message: str) -> None:
    print(message, file=sys.stderr)
