"""Push a trained adapter or a merged model folder (with its model card) to the Hugging Face Hub.

One upload of the folder as saved (``HfApi.upload_folder``): nothing is reloaded, and the card
(``README.md``, :mod:`prefjudge.train.card`) goes with the weights. The token is whatever
``huggingface_hub`` resolves (``HF_TOKEN``, ``huggingface-cli login``); prefjudge never reads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefjudge.errors import InputError

#: Files of a training folder that are not published (checkpoints, logs, prefjudge's own records
#: stay; ``prefjudge_training.json`` is kept: the card's source).
IGNORE = ["checkpoint-*", "checkpoint-*/**", "runs/**", "*.pt", "optimizer*", "scheduler*", "rng_state*",
          "trainer_state.json", "training_args.bin"]


def push_folder(folder: str | Path, repo_id: str, *, private: bool = True, commit_message: str | None = None,
                api: Any = None) -> dict[str, Any]:
    """Create ``repo_id`` (a model repo, ``private`` by default; an existing repo is kept) and
    upload ``folder``; returns ``{"repo_id", "folder", "commit"}``."""
    folder = Path(folder)
    if not (folder / "README.md").is_file():
        raise InputError(f"{folder} has no README.md model card; prefjudge writes one after training and merging",
                         field="folder")
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi()
    api.create_repo(repo_id=repo_id, repo_type="model", private=private, exist_ok=True)
    info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model",
                             commit_message=commit_message or f"Upload {folder.name} with prefjudge",
                             ignore_patterns=IGNORE)
    commit = getattr(info, "oid", None) or getattr(info, "commit_url", None) or (str(info) if info else None)
    return {"repo_id": repo_id, "folder": str(folder), "commit": commit}
