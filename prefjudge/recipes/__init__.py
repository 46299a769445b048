"""Config-driven recipes: the schema (YAML validated by pydantic), loading (built-in names, profiles,
paths anchored to the recipe), the runner and its steps (curate, train, merge, evaluate), dry-run
plans, and the built-in recipes shipped as package data (``builtin/``).

This layer composes the ones below it: curation, training, judging and the audit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefjudge._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "run_recipe": ".runner",
    "load_recipe": ".loading",
    "find_recipe": ".loading",
    "builtin_recipes": ".loading",
    "Recipe": ".schema",
    "evaluate": ".evaluation",
    "EvalResult": ".evaluation",
    "build_llm_twin_dataset": ".llm_twin",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from prefjudge.recipes.evaluation import EvalResult, evaluate
    from prefjudge.recipes.llm_twin import build_llm_twin_dataset
    from prefjudge.recipes.loading import builtin_recipes, find_recipe, load_recipe
    from prefjudge.recipes.runner import run_recipe
    from prefjudge.recipes.schema import Recipe


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
