"""Training: QLoRA DPO/SFT with TRL, adapter merge, memory estimates, evaluation, recipes.

Importing this package is cheap: torch, transformers, trl, peft and bitsandbytes are imported
inside the functions that need them. Public names load on first access.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "TrainConfig": ".config",
    "load_config": ".config",
    "config_from_dict": ".config",
    "TrainOutput": ".common",
    "train_dpo": ".dpo",
    "train_sft": ".sft",
    "merge": ".merging",
    "MergeResult": ".merging",
    "MergeCheckError": ".merging",
    "estimate_memory": ".memory",
    "MemoryEstimate": ".memory",
    "ModelDims": ".architectures",
    "evaluate": ".evaluation",
    "EvalResult": ".evaluation",
    "simulated_jury": ".evaluation",
    "generate_answers": ".evaluation",
    "run_recipe": ".run",
    "load_recipe": ".recipes",
    "build_llm_twin_dataset": ".llm_twin",
    "LOADERS": ".sources",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'prefjudge.train' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
