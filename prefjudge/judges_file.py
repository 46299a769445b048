"""Judges from a YAML file: a list of ``prefjudge.Judge`` settings, or a mapping with ``judges:``.

No API key belongs in the file (the clients read them from the environment); ``recipes/judges.yaml``
is an example. Used by ``prefjudge rank --judges-file``, the recipes' curate and eval steps, and
the quickstart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import ConfigError


def read_judge_specs(path: str | Path) -> list[dict[str, Any]]:
    """The file's judge settings, each checked by building its ``Judge`` (errors name the file and entry)."""
    return _read(Path(path))[0]


def load_judges(path: str | Path) -> list:
    """The file's judges as ``prefjudge.Judge`` objects."""
    return _read(Path(path))[1]


def _read(path: Path) -> tuple[list[dict[str, Any]], list]:
    import yaml

    from .judge import Judge

    if not path.is_file():
        raise ConfigError(f"judges file not found: {path}")
    data = yaml.safe_load(path.read_text())
    items = data.get("judges") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{path}: expected a non-empty list of judges (or a 'judges:' key)")
    judges = []
    for i, item in enumerate(items):
        try:
            judges.append(Judge(**item))
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{path}: judge {i}: {err}") from None
    return items, judges
