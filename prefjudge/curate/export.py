"""Export a preference set to a folder that ``datasets.load_dataset(folder)`` reads back.

Layout (``format`` = ``"parquet"``, ``"jsonl"`` or ``"disk"``)::

    out/
      README.md                      dataset card; its YAML ``configs`` names the data files
      data/train-00000-of-00001-<hash>.parquet   (or .jsonl, or data/train/ written by save_to_disk)
      curation_report.json           every step, rows removed and why
      audit.json                     when an audit with ``to_dict()`` was given
      prefjudge_config.yaml          the run's configuration, when given

``load_dataset("out", split="train")`` works for all three formats; the ``disk`` format can also
be read with ``datasets.load_from_disk("out/data/train")``. ``PreferenceSet.save_to_disk(path)`` is
this export in the ``disk`` format. Every file of a run with simulated judges or generators opens
with the SIMULATED mark (:mod:`prefjudge.simulated`): a ``simulated`` key first in the JSON files, a
comment atop the config, a banner atop the card.
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


def data_path(format: ExportFormat, split: str = "train", data_dir: str = "data", shard: int = 0, n_shards: int = 1) -> str:
    """Where the data goes, relative to the export folder (before the content hash is added to the name)."""
    if format in ("parquet", "jsonl"):
        return f"{data_dir}/{split}-{shard:05d}-of-{n_shards:05d}.{format}"
    if format == "disk":
        return f"{data_dir}/{split}"
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
    data_path(format, check_split(split))
    check_line(pretty_name, "pretty_name")
    check_line(license, "license")
    check_not_empty(prefs)
    _prepare(out, overwrite)
    write_folder(prefs, out, format=format, audit=audit, config=config, split=split, license=license,
                 pretty_name=pretty_name)
    return out


def check_not_empty(prefs: Any) -> None:
    if len(getattr(prefs, "dataset", prefs)) == 0:
        report = getattr(prefs, "report", None)
        raise InputError("nothing to export: the preference set is empty" + (f"; the curation steps:\n{report}" if report else ""))


def write_folder(prefs: Any, out: Path, *, format: ExportFormat = "parquet", audit: Any = None, config: Any = None,
                 split: str = "train", license: str = "other", pretty_name: str | None = None, data_dir: str = "data",
                 config_name: str = "default", n_shards: int = 1) -> list[str]:
    """The export's files in ``out`` (arguments checked by the caller): the data under ``data_dir``
    in ``n_shards`` files, the card (its ``configs`` entry names them), and the
    curation report, audit and config (at the top for the ``default`` config, else in ``data_dir``
    beside the data, so that configs pushed to one repo keep their own). Returns the data files,
    relative to ``out``."""
    from prefjudge.curate.card import build_card

    files = write_data(prefs, out, format, split, data_dir, n_shards)
    side = out if config_name == "default" else out / data_dir
    side.mkdir(parents=True, exist_ok=True)
    written = write_sidecars(prefs, side, audit=audit, config=config)
    prefix = "" if side == out else f"{data_dir}/"
    path: str | list[str] = files[0] if len(files) == 1 else files
    card = build_card(prefs, audit=audit, pretty_name=pretty_name, license=license,
                      data_files=[{"split": split, "path": path}], config_name=config_name,
                      config_file=prefix + CONFIG_FILE if CONFIG_FILE in written else None,
                      config=config)
    (out / "README.md").write_text(str(card), encoding="utf-8")
    return files


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


def write_data(prefs: Any, out: Path, format: ExportFormat, split: str = "train", data_dir: str = "data",
               n_shards: int = 1) -> list[str]:
    """Write the rows under ``out/data_dir`` in ``n_shards`` files (``disk``: one Arrow folder); return the
    data files relative to ``out`` (each name carries a content hash, see :func:`_stamp`)."""
    ds = getattr(prefs, "dataset", prefs)
    if not hasattr(ds, "to_parquet"):
        raise InputError(f"export needs a PreferenceSet or a datasets.Dataset, not {type(prefs).__name__}")
    if format == "disk":
        target = out / data_path(format, split, data_dir)
        ds.save_to_disk(str(target), num_shards=1)
        return [_stamp_disk(target).relative_to(out).as_posix()]
    files = []
    for i in range(n_shards):
        target = out / data_path(format, split, data_dir, i, n_shards)
        target.parent.mkdir(parents=True, exist_ok=True)
        shard = ds.shard(num_shards=n_shards, index=i, contiguous=True) if n_shards > 1 else ds
        if format == "parquet":
            shard.to_parquet(str(target))
        else:
            shard.to_json(str(target), lines=True, force_ascii=False)
        files.append(_stamp(target).relative_to(out).as_posix())
    return files


def n_shards(ds: Any, num_shards: int | None = None, max_shard_size: int | str | None = None) -> int:
    """How many data files: ``num_shards``, else enough that none exceeds ``max_shard_size`` (bytes, or
    ``"500MB"`` as ``Dataset.push_to_hub`` takes it, its default), at most one per row."""
    if num_shards is not None and max_shard_size is not None:
        raise InputError("give num_shards or max_shard_size, not both", field="num_shards")
    if num_shards is not None:
        if isinstance(num_shards, bool) or not isinstance(num_shards, int) or not 1 <= num_shards <= max(len(ds), 1):
            raise InputError(f"must be an integer from 1 to the number of rows ({len(ds)}), not {num_shards!r}",
                             field="num_shards")
        return num_shards
    from datasets.utils.py_utils import convert_file_size_to_int

    try:
        limit = convert_file_size_to_int(max_shard_size if max_shard_size is not None else "500MB")
    except (ValueError, TypeError):
        limit = 0
    if limit <= 0:
        raise InputError(f"must be a size like '500MB' or a number of bytes, not {max_shard_size!r}", field="max_shard_size")
    size = ds._estimate_nbytes() if hasattr(ds, "_estimate_nbytes") else ds.data.nbytes
    return max(1, min(len(ds), -(-int(size) // limit)))


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
    from prefjudge.curate.card import run_marker
    from prefjudge.simulated import KEY, headline

    written = []
    sim = run_marker(prefs, audit)  # each file opens with the SIMULATED mark (None: real judges and generators)
    report = getattr(prefs, "report", None)
    if report is not None:
        doc = {KEY: sim, "report": report.to_dict(), "provenance": _jsonable(getattr(prefs, "provenance", {}))}
        (out / "curation_report.json").write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
        written.append("curation_report.json")
    if audit is not None and hasattr(audit, "to_dict"):
        data = audit.to_dict()
        data = {KEY: data.get(KEY) or sim, **{k: v for k, v in data.items() if k != KEY}} if sim else data
        (out / "audit.json").write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
        written.append("audit.json")
    if config is not None:
        text = config_yaml(config)
        if sim:
            text = f"# {headline(sim)}\n" + text
        (out / CONFIG_FILE).write_text(text, encoding="utf-8")
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
