"""Recipe files: a list of steps (sft, dpo, merge, ...) with profiles that override them.

A recipe is YAML::

    name: neuralhermes
    source: seed 000
    steps:
      - id: dpo
        kind: dpo
        sample: data/orca_dpo_pairs_sample.jsonl   # a local sample in the source's schema
        config: {model: {name_or_path: teknium/OpenHermes-2.5-Mistral-7B}, data: {...}, dpo: {...}}
      - id: merged
        kind: merge
        base: "@dpo"          # the base model of step dpo
        adapters: ["@dpo"]    # the adapter step dpo trained
    profiles:
      smoke:
        steps:
          dpo: {config: {model: {name_or_path: null, tiny: {}}, ...}}

The ``full`` profile is the steps as written; another profile deep-merges its overrides into
them by step id (a ``null`` value deletes a key). ``@id`` references are resolved at run time:
``model.name_or_path: "@merge_step"`` is that step's merged model, ``data.path: "@build_step"``
its dataset; in a merge step ``base: "@train_step"`` is the base model that step trained and
``adapters: ["@train_step"]`` its adapter; in an eval step ``trained: "@merge_step"`` is the
merged model and ``base: "@train_step"`` the base model; ``data.path: "@curate_step"`` is the
export of a ``curate`` step (see ``prefjudge.recipes.steps``).
"""

from __future__ import annotations

import copy
from typing import Annotated, Any, Literal, Union

from pydantic import Field, ValidationError, model_validator

from prefjudge.config_base import StrictModel
from prefjudge.config_files import format_errors
from prefjudge.errors import ConfigError
from prefjudge.train.config import exactly_one


class TrainStep(StrictModel):
    id: str
    kind: Literal["dpo", "sft"]
    config: dict[str, Any]
    sample: str | None = None
    """A small local file in the source dataset's schema, mapped by ``--dry-run``."""


class MergeStep(StrictModel):
    id: str
    kind: Literal["merge"]
    base: str
    adapters: list[str] = Field(min_length=1)
    dtype: Literal["float32", "float16", "bfloat16"] = "float16"
    check: bool = True
    dequantize: bool = False
    """Merge into a dequantized copy of the 4-bit base (as the adapter was trained) instead of the
    16-bit base: the remedy of the QLoRA merge gap (``prefjudge.train.merging``)."""
    push_to_hub: str | None = None


class BuildTwinStep(StrictModel):
    """Seed 003: build a style-preference dataset from one's own articles (see ``llm_twin``)."""

    id: str
    kind: Literal["build_llm_twin"]
    articles: str
    generator: dict[str, Any]
    min_chunk_chars: int = 1000
    max_chunk_chars: int = 2000
    min_chosen_chars: int = 100
    push_to_hub: str | None = None


class JurySpec(StrictModel):
    """Real judges from a YAML file (a list of ``prefjudge.Judge`` settings, or ``judges:``), or a
    SIMULATED jury whose latent quality is ``simulated_score`` (a ``module:function``)."""

    judges_file: str | None = None
    simulated_score: str | None = None
    noise: float = 0.3

    @model_validator(mode="after")
    def _one_source(self) -> "JurySpec":
        exactly_one(self, "judges_file", "simulated_score")
        return self


class EvalStep(StrictModel):
    """Answers of the trained and base models on held-out prompts, judged with random order."""

    id: str
    kind: Literal["eval"]
    trained: str
    base: str
    prompts: str
    prompt_field: str = "prompt"
    max_prompts: int | None = Field(default=None, gt=0)
    max_new_tokens: int = Field(default=128, gt=0)
    chat_template: str | None = None
    order: Literal["random", "both", "fixed"] = "random"
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where both models answer (``prefjudge.train.runtime.plan_inference``: bf16 on a GPU, float32 on the CPU)."""
    quantization: Literal["none", "4bit"] = "none"
    """``4bit``: load both models in 4-bit nf4 on a GPU to answer (as training loaded the base)."""
    batch_size: int = Field(default=8, gt=0)
    """Prompts answered per generate call (left-padded batches)."""
    temperature: float = Field(default=0.0, ge=0)
    """0: greedy answers; above 0: sampled answers (seeded by ``seed``, the same draws for both models)."""
    samples: int = Field(default=1, ge=1)
    """Sampled answers per prompt and model (each is one judged pair); needs ``temperature`` > 0."""
    jury: JurySpec

    @model_validator(mode="after")
    def _samples_need_sampling(self) -> "EvalStep":
        if self.samples > 1 and self.temperature == 0:
            raise ValueError("samples > 1 needs temperature > 0 (greedy answers repeat)")
        return self


class SimulatedSpec(StrictModel):
    """A SIMULATED world for a curate step: an in-process ``SimServer`` whose generators write the
    candidates and whose judges (unless real judges are given) judge them; the latent quality of an
    answer is ``score(prompt, answer)``. ``generators``/``judges``: ``SimGenerator``/``SimJudge``
    settings (default: ``default_sim_generators()``/``default_sim_jury()``)."""

    score: str
    generators: list[dict[str, Any]] | None = None
    judges: list[dict[str, Any]] | None = None
    seed: int = 0


class CurateStep(StrictModel):
    """The curation pipeline as a step: ``config`` is a ``CurateConfig`` (``prefjudge curate``'s
    YAML) whose ``output.dir`` defaults to ``OUT/<id>/dataset``; its export is ``@<id>`` data."""

    id: str
    kind: Literal["curate"]
    config: dict[str, Any]
    judges_file: str | None = None
    """Real judges (a YAML list of ``prefjudge.Judge`` settings); replaces ``config.judges``."""
    simulated: SimulatedSpec | None = None
    audit: list[Literal["html", "md", "json"]] = Field(default_factory=lambda: ["html", "md", "json"])
    """Audit report formats written to ``OUT/<id>/audit.*`` (empty: no audit)."""


class IterateStep(StrictModel):
    """On-policy iterative DPO (``prefjudge.recipes.iterate``): for ``rounds`` rounds, the current
    policy (round 0: ``train.model``; then the previous round's merged model) answers ``prompts``
    ``n`` times each, the jury (``judges_file`` or ``simulated``) ranks the answers, ``curate``
    keeps best vs worst with the usual filters and length balance, DPO trains from the policy, the
    adapter is merged, and ``eval`` judges the merged model against round 0."""

    id: str
    kind: Literal["iterate"]
    rounds: int = Field(gt=0)
    prompts: str
    """Training prompts (a JSONL/JSON/parquet/CSV file with ``prompt_field``)."""
    prompt_field: str = "prompt"
    max_prompts: int | None = Field(default=None, gt=0)
    policy: dict[str, Any] = Field(default_factory=lambda: {"backend": "transformers"})
    """The generator settings of the policy (``prefjudge.Generator`` fields). ``model`` defaults to
    the policy's folder; a ``{policy}`` in ``model`` is replaced by it (a vLLM server through the
    openai backend: ``{backend: openai, base_url: ..., model: "{policy}"}``)."""
    serve: list[str] | None = None
    """A command started before each round's generation and stopped after it, with ``{policy}``
    replaced (``[vllm, serve, "{policy}", --port, "8000"]``); the round waits for
    ``policy.base_url``/models to answer."""
    serve_timeout: float = Field(default=900.0, gt=0)
    n: int = Field(default=4, ge=2)
    temperature: float | list[float] = 1.0
    max_tokens: int = Field(default=64, gt=0)
    seed: int = 0
    judges_file: str | None = None
    simulated: SimulatedSpec | None = None
    """SIMULATED judges whose latent quality is ``simulated.score`` (the generators stay the policy)."""
    curate: dict[str, Any] = Field(default_factory=dict)
    """A partial ``CurateConfig``: ``jury``, ``rank``, ``preferences``, ``filters``, ``dedup``, ``output``
    (input, generators, judges and the output folder are set per round)."""
    sample: str | None = None
    """Rows of a curated export (a local file), mapped by ``--dry-run`` as a training step's ``sample``."""
    train: dict[str, Any]
    """The DPO training config (``prefjudge train``'s); ``model`` is round 0's policy, ``data.path``
    and ``output_dir`` are set per round."""
    warm_start: dict[str, Any] | None = None
    """An SFT run before round 0 (``prefjudge train sft``'s config: ``data``, ``sft``, optionally
    ``lora``; ``model``, ``quantization``, ``lora`` and ``device`` default to ``train``'s). Its merged
    model is round 0's policy and the base every round is judged against. For a base that is not
    yet a chat model: on-policy DPO learns from the policy's own samples, which must already be
    answers. None (default): round 0's policy is ``train.model``."""
    merge_dtype: Literal["float32", "float16", "bfloat16"] = "float16"
    merge_check: bool = True
    eval: dict[str, Any]
    """An eval step's fields without ``id``, ``kind``, ``trained`` and ``base`` (prompts, jury...)."""

    @model_validator(mode="after")
    def _one_jury(self) -> "IterateStep":
        exactly_one(self, "judges_file", "simulated")
        return self


Step = Annotated[Union[TrainStep, MergeStep, BuildTwinStep, CurateStep, EvalStep, IterateStep],
                 Field(discriminator="kind")]


class Recipe(StrictModel):
    name: str
    description: str = ""
    source: str = ""
    steps: list[Step] = Field(min_length=1)
    profiles: dict[str, dict[str, Any]] = Field(default_factory=dict)
    cpu_threads: int | None = Field(default=None, gt=0)
    """torch's CPU threads during the run (``torch.set_num_threads``); a profile may set it. Tiny
    smoke models gain nothing from more threads, and on a shared machine OpenMP threads that
    wait for a busy core make each step many times slower."""

    @model_validator(mode="after")
    def _unique_ids(self) -> "Recipe":
        ids = [s.id for s in self.steps]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"duplicate step ids: {', '.join(sorted(dup))}")
        return self


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into a copy of ``base``; ``None`` deletes a key.

    >>> deep_merge({"a": {"x": 1, "y": 2}, "b": 1}, {"a": {"y": None, "z": 3}})
    {'a': {'x': 1, 'z': 3}, 'b': 1}
    """
    out = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _validate(data: dict[str, Any], where: str) -> Recipe:
    try:
        return Recipe.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_errors(err, f"invalid recipe {where}")) from None


def apply_profile(raw: dict[str, Any], profile: str, where: str) -> dict[str, Any]:
    """The raw recipe with a profile's step overrides merged in (``full`` = as written)."""
    profiles = raw.get("profiles") or {}
    if profile == "full" and "full" not in profiles:
        return raw
    if profile not in profiles:
        raise ConfigError(f"recipe {where} has no profile {profile!r}; profiles: "
                          f"{', '.join(['full', *sorted(p for p in profiles if p != 'full')])}")
    overrides = profiles[profile] or {}
    unknown = set(overrides) - {"steps", "description", "cpu_threads"}
    if unknown:
        raise ConfigError(f"recipe {where}: field 'profiles.{profile}.{sorted(unknown)[0]}': unknown field")
    by_id = overrides.get("steps") or {}
    ids = {s.get("id") for s in raw.get("steps", [])}
    missing = set(by_id) - ids
    if missing:
        raise ConfigError(f"recipe {where}: profile {profile!r} overrides unknown step(s) {sorted(missing)}")
    out = dict(raw)
    out["steps"] = [deep_merge(s, by_id.get(s.get("id"), {})) for s in raw.get("steps", [])]
    if "cpu_threads" in overrides:
        out["cpu_threads"] = overrides["cpu_threads"]
    return out


def _check_refs(recipe: Recipe, where: str) -> None:
    """Every ``@id`` must name an earlier step."""
    seen: set[str] = set()
    for step in recipe.steps:
        for ref in step_refs(step):
            if ref[1:] not in seen:
                raise ConfigError(f"recipe {where}: step {step.id!r} refers to {ref!r}, "
                                  "which is not an earlier step")
        seen.add(step.id)


def step_refs(step: TrainStep | MergeStep | BuildTwinStep | CurateStep | EvalStep | IterateStep) -> list[str]:
    if isinstance(step, MergeStep):
        return [r for r in (step.base, *step.adapters) if is_ref(r)]
    if isinstance(step, EvalStep):
        return [r for r in (step.trained, step.base) if is_ref(r)]
    if isinstance(step, TrainStep):
        model = step.config.get("model") or {}
        data = step.config.get("data") or {}
        return [r for r in (model.get("name_or_path"), data.get("path")) if is_ref(r)]
    return []


def is_ref(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("@")
