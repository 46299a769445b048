"""Config files: the one reader of every YAML (or JSON) file prefjudge takes, with one error format.

Judges files, ``prefjudge curate`` configs, recipes and training configs, simulator configs all go
through :func:`load_yaml` (and :func:`load_config` when a pydantic model validates them). Every
problem is a ``ConfigError`` naming the file: missing or not a file; not UTF-8 (the byte offset);
not valid YAML, or a tag such as ``!!python/object`` (line and column); an ``api_key`` (keys come
from the environment: ``api_key_env: NAME_OF_VARIABLE``); and each validation error, one line
each, as ``path: field.sub[2].name: message``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

from prefjudge.errors import ConfigError

SECRET_KEYS = frozenset({"api_key"})
"""Keys a file may not hold: prefjudge copies config files into exports and pushes them to the Hub."""
SECRET_FIX = "use api_key_env: NAME_OF_VARIABLE (the environment variable that holds the key)"

M = TypeVar("M")


def load_yaml(path: str | Path, what: str = "config file", *, mapping: bool = False) -> Any:
    """The parsed file (``.json`` by ``json``, anything else by ``yaml.safe_load``), refusing secrets.

    ``what`` names the file in the not-found message; ``mapping``: the top level must be a
    mapping (an empty file is then an error too).
    """
    path = Path(path)
    data = _parse(read_config_text(path, what), path)
    if mapping:
        if data is None:
            raise ConfigError(f"{path}: the {what} is empty (expected a mapping of settings)")
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the top level must be a mapping, got {_kind(data)}")
    check_no_secrets(data, path)
    return data


def load_config(path: str | Path, model: type[M], what: str = "config file") -> M:
    """The file's mapping validated by the pydantic ``model``; errors formatted by :func:`format_errors`."""
    from pydantic import ValidationError

    data = load_yaml(path, what, mapping=True)
    try:
        return model.model_validate(data)  # type: ignore[attr-defined]
    except ValidationError as err:
        raise ConfigError(format_errors(err, path)) from None


def read_config_text(path: Path, what: str = "config file") -> str:
    """The file's text; a ``ConfigError`` naming the path when it is missing, not a file or not UTF-8."""
    try:
        exists, is_file, is_dir = path.exists(), path.is_file(), path.is_dir()
    except (OSError, ValueError) as err:  # e.g. a NUL in the name
        raise ConfigError(f"{what} {str(path)!r}: not a usable path ({err})") from None
    if not exists:
        raise ConfigError(f"{what} not found: {path}")
    if not is_file:
        raise ConfigError(f"{what} {path} is {'a directory' if is_dir else 'not a regular file'}, not a file")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read {what} {path}: {err.strerror or err}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte offset {err.start}: {raw[err.start:err.start + 1]!r}); "
                          "save the file as UTF-8") from None


_TAG = re.compile(r"tag '([^']*)'")


def _parse(text: str, path: Path) -> Any:
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path}, line {err.lineno}, column {err.colno}: not valid JSON: {err.msg}") from None
        except RecursionError:
            raise ConfigError(f"{path}: not valid JSON: nested too deeply") from None
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
        problem = err.problem or err.context or "unreadable"
        tag = _TAG.search(problem) if isinstance(err, yaml.constructor.ConstructorError) else None
        if tag:
            raise ConfigError(f"{where}: the tag {tag.group(1).replace('tag:yaml.org,2002:', '!!')} is refused: "
                              "a config file holds plain YAML (mappings, lists, strings, numbers, "
                              "true/false, null)") from None
        raise ConfigError(f"{where}: not valid YAML: {problem}") from None
    except yaml.reader.ReaderError as err:
        if not isinstance(err.character, int):
            raise ConfigError(f"{path}: not valid YAML: {err}") from None
        raise ConfigError(f"{path}, character offset {err.position}: not valid YAML: "
                          f"the control character {chr(err.character)!r} is not allowed") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid YAML: nested too deeply") from None


def _kind(data: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number", bool: "true/false"}.get(
        type(data), type(data).__name__)


# -- secrets ------------------------------------------------------------------------------------
def secret_entries(data: Any) -> Iterator[tuple[tuple, dict]]:
    """(location, mapping) of every mapping holding a secret key, in document order.

    A YAML alias is visited once, so a file of nested aliases costs its size, not its expansion.
    """
    seen: set[int] = set()
    stack: list[tuple[tuple, Any]] = [((), data)]
    while stack:
        loc, node = stack.pop()
        if not isinstance(node, (dict, list)):
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, dict):
            if any(isinstance(k, str) and k in SECRET_KEYS for k in node):
                yield loc, node
            stack.extend(((*loc, k), v) for k, v in reversed(list(node.items())))
        else:
            stack.extend(((*loc, i), v) for i, v in reversed(list(enumerate(node))))


def check_no_secrets(data: Any, path: str | Path) -> None:
    """A ``ConfigError`` naming the file and the entry when ``data`` holds an ``api_key``."""
    found = list(secret_entries(data))
    if not found:
        return
    loc, entry = found[0]
    label = next((f" ({k} {entry[k]!r})" for k in ("name", "model") if isinstance(entry.get(k), str)), "")
    more = f" (and {len(found) - 1} more entr{'y' if len(found) == 2 else 'ies'})" if len(found) > 1 else ""
    raise ConfigError(f"{path}: entry {field_path(loc) or '(top level)'}{label} holds an api_key{more}; "
                      f"a key never goes in a file (config files are copied into exports and to the Hub): "
                      f"{SECRET_FIX}")


def drop_secrets(data: Any) -> Any:
    """A copy of ``data`` (mappings and lists) without any secret key.

    >>> drop_secrets({"judges": [{"model": "m", "api_key": "sk-1"}]})
    {'judges': [{'model': 'm'}]}
    """
    if isinstance(data, dict):
        return {k: drop_secrets(v) for k, v in data.items() if not (isinstance(k, str) and k in SECRET_KEYS)}
    if isinstance(data, (list, tuple)):
        return [drop_secrets(v) for v in data]
    return data


# -- validation errors --------------------------------------------------------------------------
def field_path(loc: tuple | list) -> str:
    """A pydantic location as ``field.sub[2].name``.

    >>> field_path(("judges", 2, "name"))
    'judges[2].name'
    >>> field_path((0, "model"))
    '[0].model'
    """
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def format_errors(err: Any, where: str | Path, prefix: tuple = ()) -> str:
    """The one formatter of pydantic validation errors, for every config: one line per error,
    ``where: field 'judges[2].max_tokens': message (got value)``.

    ``where`` names the file or the config (``invalid recipe x.yaml``); ``prefix`` is the location
    of the validated object inside it. An unknown key reads ``unknown field``; the offending value is
    shown (shortened) except for a missing or unknown field.
    """
    lines = []
    for e in err.errors(include_url=False):
        if e["type"] == "extra_forbidden":
            msg, got = "unknown field", ""
        else:
            msg = re.sub(r"^(Value error|Assertion failed), ", "", e["msg"])
            got = "" if e["type"] == "missing" or isinstance(e.get("input"), (dict, list, tuple)) else f" (got {_short(e.get('input'))})"
        loc = field_path((*prefix, *e["loc"]))
        lines.append(f"{where}: field {loc!r}: {msg}{got}" if loc else f"{where}: {msg}{got}")
    return "\n".join(lines)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
