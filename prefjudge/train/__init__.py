"""Training: QLoRA DPO/SFT with TRL, adapter merge, memory estimates, evaluation, recipes.

Importing this package is cheap: torch, transformers, trl, peft and bitsandbytes are imported
inside the functions that need them. Public names load on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

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

if TYPE_CHECKING:  # pragma: no cover
    from .architectures import ModelDims
    from .common import TrainOutput
    from .config import TrainConfig, config_from_dict, load_config
    from .dpo import train_dpo
    from .evaluation import EvalResult, evaluate, generate_answers, simulated_jury
    from .llm_twin import build_llm_twin_dataset
    from .memory import MemoryEstimate, estimate_memory
    from .merging import MergeCheckError, MergeResult, merge
    from .recipes import load_recipe
    from .run import run_recipe
    from .sft import train_sft
    from .sources import LOADERS


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
