"""Push a preference set to the Hugging Face Hub: data, dataset card, curation report and run config.

Uses ``huggingface_hub.HfApi``: ``create_repo`` (a private dataset repo by default, ``exist_ok``),
then one ``create_commit`` with a ``CommitOperationAdd`` per exported file, and a
``CommitOperationDelete`` for data files of an earlier push that this one does not replace (so a
re-push never leaves stale shards that ``load_dataset`` would mix in). The token is resolved by
huggingface_hub (``token=`` argument, ``HF_TOKEN``, or the saved login); prefjudge never reads it.
The endpoint is ``HF_ENDPOINT`` or the ``endpoint=`` argument.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefjudge.curate.export import export
from prefjudge.errors import InputError

if TYPE_CHECKING:
    from huggingface_hub import CommitInfo, CommitOperationAdd, HfApi


def hub_operations(folder: str | Path) -> list[CommitOperationAdd]:
    """One ``CommitOperationAdd`` per file of an export folder, paths relative to it, sorted."""
    from huggingface_hub import CommitOperationAdd

    root = Path(folder)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return [CommitOperationAdd(path_in_repo=p.relative_to(root).as_posix(), path_or_fileobj=str(p)) for p in files]


def stale_data_files(api: HfApi, repo_id: str, keep: set[str], revision: str | None = None) -> list[str]:
    """Files under ``data/`` in the repo that the new commit does not write (empty for a new repo)."""
    from huggingface_hub.errors import HfHubHTTPError

    try:
        tree = list(api.list_repo_tree(repo_id, path_in_repo="data", repo_type="dataset", recursive=True, revision=revision))
    except HfHubHTTPError as e:
        if e.response is not None and e.response.status_code == 404:
            return []
        raise
    return sorted(f.path for f in tree if hasattr(f, "size") and f.path not in keep)


def push_to_hub(prefs: Any, repo_id: str, private: bool = True, token: str | None = None, audit: Any = None,
                config: Any = None, *, commit_message: str | None = None, endpoint: str | None = None,
                split: str = "train", license: str = "other", pretty_name: str | None = None,
                revision: str | None = None) -> CommitInfo:
    """Upload ``prefs`` (PreferenceSet or Dataset) as parquet with its card to the dataset repo ``repo_id``.

    ``private`` defaults to True. ``audit``: an AuditReport (its Markdown summary goes into the card,
    its JSON next to the data). ``config``: the run's configuration (pydantic model, dict or YAML path),
    uploaded as ``prefjudge_config.yaml``. Returns huggingface_hub's ``CommitInfo``.
    """
    from huggingface_hub import CommitOperationDelete, HfApi

    if not isinstance(repo_id, str) or repo_id.count("/") > 1 or not repo_id.strip("/"):
        raise InputError(f"repo_id must look like 'user/name', not {repo_id!r}", field="repo_id")
    api = HfApi(endpoint=endpoint, token=token)
    with tempfile.TemporaryDirectory(prefix="prefjudge-push-") as tmp:
        export(prefs, tmp, format="parquet", audit=audit, config=config, split=split, license=license,
               pretty_name=pretty_name)
        ops: list[Any] = hub_operations(tmp)
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        stale = stale_data_files(api, repo_id, {op.path_in_repo for op in ops}, revision)
        ops += [CommitOperationDelete(path_in_repo=p) for p in stale]
        message = commit_message or f"prefjudge: {len(getattr(prefs, 'dataset', prefs))} preference pairs"
        return api.create_commit(repo_id, ops, commit_message=message, repo_type="dataset", revision=revision)
