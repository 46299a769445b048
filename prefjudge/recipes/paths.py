"""Where paths point, one rule for recipes and the commands that run them (docs/recipes.md, "Paths").

- A path written in a recipe file is relative to the recipe's folder (:func:`in_recipe`); a model
  or dataset name there is a folder beside the recipe when one exists, else a Hub id
  (:func:`local_or_name`). ``load_recipe`` anchors them all when it loads the file.
- A path given on the command line or to ``run_recipe`` (``--out``, ``--judges-file``,
  ``PREFJUDGE_JUDGES``, the recipe file itself) is relative to the current directory and made
  absolute where it comes in (:func:`cli_path`, :func:`output_dir`).
- A derived path (``@curate``: an earlier step's output) lies under the run's output folder,
  which is absolute by then.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from prefjudge.errors import ConfigError


def cli_path(value: str | Path) -> Path:
    """``value`` made absolute against the current directory (``~``, ``..`` and symlinks resolved).

    >>> cli_path("/tmp/a b/../ü").as_posix().endswith("/ü")
    True
    """
    return Path(value).expanduser().resolve()


def in_recipe(value: str, recipe_dir: Path) -> str:
    """A path written in a recipe, absolute (a relative one is relative to ``recipe_dir``).

    >>> in_recipe("data/p.jsonl", Path("/r")), in_recipe("/abs/p.jsonl", Path("/r"))
    ('/r/data/p.jsonl', '/abs/p.jsonl')
    """
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (Path(recipe_dir) / path).resolve())


def local_or_name(value: str, recipe_dir: Path) -> str:
    """A model, tokenizer or dataset named in a recipe: the file or folder beside the recipe when
    one exists there, else the value as written (a Hub id, a template name, an absolute path)."""
    path = Path(value).expanduser()
    if path.is_absolute():
        return str(path)
    local = Path(recipe_dir) / path
    try:
        found = local.exists()
    except (OSError, ValueError):  # not a file name at all (a Jinja template, a very long string)
        found = False
    return str(local.resolve()) if found else value


def output_dir(value: str | Path) -> Path:
    """An output folder, absolute and created; an existing file there is a ``ConfigError``."""
    path = cli_path(value)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"output folder {path} is an existing file; give a new or existing folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"cannot create the output folder {path}: {err.strerror or err}") from None
    return path


def fresh_dir(parent: str | Path, stem: str) -> Path:
    """A new folder ``parent/stem``, or ``stem-2``, ``stem-3``... when that one is taken (created
    with ``exist_ok=False``, so two runs started in the same second never share a folder)."""
    parent = output_dir(parent)
    for i in itertools.count(1):
        path = parent / (stem if i == 1 else f"{stem}-{i}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        except OSError as err:
            raise ConfigError(f"cannot create the output folder {path}: {err.strerror or err}") from None
        return path
    raise AssertionError("unreachable")
