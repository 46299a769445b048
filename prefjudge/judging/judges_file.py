"""Judges from a YAML file: a list of ``prefjudge.Judge`` settings, or a mapping with ``judges:``.

No API key belongs in the file: a judge names the environment variable that holds its key
(``api_key_env: NAME_OF_VARIABLE``; the openai and litellm clients also read their usual variables,
``OPENAI_API_KEY``...), and a file with an ``api_key`` is refused. The built-in ``judges.yaml``
(``prefjudge recipe show judges``) is an example. Read with :mod:`prefjudge.config_files`; used by ``prefjudge rank --judges-file``, the
recipes' curate and eval steps, and the quickstart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefjudge.config_files import format_errors, load_yaml
from prefjudge.errors import ConfigError


def read_judge_specs(path: str | Path) -> list[dict[str, Any]]:
    """The file's judge settings, each checked by building its ``Judge`` (errors name the file and entry)."""
    return _read(Path(path))[0]


def load_judges(path: str | Path) -> list:
    """The file's judges as ``prefjudge.Judge`` objects."""
    return _read(Path(path))[1]


def _read(path: Path) -> tuple[list[dict[str, Any]], list]:
    from pydantic import ValidationError

    from prefjudge.judging.judge import Judge

    data = load_yaml(path, "judges file")
    keyed = isinstance(data, dict)
    items = data.get("judges") if keyed else data
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{path}: expected a non-empty list of judges (or a 'judges:' key)")
    judges = []
    for i, item in enumerate(items):
        try:
            judges.append(Judge.model_validate(item))
        except ValidationError as err:
            raise ConfigError(format_errors(err, path, ("judges", i) if keyed else (i,))) from None
    return items, judges
