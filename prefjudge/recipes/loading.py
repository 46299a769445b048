"""Finding and loading recipe files: a built-in name or a path, a profile applied, every training
config validated, every path anchored to the recipe's folder (:mod:`prefjudge.recipes.paths`)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from prefjudge.errors import ConfigError
from prefjudge.recipes.schema import (
    BuildTwinStep,
    CurateStep,
    EvalStep,
    IterateStep,
    MergeStep,
    Recipe,
    TrainStep,
    _check_refs,
    _validate,
    apply_profile,
    is_ref,
)
from prefjudge.recipes.steps import anchor_curate_config, check_curate_step
from prefjudge.train.config import config_from_dict, read_yaml

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"
"""The recipes shipped with prefjudge (package data), their local samples in ``data/`` and
``judges.yaml``, an example judges file."""

BUILTIN_EXTRAS = {"judges": "example judges file for the full profiles: prefjudge recipe show judges > judges.yaml"}
"""Built-in YAML files that are not recipes (``prefjudge recipe show`` prints them)."""

ACCELERATE_DIR = BUILTIN_DIR / "accelerate"
"""``accelerate launch --config_file`` files for the common multi-GPU set-ups (DDP on one machine or
several, FSDP with QLoRA, DeepSpeed ZeRO-2 and ZeRO-3 with QLoRA); see docs/recipes.md."""


def accelerate_configs() -> dict[str, Path]:
    """The shipped accelerate configs by name (``accelerate/fsdp_qlora``...).

    >>> sorted(accelerate_configs())[0]
    'accelerate/deepspeed_zero2'
    """
    return {f"accelerate/{p.stem}": p for p in sorted(ACCELERATE_DIR.glob("*.yaml"))}


def builtin_recipes() -> dict[str, Path]:
    """The built-in recipes by name.

    >>> builtin_recipes()["neuralhermes"].name
    'neuralhermes.yaml'
    """
    return {p.stem: p for p in sorted(BUILTIN_DIR.glob("*.yaml")) if p.stem not in BUILTIN_EXTRAS}


def is_bare_name(value: str | Path) -> bool:
    """A name with no folder and no ``.yaml``/``.yml`` suffix (``neuralhermes``, not ``./x.yaml``).

    >>> is_bare_name("neuralhermes"), is_bare_name("recipes/neuralhermes.yaml"), is_bare_name("x.yml")
    (True, False, False)
    """
    text = str(value)
    return bool(text) and "/" not in text and "\\" not in text and not text.endswith((".yaml", ".yml"))


def find_recipe(value: str | Path) -> Path:
    """The recipe file ``value`` names: an existing file (relative to the current directory, as
    given), else, for a bare name (:func:`is_bare_name`), the built-in recipe of that name; an
    unknown name is a ``ConfigError`` listing the built-ins. Any other path comes back as given
    (its reader says it is missing).

    >>> find_recipe("neuralhermes") == BUILTIN_DIR / "neuralhermes.yaml"
    True
    """
    path = Path(value).expanduser()
    if path.exists():
        return path
    builtin = builtin_recipes()
    if is_bare_name(value):
        if str(value) in builtin:
            return builtin[str(value)]
        raise ConfigError(f"no recipe file {str(value)!r} and no built-in recipe of that name; "
                          f"built-in: {', '.join(builtin)} (prefjudge recipe list)")
    if path.parent.name == "recipes" and path.stem in builtin:  # the layout before the recipes were package data
        raise ConfigError(f"no recipe file {value}: the built-in recipes ship inside prefjudge and are named "
                          f"without a folder: prefjudge recipe run {path.stem} (load_recipe({path.stem!r}))")
    return path


def load_recipe(path: str | Path, profile: str = "full") -> Recipe:
    """Load a recipe file (or a built-in recipe by name, :func:`find_recipe`) with a profile
    applied, and validate every training config in it.

    Errors name the field, e.g. ``field 'steps.0.config.dpo.beta'``. Every path written in the
    file comes back absolute, anchored to the file's folder (:func:`anchor_paths`).
    """
    path = find_recipe(path)
    raw = read_yaml(path)
    recipe = _validate(apply_profile(raw, profile, str(path)), str(path))
    for i, step in enumerate(recipe.steps):
        if isinstance(step, TrainStep):
            config_from_dict(step.config, source=f"recipe {path}, step {step.id!r} (steps.{i}.config)")
        elif isinstance(step, CurateStep):
            check_curate_step(step, f"recipe {path}, step {step.id!r} (steps.{i}.config)")
        elif isinstance(step, IterateStep):
            from prefjudge.recipes.iterate import check_iterate_step

            check_iterate_step(step, f"recipe {path}, step {step.id!r} (steps.{i})")
    _check_refs(recipe, str(path))
    return anchor_paths(recipe, Path(path).expanduser().resolve().parent)


def anchor_paths(recipe: Recipe, recipe_dir: Path) -> Recipe:
    """The recipe with every path written in it made absolute against ``recipe_dir`` (the rule of
    :mod:`prefjudge.recipes.paths`): files, stores and folders by :func:`~prefjudge.recipes.paths.in_recipe`;
    model and dataset names by :func:`~prefjudge.recipes.paths.local_or_name` (a folder beside the
    recipe, else a Hub id); ``@id`` references stay (they resolve under the run's output folder)."""
    from prefjudge.recipes.paths import in_recipe, local_or_name

    def path(v: str | None) -> str | None:
        return in_recipe(v, recipe_dir) if v and not is_ref(v) else v

    def name(v: str | None) -> str | None:
        return local_or_name(v, recipe_dir) if v and not is_ref(v) else v

    steps = []
    for step in recipe.steps:
        update: dict[str, Any] = {}
        if isinstance(step, TrainStep):
            config = copy.deepcopy(step.config)
            model, data = config.get("model"), config.get("data")
            if isinstance(model, dict) and isinstance(model.get("name_or_path"), str):
                model["name_or_path"] = name(model["name_or_path"])
            if isinstance(data, dict) and isinstance(data.get("path"), str):
                data["path"] = path(data["path"])
            update = {"config": config, "sample": path(step.sample)}
        elif isinstance(step, MergeStep):
            update = {"base": name(step.base), "adapters": [name(a) for a in step.adapters]}
        elif isinstance(step, BuildTwinStep):
            update = {"articles": path(step.articles)}
        elif isinstance(step, CurateStep):
            update = {"config": anchor_curate_config(step.config, recipe_dir), "judges_file": path(step.judges_file)}
        elif isinstance(step, EvalStep):
            update = {"trained": name(step.trained), "base": name(step.base), "prompts": path(step.prompts),
                      "jury": step.jury.model_copy(update={"judges_file": path(step.jury.judges_file)})}
        elif isinstance(step, IterateStep):
            train = copy.deepcopy(step.train)
            if isinstance(train.get("model"), dict) and isinstance(train["model"].get("name_or_path"), str):
                train["model"]["name_or_path"] = name(train["model"]["name_or_path"])
            ev = copy.deepcopy(step.eval)
            if isinstance(ev.get("prompts"), str):
                ev["prompts"] = path(ev["prompts"])
            if isinstance(ev.get("jury"), dict) and isinstance(ev["jury"].get("judges_file"), str):
                ev["jury"]["judges_file"] = path(ev["jury"]["judges_file"])
            update = {"prompts": path(step.prompts), "judges_file": path(step.judges_file), "train": train, "eval": ev,
                      "sample": path(step.sample)}
        steps.append(step.model_copy(update=update))
    return recipe.model_copy(update={"steps": steps})
