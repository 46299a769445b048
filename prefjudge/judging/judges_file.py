"""Judges from a YAML file: a list of ``prefjudge.Judge`` settings, or a mapping with ``judges:``.

No API key belongs in the file: a judge names the environment variable that holds its key
(``api_key_env: NAME_OF_VARIABLE``; the openai and litellm clients also read their usual variables,
``OPENAI_API_KEY``...), and a file with an ``api_key`` is refused. The built-in ``judges.yaml``
(``prefjudge recipe show judges``) is an example. Read with :mod:`prefjudge.config_files`; used by ``prefjudge rank --judges-file``, the
recipes' curate and eval steps, and the quickstart.

An entry with ``kind: reward_model`` is a local reward model (:class:`prefjudge.RewardModel`), not
an LLM judge: ``{kind: reward_model, path: /models/rm, name: rm, batch_size: 8}`` takes the
arguments of ``RewardModel`` (:class:`RewardModelSpec`); a relative ``path`` that exists beside the
file is read from there. Any other entry (``kind: llm``, or no ``kind``) holds ``Judge`` settings.
The same entries are accepted in the ``judges:`` list of a curate config
(:mod:`prefjudge.curate.config`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from prefjudge.config_base import StrictModel
from prefjudge.config_files import field_path, format_errors, load_yaml
from prefjudge.errors import ConfigError

if TYPE_CHECKING:
    from prefjudge.backends.reward import RewardModel

#: The values of an entry's ``kind``: an LLM judge (the default) or a local reward model.
KINDS = ("llm", "reward_model")


class RewardModelSpec(StrictModel):
    """A judges-list entry for a local reward model: the arguments of :class:`prefjudge.RewardModel`."""

    kind: Literal["reward_model"]
    path: str = Field(min_length=1)
    """A folder, or a Hub id in the local cache."""
    name: str | None = None
    family: str | None = None
    batch_size: int = Field(8, ge=1)
    device: str | None = None
    max_length: int | None = Field(None, gt=0)
    label: int = Field(0, ge=0)

    def build(self) -> RewardModel:
        from prefjudge.backends.reward import RewardModel

        return RewardModel(self.path, **self.model_dump(exclude={"kind", "path"}))


def entry_kind(spec: Any) -> str:
    """``"llm"`` or ``"reward_model"`` (a ConfigError for anything else)."""
    kind = spec.get("kind", "llm") if isinstance(spec, dict) else "llm"
    if kind not in KINDS:
        raise ConfigError(f"field 'kind': must be one of {', '.join(KINDS)} (got {kind!r})")
    return kind


def is_reward_model(spec: Any) -> bool:
    return isinstance(spec, dict) and spec.get("kind") == "reward_model"


def judge_name(spec: dict[str, Any]) -> str | None:
    """The name an entry's judge will have (a reward model's default: its folder's name)."""
    if is_reward_model(spec):
        path = str(spec.get("path") or "")
        return spec.get("name") or Path(path).name or path or None
    return spec.get("name") or spec.get("model")


def entry_errors(spec: Any, loc: tuple) -> list[str]:
    """Problems of a reward-model entry (or of an unknown ``kind``) at ``loc`` (``("judges", 2)``),
    each naming its field (``judges[2].path: Field required``); LLM entries are checked when their
    ``Judge`` is built."""
    from pydantic import ValidationError

    where = field_path(loc)
    if not isinstance(spec, dict):
        return [f"{where}: expected a mapping of judge settings, got {type(spec).__name__}"]
    kind = spec.get("kind", "llm")
    if kind not in KINDS:
        return [f"{where}.kind: must be one of {', '.join(KINDS)} (got {kind!r})"]
    if kind != "reward_model":
        return []
    try:
        RewardModelSpec.model_validate(spec)
    except ValidationError as err:
        return [f"{field_path((*loc, *e['loc']))}: {'unknown field' if e['type'] == 'extra_forbidden' else e['msg']}"
                for e in err.errors(include_url=False)]
    return []


def build_judge(spec: dict[str, Any]) -> Any:
    """A ``Judge`` (an LLM entry) or a ``RewardModel`` (``kind: reward_model``) from one entry."""
    from prefjudge.judging.judge import Judge

    if entry_kind(spec) == "reward_model":
        return RewardModelSpec.model_validate(spec).build()
    return Judge(**{k: v for k, v in spec.items() if k != "kind"})


def read_judge_specs(path: str | Path) -> list[dict[str, Any]]:
    """The file's judge settings, each checked by building its ``Judge`` or ``RewardModel``
    (errors name the file and entry)."""
    return _read(Path(path))[0]


def load_judges(path: str | Path) -> list:
    """The file's judges as ``prefjudge.Judge`` (and ``prefjudge.RewardModel``) objects."""
    return _read(Path(path))[1]


def _read(path: Path) -> tuple[list[dict[str, Any]], list]:
    from pydantic import ValidationError

    from prefjudge.judging.judge import Judge

    data = load_yaml(path, "judges file")
    keyed = isinstance(data, dict)
    items = data.get("judges") if keyed else data
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{path}: expected a non-empty list of judges (or a 'judges:' key)")
    specs, judges = [], []
    for i, item in enumerate(items):
        loc = ("judges", i) if keyed else (i,)
        kind = item.get("kind", "llm") if isinstance(item, dict) else "llm"
        if kind not in KINDS:
            raise ConfigError(f"{path}: field {field_path((*loc, 'kind'))!r}: must be one of {', '.join(KINDS)} "
                              f"(got {kind!r})")
        try:
            if kind == "reward_model":
                spec = RewardModelSpec.model_validate(item)
                spec.path = _beside(spec.path, path.parent)
                item = {**item, "path": spec.path}
                judges.append(spec.build())
            else:
                judges.append(Judge.model_validate({k: v for k, v in item.items() if k != "kind"}
                                                   if isinstance(item, dict) else item))
        except ValidationError as err:
            raise ConfigError(format_errors(err, path, loc)) from None
        except ConfigError as err:  # a RewardModel refusing its arguments
            raise ConfigError(f"{path}: field {field_path(loc)!r}: {err}") from None
        specs.append(item)
    return specs, judges


def _beside(value: str, folder: Path) -> str:
    """A relative reward-model path as the file's folder sees it, when it exists there (else as is: a Hub id)."""
    p = Path(value).expanduser()
    if p.is_absolute() or not (folder / p).exists():
        return value
    return os.path.normpath((folder / p).absolute())
