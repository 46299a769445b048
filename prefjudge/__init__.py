"""prefjudge: trustworthy LLM-judged preference data for DPO.

``import prefjudge`` is cheap: heavy modules (torch, transformers, trl, peft, litellm, datasets,
matplotlib) load only when a function that needs them runs. Public names load on first access.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # judging
    "Judge": "prefjudge.judge",
    "rank_pairs": "prefjudge.rank",
    "arank_pairs": "prefjudge.rank",
    "RankResult": "prefjudge.result",
    "Store": "prefjudge.store",
    "majority": "prefjudge.aggregate",
    # data model
    "Pair": "prefjudge.types",
    "Judgment": "prefjudge.types",
    "Verdict": "prefjudge.types",
    "Completion": "prefjudge.types",
    "infer_family": "prefjudge.families",
    "parse_verdict": "prefjudge.parsing",
    "read_judgments": "prefjudge.judgments",
    "write_judgments": "prefjudge.judgments",
    # errors
    "PrefjudgeError": "prefjudge.errors",
    "InputError": "prefjudge.errors",
    "ConfigError": "prefjudge.errors",
}
_ALIASES = {"read_judgments": "normalize_judgments"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'prefjudge' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), _ALIASES.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
