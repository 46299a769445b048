"""The preference trainers and loss types the installed TRL offers, read from TRL's own source.

A config names a trainer (``trainer: dpo | orpo | kto | cpo``) and, for DPO, CPO and KTO, loss
types (``dpo.loss_type``). Both are checked when the config is validated (so ``--dry-run``
refuses them too), not at the first training step after the model was loaded. The accepted
values are read from the installed TRL's source files without importing TRL (cheap, and what
the trainer will really run):

- ``dpo``: ``trl.DPOTrainer``; loss types are the ``loss_type == "..."`` branches of
  ``trl/trainer/dpo_trainer.py`` (TRL 1.16: sigmoid, hinge, ipo, exo_pair, nca_pair, robust,
  bco_pair, sppo_hard, aot, aot_unpaired, apo_zero, apo_down, discopop, sft, sigmoid_norm);
  several may be combined with ``loss_weights``.
- ``kto``: ``trl.KTOTrainer`` on unpaired rows (prompt/completion/label, see
  :func:`prefjudge.train.data.unpair_rows`); loss types: the ``choices`` of ``KTOConfig.loss_type``.
- ``cpo``: ``trl.experimental.cpo.CPOTrainer`` (reference-free); loss types: the ``choices`` of
  ``CPOConfig.loss_type``, SimPO among them (``loss_type: [simpo]``, ``cpo_alpha: 0``).
- ``orpo``: ``trl.experimental.orpo.ORPOTrainer`` (reference-free, no loss types).

A trainer whose files the installed TRL lacks is refused with that reason. When TRL is not
installed at all (a light install that only validates configs or estimates memory) the lists of
TRL 1.16 are used, and the message says so.

>>> "simpo" in loss_types("cpo"), "simpo" in loss_types("dpo")
(True, False)
"""

from __future__ import annotations

import functools
import importlib.util
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: TRL 1.16's lists, used only when TRL is not installed.
TRL_116_LOSSES: dict[str, tuple[str, ...]] = {
    "dpo": ("sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard", "aot",
            "aot_unpaired", "apo_zero", "apo_down", "discopop", "sft", "sigmoid_norm"),
    "kto": ("kto", "apo_zero_unpaired"),
    "cpo": ("sigmoid", "hinge", "ipo", "simpo", "alphapo"),
    "orpo": (),
}


@dataclass(frozen=True)
class TrainerSpec:
    name: str
    module: str
    config: str
    trainer: str
    source: str
    """The file (relative to the ``trl`` package) that must exist, and that lists the loss types."""
    loss_source: str | None
    """How the loss types are written there: ``branches`` (``loss_type == "x"``), ``choices``
    (a dataclass field's ``"choices": [...]``), or None (no loss types)."""
    default_loss: tuple[str, ...]
    multi_loss: bool
    uses_reference: bool
    paired: bool
    description: str


TRAINERS: dict[str, TrainerSpec] = {
    "dpo": TrainerSpec("dpo", "trl", "DPOConfig", "DPOTrainer", "trainer/dpo_trainer.py", "branches",
                       ("sigmoid",), True, True, True, "DPO and its loss variants"),
    "kto": TrainerSpec("kto", "trl", "KTOConfig", "KTOTrainer", "trainer/kto_config.py", "choices",
                       ("kto",), False, True, False, "KTO on unpaired prompt/completion/label rows"),
    "cpo": TrainerSpec("cpo", "trl.experimental.cpo", "CPOConfig", "CPOTrainer", "experimental/cpo/cpo_config.py",
                       "choices", ("sigmoid",), False, False, True, "CPO and SimPO (reference-free)"),
    "orpo": TrainerSpec("orpo", "trl.experimental.orpo", "ORPOConfig", "ORPOTrainer",
                        "experimental/orpo/orpo_trainer.py", None, (), False, False, True,
                        "ORPO (reference-free, SFT and odds-ratio loss in one)"),
}


@functools.lru_cache(maxsize=1)
def trl_dir() -> Path | None:
    """The installed ``trl`` package folder (found without importing it), or None."""
    try:
        spec = importlib.util.find_spec("trl")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def trl_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("trl")
    except PackageNotFoundError:
        return None


def unavailable_reason(trainer: str) -> str | None:
    """Why the installed TRL cannot run ``trainer`` (None when it can, or when TRL is not installed)."""
    root = trl_dir()
    if root is None:
        return None
    spec = TRAINERS[trainer]
    if not (root / spec.source).is_file():
        return (f"the installed TRL {trl_version() or '?'} has no {spec.module}.{spec.trainer} "
                f"({spec.source} is missing)")
    return None


def _parse_losses(text: str, how: str) -> tuple[str, ...]:
    if how == "branches":
        found = re.findall(r'loss_type == "(\w+)"', text)
    else:
        block = re.search(r"loss_type:[^\n]*=\s*field\((.*?)\n    \)", text, re.S)
        choices = re.search(r'"choices":\s*\[(.*?)\]', block.group(1), re.S) if block else None
        found = re.findall(r'"(\w+)"', choices.group(1)) if choices else []
    return tuple(dict.fromkeys(found))


@functools.lru_cache(maxsize=None)
def loss_types(trainer: str) -> tuple[str, ...]:
    """The loss types the installed TRL's ``trainer`` accepts (TRL 1.16's list without TRL)."""
    spec = TRAINERS[trainer]
    root = trl_dir()
    if spec.loss_source is None:
        return ()
    if root is None or not (root / spec.source).is_file():
        return TRL_116_LOSSES[trainer]
    found = _parse_losses((root / spec.source).read_text(encoding="utf-8"), spec.loss_source)
    return found or TRL_116_LOSSES[trainer]


def _where_else(loss: str, trainer: str) -> str:
    """A hint naming the trainers that do offer ``loss``."""
    others = [t for t in TRAINERS if t != trainer and loss in loss_types(t)]
    if not others:
        return ""
    return f"; {loss!r} is a loss of trainer {' and '.join(others)} (set trainer: {others[0]})"


def check(trainer: str, dpo: Any, fields_set: set[str]) -> list[str]:
    """Problems of the preference settings ``dpo`` (a ``DPOSettings``) for ``trainer``, each a
    message naming the field; ``fields_set``: the ``dpo`` fields the config set explicitly."""
    problems: list[str] = []
    reason = unavailable_reason(trainer)
    if reason:
        return [f"field 'trainer': {trainer!r} cannot run: {reason}"]
    spec = TRAINERS[trainer]
    version = trl_version()
    source = f"the installed TRL {version}" if version else "TRL 1.16 (TRL is not installed here)"
    losses = resolved_losses(trainer, dpo, fields_set)
    accepted = loss_types(trainer)
    if spec.loss_source is None:
        if "loss_type" in fields_set:
            problems.append(f"field 'dpo.loss_type': trainer {trainer!r} has no loss types in {source}; remove it")
    else:
        for loss in losses:
            if loss not in accepted:
                problems.append(f"field 'dpo.loss_type': {loss!r} is not a loss type of trainer {trainer!r} in "
                                f"{source}; accepted: {', '.join(accepted)}{_where_else(loss, trainer)}")
        if not spec.multi_loss and len(losses) > 1:
            problems.append(f"field 'dpo.loss_type': trainer {trainer!r} takes one loss type, got {losses}")
    weights = dpo.loss_weights
    if weights is not None:
        if trainer != "dpo":
            problems.append(f"field 'dpo.loss_weights': only trainer 'dpo' combines loss types, not {trainer!r}")
        elif len(weights) != len(losses):
            problems.append(f"field 'dpo.loss_weights': {len(weights)} weights for {len(losses)} loss types")
    smoothing = dpo.label_smoothing
    if trainer == "dpo" and "exo_pair" in losses and smoothing == 0.0:
        problems.append("field 'dpo.label_smoothing': loss 'exo_pair' needs label_smoothing > 0 (the EXO paper: 1e-3)")
    if trainer == "dpo" and "robust" in losses and not smoothing < 0.5:
        problems.append("field 'dpo.label_smoothing': loss 'robust' needs label_smoothing in [0, 0.5)")
    if smoothing and trainer not in ("dpo", "cpo"):
        problems.append(f"field 'dpo.label_smoothing': trainer {trainer!r} has no label smoothing")
    only = {"cpo_alpha": "cpo", "simpo_gamma": "cpo", "desirable_weight": "kto", "undesirable_weight": "kto"}
    for name, owner in only.items():
        if getattr(dpo, name) is not None and trainer != owner:
            problems.append(f"field 'dpo.{name}': applies to trainer {owner!r} only (this config trains {trainer!r})")
    if not spec.uses_reference:
        if dpo.reference == "separate":
            problems.append(f"field 'dpo.reference': trainer {trainer!r} is reference-free; remove reference: separate")
        if dpo.precompute_ref_log_probs:
            problems.append(f"field 'dpo.precompute_ref_log_probs': trainer {trainer!r} is reference-free")
    if trainer == "kto" and losses != ["apo_zero_unpaired"] and dpo.per_device_train_batch_size < 2:
        problems.append("field 'dpo.per_device_train_batch_size': KTO estimates its KL term within a batch: "
                        "it needs at least 2 rows per device batch")
    return problems


def resolved_losses(trainer: str, dpo: Any, fields_set: set[str]) -> list[str]:
    """The loss types a run uses: the config's, or the trainer's default when it set none."""
    spec = TRAINERS[trainer]
    if "loss_type" not in fields_set:
        return list(spec.default_loss)
    return list(dpo.loss_type)


def load_classes(trainer: str) -> tuple[type, type]:
    """``(ConfigClass, TrainerClass)`` of ``trainer`` (``trl.experimental``'s notice silenced:
    the run records which module it used)."""
    import importlib

    spec = TRAINERS[trainer]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="You are importing from 'trl.experimental'")
        module = importlib.import_module(spec.module)
    return getattr(module, spec.config), getattr(module, spec.trainer)
