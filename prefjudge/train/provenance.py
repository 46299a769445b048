"""What a training run ran on: library versions, prefjudge's version and commit, the hardware, and a
fingerprint of the training data (``TrainOutput.environment`` and ``data_fingerprint``, so
``run.json``'s ``train`` entry).

>>> fp = data_fingerprint([{"prompt": "p", "chosen": "a", "rejected": "b"}], [])
>>> fp["n_train"], fp["n_eval"], len(fp["train_sha256"])
(1, 0, 64)
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

LIBRARIES = ("torch", "transformers", "trl", "peft", "bitsandbytes", "accelerate", "datasets", "tokenizers",
             "huggingface_hub", "safetensors", "pydantic", "numpy")


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries a run depends on (None: not installed), and Python's."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def prefjudge_source() -> dict[str, Any]:
    """prefjudge's version and, when it runs from a git checkout (or was installed from one, per
    ``direct_url.json``), the commit and whether the checkout had uncommitted changes."""
    import prefjudge

    package = Path(prefjudge.__file__).resolve().parent
    info: dict[str, Any] = {"version": prefjudge.__version__, "path": str(package), "commit": None, "dirty": None}
    if (package.parent / ".git").exists():
        info["commit"] = _git(package.parent, "rev-parse", "HEAD")
        status = _git(package.parent, "status", "--porcelain", "--untracked-files=no")
        info["dirty"] = bool(status) if status is not None else None
        return info
    try:
        from importlib.metadata import distribution

        direct = distribution("prefjudge").read_text("direct_url.json")
        vcs = json.loads(direct).get("vcs_info", {}) if direct else {}
        info["commit"] = vcs.get("commit_id")
    except Exception:  # noqa: BLE001 - provenance is best effort: a missing record is None, not a failure
        pass
    return info


def _memory_gb() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def hardware() -> dict[str, Any]:
    """The machine: OS, CPU, cores, RAM and, when torch sees CUDA, each GPU's name and memory."""
    info: dict[str, Any] = {
        "platform": platform.platform(), "machine": platform.machine(), "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(), "memory_gb": _memory_gb(), "gpus": [], "cuda": None,
    }
    torch = sys.modules.get("torch")
    if torch is None:
        return info
    info["torch_threads"] = torch.get_num_threads()
    if torch.cuda.is_available():
        info["cuda"] = torch.version.cuda
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            info["gpus"].append({"name": props.name, "memory_gb": round(props.total_memory / 2**30, 1)})
    return info


def fingerprint(rows: list[dict]) -> str:
    """sha256 of the rows as canonical JSON lines (keys sorted): the same rows in the same order,
    the same fingerprint."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def data_fingerprint(train: list[dict], eval_rows: list[dict]) -> dict[str, Any]:
    """Fingerprints of the rows the trainer received (formatted, after filters and the split)."""
    return {"train_sha256": fingerprint(train), "eval_sha256": fingerprint(eval_rows),
            "n_train": len(train), "n_eval": len(eval_rows),
            "what": "sha256 of the formatted rows handed to TRL, as sorted-key JSON lines"}


def environment() -> dict[str, Any]:
    """``{"libraries", "prefjudge", "hardware"}`` for ``TrainOutput.environment``."""
    return {"libraries": library_versions(), "prefjudge": prefjudge_source(), "hardware": hardware()}
