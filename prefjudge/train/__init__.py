"""Training: QLoRA DPO/SFT with TRL, adapter merge, memory estimates, answers from local models.

This package imports nothing from curation, the audit or the testing helpers; recipes (which
compose training with judging) live in :mod:`prefjudge.recipes`.

Importing this package is cheap: torch, transformers, trl, peft and bitsandbytes are imported
inside the functions that need them. Public names load on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefjudge._lazy import lazy_exports

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
    "generate_answers": ".generation",
    "LOADERS": ".sources",
}

#: Names that moved out with the recipes (they compose training with judging): name -> new home.
_DEPRECATED: dict[str, str] = {
    "evaluate": "prefjudge.recipes.evaluation.evaluate",
    "EvalResult": "prefjudge.recipes.evaluation.EvalResult",
    "simulated_jury": "prefjudge.testing.jury.simulated_jury",
    "run_recipe": "prefjudge.recipes.runner.run_recipe",
    "load_recipe": "prefjudge.recipes.loading.load_recipe",
    "build_llm_twin_dataset": "prefjudge.recipes.llm_twin.build_llm_twin_dataset",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from prefjudge.train.architectures import ModelDims
    from prefjudge.train.common import TrainOutput
    from prefjudge.train.config import TrainConfig, config_from_dict, load_config
    from prefjudge.train.dpo import train_dpo
    from prefjudge.train.generation import generate_answers
    from prefjudge.train.memory import MemoryEstimate, estimate_memory
    from prefjudge.train.merging import MergeCheckError, MergeResult, merge
    from prefjudge.train.sft import train_sft
    from prefjudge.train.sources import LOADERS


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS, deprecated=_DEPRECATED)
