"""Export a preference set to a folder that ``datasets.load_dataset(folder)`` reads back.

Layout (``format`` = ``"parquet"``, ``"jsonl"`` or ``"disk"``)::

    out/
      README.md                      dataset card; its YAML ``configs`` names the data files
      data/train-00000-of-00001-<hash>.parquet   (or .jsonl, or data/train/ written by save_to_disk)
      curation_report.json           every step, rows removed and why
      audit.json                     when an audit with ``to_dict()`` was given
      prefjudge_config.yaml          the run's configuration, when given

``load_dataset("out", split="train")`` works for all three formats; the ``disk`` format can also
be read with ``datasets.load_from_disk("out/data/train")``.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any, Literal

from prefjudge.errors import InputError
from prefjudge.textcheck import text_problem

ExportFormat = Literal["parquet", "jsonl", "disk"]
CONFIG_FILE = "prefjudge_config.yaml"
_OWN_FILES = ("README.md", "curation_report.json", "audit.json", CONFIG_FILE)
#: What ``datasets`` accepts as a split name (``datasets.naming._split_re``): word characters and dots.
SPLIT_RE = re.compile(r"^\w+(\.\w+)*$")


def check_split(split: Any) -> str:
    """A split name is a plain file-name part: no path separators, ``..``, absolute paths, NUL or blanks.

    >>> check_split("validation.v2")
    'validation.v2'
    >>> check_split("../../escape")
    Traceback (most recent call last):
    ...
    prefjudge.errors.InputError: field 'split': must be a plain name (letters, digits, '_' and inner dots, like 'train' or 'test.v2'), not '../../escape': it becomes part of a file name under the export folder
    """
    if not isinstance(split, str):
        raise InputError(f"must be a string, not {type(split).__name__}", field="split")
    problem = text_problem(split)
    if problem:
        raise InputError(problem, field="split")
    if not SPLIT_RE.match(split):
        raise InputError("must be a plain name (letters, digits, '_' and inner dots, like 'train' or 'test.v2'), "
                         f"not {split!r}: it becomes part of a file name under the export folder", field="split")
    return split


def check_line(value: Any, field: str) -> Any:
    """A one-line string for the dataset card (``pretty_name``, ``license``), or None for ``pretty_name``."""
    if value is None and field == "pretty_name":
        return None
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"must be a non-empty string, not {value!r}", field=field)
    problem = text_problem(value)
    if problem:
        raise InputError(problem, field=field)
    if any(c in value for c in "\r\n\x0b\x0c\x85\u2028\u2029"):
        raise InputError(f"must be one line (it goes into the dataset card's header), not {value!r}", field=field)
    return value


def data_path(format: ExportFormat, split: str = "train") -> str:
    """Where the data goes, relative to the export folder (before the content hash is added to the name)."""
    if format == "parquet":
        return f"data/{split}-00000-of-00001.parquet"
    if format == "jsonl":
        return f"data/{split}-00000-of-00001.jsonl"
    if format == "disk":
        return f"data/{split}"
    raise InputError(f"format must be 'parquet', 'jsonl' or 'disk', not {format!r}", field="format")


def export(prefs: Any, path: str | Path, *, format: ExportFormat = "parquet", audit: Any = None, config: Any = None,
           split: str = "train", license: str = "other", pretty_name: str | None = None, overwrite: bool = False) -> Path:
    """Write the data, the dataset card, the curation report (and audit, run config) to ``path``.

    ``prefs``: a PreferenceSet (from ``to_preferences``) or a ``datasets.Dataset``.
    ``config``: the run's configuration (a pydantic model, a dict, or the path of a YAML file).
    ``overwrite``: replace an earlier export in ``path`` (only its ``data/`` folder and the files above).
    ``split``: a plain name (:func:`check_split`: no path parts); ``pretty_name``, ``license``: one line
    each (they go into the card's header). All are checked before anything is written.
    """
    out = Path(path)
    rel = data_path(format, check_split(split))
    check_line(pretty_name, "pretty_name")
    check_line(license, "license")
    if len(getattr(prefs, "dataset", prefs)) == 0:
        report = getattr(prefs, "report", None)
        raise InputError("nothing to export: the preference set is empty" + (f"; the curation steps:\n{report}" if report else ""))
    _prepare(out, overwrite)
    pattern = write_data(prefs, out / rel, format).relative_to(out).as_posix()
    files = write_sidecars(prefs, out, audit=audit, config=config)
    from prefjudge.curate.card import build_card

    card = build_card(prefs, audit=audit, pretty_name=pretty_name, license=license,
                      data_files=[{"split": split, "path": pattern}], config_file=CONFIG_FILE if CONFIG_FILE in files else None)
    (out / "README.md").write_text(str(card), encoding="utf-8")
    return out


def _prepare(out: Path, overwrite: bool) -> None:
    existing = [p.name for p in out.iterdir()] if out.exists() else []
    ours = [n for n in existing if n == "data" or n in _OWN_FILES]
    if ours and not overwrite:
        raise InputError(f"{out} already holds an export ({', '.join(sorted(ours))}); pass overwrite=True to replace it",
                         field="path")
    if (out / "data").exists():
        shutil.rmtree(out / "data")
    for name in _OWN_FILES:
        (out / name).unlink(missing_ok=True)
    (out / "data").mkdir(parents=True, exist_ok=True)


def write_data(prefs: Any, target: Path, format: ExportFormat) -> Path:
    """Write the rows; return the data file (its name carries a content hash, see :func:`_stamp`)."""
    ds = getattr(prefs, "dataset", prefs)
    if not hasattr(ds, "to_parquet"):
        raise InputError(f"export needs a PreferenceSet or a datasets.Dataset, not {type(prefs).__name__}")
    if format == "parquet":
        ds.to_parquet(str(target))
    elif format == "jsonl":
        ds.to_json(str(target), lines=True, force_ascii=False)
    else:
        ds.save_to_disk(str(target), num_shards=1)
        return _stamp_disk(target)
    return _stamp(target)


def _stamp(path: Path) -> Path:
    """Rename ``name.ext`` to ``name-<sha256 prefix>.ext``.

    ``datasets`` caches ``load_dataset(folder)`` under the folder's base name and the card's
    ``configs`` entry; with a fixed file name, a second export to another folder of the same name
    would load the first one's cached rows. The content hash in the path makes the cache key change
    exactly when the data does.
    """
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    stamped = path.with_name(f"{path.stem}-{digest}{path.suffix}")
    path.rename(stamped)
    return stamped


def _stamp_disk(folder: Path) -> Path:
    """The same for a ``save_to_disk`` folder: rename its arrow file and record the name in state.json."""
    state_file = folder / "state.json"
    state = json.loads(state_file.read_text())
    for entry in state["_data_files"]:
        entry["filename"] = _stamp(folder / entry["filename"]).name
    state_file.write_text(json.dumps(state, indent=2))
    return folder / state["_data_files"][0]["filename"]


def write_sidecars(prefs: Any, out: Path, *, audit: Any = None, config: Any = None) -> list[str]:
    """curation_report.json, audit.json and the run config; returns the names written."""
    written = []
    report = getattr(prefs, "report", None)
    if report is not None:
        doc = {"report": report.to_dict(), "provenance": _jsonable(getattr(prefs, "provenance", {}))}
        (out / "curation_report.json").write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
        written.append("curation_report.json")
    if audit is not None and hasattr(audit, "to_dict"):
        (out / "audit.json").write_text(json.dumps(audit.to_dict(), indent=2, default=str), encoding="utf-8")
        written.append("audit.json")
    if config is not None:
        (out / CONFIG_FILE).write_text(config_yaml(config), encoding="utf-8")
        written.append(CONFIG_FILE)
    return written


def config_yaml(config: Any) -> str:
    """The run's configuration as YAML text (pydantic model, dict, YAML text file path)."""
    import yaml

    from prefjudge.config_files import drop_secrets, load_yaml

    if isinstance(config, (str, Path)) and Path(config).is_file():
        load_yaml(config)  # copied as is: a file with an api_key (or not a config file) is refused
        return Path(config).read_text(encoding="utf-8")
    if hasattr(config, "model_dump"):
        config = config.model_dump(mode="json", exclude_none=True)
    if not isinstance(config, dict):
        raise InputError(f"config must be a pydantic model, a dict or a YAML file path, not {type(config).__name__}",
                         field="config")
    return yaml.safe_dump(_jsonable(drop_secrets(config)), sort_keys=False, allow_unicode=True)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
