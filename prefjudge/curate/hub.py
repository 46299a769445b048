"""Push a preference set to the Hugging Face Hub: data, dataset card, audit, curation report and run config.

What ``Dataset.push_to_hub`` offers, plus the card and the audit: the export is written to a
temporary folder (:func:`prefjudge.curate.export.write_folder`: parquet shards, README.md card,
``curation_report.json``, ``audit.json``, ``prefjudge_config.yaml``) and uploaded in one commit with
``HfApi.upload_folder(delete_patterns=...)``, whose patterns remove the config's earlier data files
that this push does not replace (so ``load_dataset`` never mixes in stale shards). Steps:

1. ``create_repo`` (a private dataset repo unless ``private=False``; ``exist_ok``: an existing repo
   keeps its visibility), and ``create_branch`` for a ``revision`` that is not a PR ref;
2. the card's ``configs`` keep the other configs of the repo's current README.md (as
   ``Dataset.push_to_hub`` does), so pushing ``config_name="b"`` does not hide config ``a``;
3. ``upload_folder``: the data goes to ``data_dir`` (default ``data`` for the ``default`` config,
   else the config's name); the curation report, audit and config go to the top of the repo for the
   ``default`` config, and into ``data_dir`` for another one.

The token is resolved by huggingface_hub (``token=`` argument, ``HF_TOKEN``, or the saved login);
prefjudge never reads it. The endpoint is ``HF_ENDPOINT`` or the ``endpoint=`` argument.
"""

from __future__ import annotations

import tempfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from prefjudge.curate.export import check_line, check_not_empty, check_split, n_shards, write_folder
from prefjudge.errors import InputError
from prefjudge.textcheck import text_problem

if TYPE_CHECKING:
    from huggingface_hub import CommitInfo, CommitOperationAdd, HfApi


def hub_operations(folder: str | Path) -> list[CommitOperationAdd]:
    """One ``CommitOperationAdd`` per file of an export folder, paths relative to it, sorted."""
    from huggingface_hub import CommitOperationAdd

    root = Path(folder)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return [CommitOperationAdd(path_in_repo=p.relative_to(root).as_posix(), path_or_fileobj=str(p)) for p in files]


def check_repo_id(repo_id: Any) -> str:
    if not isinstance(repo_id, str) or repo_id.count("/") > 1 or not repo_id.strip("/"):
        raise InputError(f"repo_id must look like 'user/name', not {repo_id!r}", field="repo_id")
    return repo_id


def check_data_dir(data_dir: Any, field: str = "data_dir") -> str:
    """A relative folder in the repo: no absolute path, no ``..``, no blanks or control characters."""
    problem = text_problem(data_dir) if isinstance(data_dir, str) else f"must be a string, not {type(data_dir).__name__}"
    parts = PurePosixPath(data_dir).parts if isinstance(data_dir, str) else ()
    if problem or not parts or data_dir.startswith("/") or "\\" in data_dir or any(p in ("..", ".") for p in parts) \
            or any(p != p.strip() or not p for p in parts):
        raise InputError(problem or f"must be a relative folder like 'data' or 'my_config', not {data_dir!r}", field=field)
    return PurePosixPath(data_dir).as_posix()


def push_to_hub(prefs: Any, repo_id: str, *, private: bool = True, token: str | None = None, audit: Any = None,
                config: Any = None, commit_message: str | None = None, endpoint: str | None = None,
                split: str = "train", license: str = "other", pretty_name: str | None = None,
                revision: str | None = None, create_pr: bool = False, max_shard_size: int | str | None = None,
                num_shards: int | None = None, config_name: str = "default", data_dir: str | None = None,
                commit_description: str | None = None) -> CommitInfo:
    """Upload ``prefs`` (PreferenceSet or Dataset) as parquet with its card to the dataset repo ``repo_id``.

    Everything after ``repo_id`` is keyword-only. ``private`` defaults to True (a new repo).
    ``audit``: an AuditReport (its Markdown summary goes into the card, its JSON next to the data).
    ``config``: the run's configuration (pydantic model, dict or YAML path), uploaded as
    ``prefjudge_config.yaml``. As in ``Dataset.push_to_hub``: ``split``; ``config_name`` (not
    ``"data"``) and ``data_dir`` (default ``data``, or the config's name); ``max_shard_size``
    (default ``"500MB"``) or ``num_shards``; ``commit_message``, ``commit_description``; ``revision``
    (a branch, created when missing) or ``create_pr`` (a pull request against the main branch);
    ``token``. A push replaces every earlier file under ``data_dir``. Returns huggingface_hub's
    ``CommitInfo``. Everything is checked before anything is written or sent.
    """
    from huggingface_hub import HfApi

    check_repo_id(repo_id)
    check_split(split)
    check_line(pretty_name, "pretty_name")
    check_line(license, "license")
    config_name = check_data_dir(config_name, "config_name")
    if config_name == "data" or "/" in config_name:
        raise InputError(f"must be a plain name other than 'data' (as in datasets), not {config_name!r}", field="config_name")
    data_dir = check_data_dir(data_dir if data_dir is not None else ("data" if config_name == "default" else config_name))
    if create_pr and revision is not None:
        raise InputError("a pull request (create_pr=True) is opened against the main branch: leave revision unset",
                         field="revision")
    check_not_empty(prefs)
    ds = getattr(prefs, "dataset", prefs)
    shards = n_shards(ds, num_shards, max_shard_size)
    api = HfApi(endpoint=endpoint, token=token)
    with tempfile.TemporaryDirectory(prefix="prefjudge-push-") as tmp:
        folder = Path(tmp) / "export"
        folder.mkdir()
        write_folder(prefs, folder, format="parquet", audit=audit, config=config, split=split, license=license,
                     pretty_name=pretty_name, data_dir=data_dir, config_name=config_name, n_shards=shards)
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        if revision is not None and not revision.startswith("refs/pr/"):
            api.create_branch(repo_id, branch=revision, repo_type="dataset", exist_ok=True)
        keep_other_configs(folder / "README.md", other_configs(api, repo_id, revision, config_name, Path(tmp) / "remote"))
        message = commit_message or f"prefjudge: {len(ds)} preference pairs"
        return api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type="dataset", revision=revision,
                                 create_pr=create_pr, commit_message=message, commit_description=commit_description,
                                 delete_patterns=[f"{data_dir}/*"])


def other_configs(api: HfApi, repo_id: str, revision: str | None, config_name: str, where: Path) -> list[dict[str, Any]]:
    """The ``configs`` entries of the repo's current README.md other than ``config_name`` (none for a
    new repo or one without a card)."""
    from huggingface_hub import DatasetCard
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        path = api.hf_hub_download(repo_id, "README.md", repo_type="dataset", revision=revision, local_dir=str(where))
    except (EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError):
        return []
    configs = DatasetCard.load(path).data.to_dict().get("configs") or []
    return [c for c in configs if isinstance(c, dict) and c.get("config_name", "default") != config_name]


def keep_other_configs(card_path: Path, others: list[dict[str, Any]]) -> None:
    """Put the repo's other configs before this push's in the card's ``configs``."""
    if not others:
        return
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(card_path)
    card.data.configs = [*others, *(card.data.to_dict().get("configs") or [])]
    card.save(card_path)
