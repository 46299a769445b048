"""``CurateConfig``: the YAML file of ``prefjudge curate config.yaml``, validated by pydantic.

Every model forbids unknown keys, so a typo fails loudly with the path of the bad key.
The input is exactly one of: ``dataset`` (a known preference dataset or a local file, optionally
re-judged), ``pairs`` (judged with ``rank_pairs``), ``candidates`` (ranked with ``rank_responses``)
or ``prompts`` (answered by ``generators``, then ranked).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, SecretStr, field_serializer, field_validator, model_validator

from prefjudge.config_base import StrictModel


class InputConfig(StrictModel):
    dataset: str | None = None
    """Hub id (Intel/orca_dpo_pairs, ...) or local file/folder of a preference dataset."""
    schema_name: str | None = Field(None, alias="schema")
    split: str | None = None
    data_files: str | list[str] | None = None
    limit: int | None = Field(None, gt=0)
    pairs: str | None = None
    """File of pairs (prompt, response_a, response_b) to judge."""
    candidates: str | None = None
    """File of candidates (prompt, response, ...) to rank."""
    prompts: str | list[str] | None = None
    """File with a ``prompt`` column (or a list of prompts) to answer with ``generators``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _exactly_one(self) -> InputConfig:
        given = [k for k in ("dataset", "pairs", "candidates", "prompts") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(f"give exactly one of dataset, pairs, candidates, prompts (got {given or 'none'})")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("dataset", "pairs", "candidates", "prompts") if getattr(self, k))


class GenerateConfig(StrictModel):
    n: int = Field(1, ge=1)
    temperature: float | list[float] | None = None
    seed: int | None = 0
    max_tokens: int | None = Field(None, gt=0)
    system: str | None = None
    store: str | None = None


class JuryConfig(StrictModel):
    aggregate: str = "majority"
    quorum: int | None = Field(None, ge=1)
    same_family: Literal["keep", "flag", "exclude"] = "keep"


class RatingConfig(StrictModel):
    """``rank.rating``: how ``strategy: rating`` rates the answers and makes the pairs."""

    template: str = "single"
    """``single`` (1-10), ``ultrafeedback`` (four aspects, 1-5), ``rubric`` (1-5, needs ``rubric``) or a
    rating template file (``# kind: rating``)."""
    rubric: str | dict[str, str] | None = None
    """The ``rubric`` template's text, or Prometheus' mapping (``criteria``, ``score1_description``...)."""
    rejected: Literal["lowest", "random"] = "lowest"
    """The rejected answer: the lowest-scored, or one drawn (seeded by ``rank.seed``) among those scored
    strictly lower than chosen (UltraFeedback's binarization)."""
    min_margin: float | None = Field(None, ge=0)
    """Drop pairs whose score gap (chosen minus rejected, in the template's units) is below it."""

    @field_validator("template")
    @classmethod
    def _known_template(cls, template: str) -> str:
        from prefjudge.errors import ConfigError
        from prefjudge.judging.templates import load_template

        try:
            t = load_template(template)
        except ConfigError as e:
            raise ValueError(f"{e} (a rating template: single, ultrafeedback, rubric or a file)") from None
        if t.kind != "rating":
            raise ValueError(f"template {template!r} compares pairs; strategy 'rating' needs a rating template "
                             "(# kind: rating): single, ultrafeedback, rubric or a file")
        return template

    @field_validator("rubric")
    @classmethod
    def _readable_rubric(cls, rubric: Any) -> Any:
        from prefjudge.curate.rating import format_rubric
        from prefjudge.errors import InputError

        try:
            format_rubric(rubric)
        except InputError as e:
            raise ValueError(e.detail if hasattr(e, "detail") else str(e)) from None
        return rubric

    @model_validator(mode="after")
    def _rubric_fits(self) -> RatingConfig:
        from prefjudge.judging.templates import load_template

        t = load_template(self.template)
        if t.uses("rubric") and self.rubric is None:
            raise ValueError(f"rubric: template {self.template!r} needs a rubric (rank.rating.rubric)")
        if self.rubric is not None and not t.uses("rubric"):
            raise ValueError(f"rubric: template {self.template!r} has no {{{{rubric}}}} placeholder; "
                             "use template: rubric")
        return self


class RankConfig(StrictModel):
    strategy: Literal["round_robin", "knockout", "adaptive", "rating"] = "adaptive"
    """Pairwise ranking of candidates (round_robin, knockout, adaptive), or ``rating``: every answer
    rated once per judge (LLM judges with ``rating.template``, reward models locally), one pair per
    prompt from the scores (:mod:`prefjudge.curate.from_ratings`)."""
    order: Literal["random", "both", "fixed"] = "random"
    seed: int = 0
    budget: int | None = Field(None, gt=0)
    store: str | None = None
    rejudge: bool = False
    """For ``dataset`` input: re-judge the pairs (chosen/rejected as a/b in random order) before curating."""
    rating: RatingConfig | None = None
    """Options of ``strategy: rating`` (default: ``single`` template, rejected = lowest)."""

    @model_validator(mode="after")
    def _rating_options(self) -> RankConfig:
        if self.strategy != "rating":
            if self.rating is not None:
                raise ValueError(f"rating: applies to strategy 'rating' only (strategy is {self.strategy!r})")
            return self
        if self.budget is not None:
            raise ValueError("budget: strategy 'rating' rates every answer once per judge; budget (comparisons "
                             "per prompt) applies to the pairwise strategies")
        if self.order != "random":
            raise ValueError(f"order: a rating shows one answer, so there is no display order (order "
                             f"{self.order!r} applies to the pairwise strategies)")
        return self

    @property
    def rating_options(self) -> RatingConfig:
        """``rating``, or its defaults."""
        return self.rating if self.rating is not None else RatingConfig()


class PreferencesConfig(StrictModel):
    min_margin: float | None = Field(None, ge=0, le=1)
    min_agreement: float | None = Field(None, ge=0, le=1)
    drop_ties: bool = True
    drop_inconsistent: bool = False
    format: Literal["standard", "conversational"] = "standard"
    chat_template: str | None = None
    """A built-in template name (chatml, zephyr, alpaca), a Jinja string, or a local tokenizer folder."""
    length_balance: Literal["equal", "match"] | None = None
    seed: int = 0


class FiltersConfig(StrictModel):
    min_chosen_chars: int | None = Field(None, ge=0)
    chosen_starts_upper: bool = False
    chosen_ends_with: str | None = None
    """Characters the chosen answer must end with, e.g. ".!?" (LLM Twin)."""
    max_prompt_chars: int | None = Field(None, gt=0)
    different_answers: bool = False
    distilabel_orca: bool = False
    """The usual filters for argilla/distilabel-intel-orca-dpo-pairs (:func:`distilabel_orca_filters`)."""
    seed_filters: bool | None = None
    """Deprecated name of ``distilabel_orca``."""


class DedupConfig(StrictModel):
    exact: bool = True
    near: float | None = Field(None, gt=0, le=1)
    keep: Literal["first", "max_margin"] = "first"


class DecontamConfig(StrictModel):
    benchmarks: dict[str, str | list[str]]
    """Benchmark name -> a text file (one text per line), a JSONL file (field ``text_field``) or inline texts."""
    text_field: str = "text"
    n: int = Field(13, ge=1)
    fields: list[Literal["prompt", "chosen", "rejected", "system"]] = ["prompt", "chosen", "rejected"]


class PushConfig(StrictModel):
    repo_id: str
    private: bool = True


class OutputConfig(StrictModel):
    dir: str
    format: Literal["parquet", "jsonl", "disk"] = "parquet"
    overwrite: bool = False
    license: str = "other"
    pretty_name: str | None = None
    audit: bool = True
    """Attach an audit of the judgments (when there are any) to the card."""


class CurateConfig(StrictModel):
    input: InputConfig
    judges: list[dict[str, Any]] = Field(default_factory=list)
    """Judge settings (``prefjudge.Judge`` fields); a key comes from the environment (``api_key_env``).
    ``{kind: reward_model, path: ..., name: ..., batch_size: ...}`` is a local reward model
    (``prefjudge.RewardModel``'s arguments) instead of an LLM judge."""
    jury: JuryConfig | None = None
    generators: list[dict[str, Any]] = Field(default_factory=list)
    generate: GenerateConfig = Field(default_factory=GenerateConfig)
    rank: RankConfig = Field(default_factory=RankConfig)
    preferences: PreferencesConfig = Field(default_factory=PreferencesConfig)
    filters: FiltersConfig = Field(default_factory=FiltersConfig)
    dedup: DedupConfig | None = None
    decontaminate: DecontamConfig | None = None
    output: OutputConfig
    push: PushConfig | None = None

    @model_validator(mode="after")
    def _needs(self) -> CurateConfig:
        kind = self.input.kind
        if kind in ("pairs", "candidates", "prompts") and not self.judges:
            raise ValueError(f"input.{kind} needs judges")
        if kind == "prompts" and not self.generators:
            raise ValueError("input.prompts needs generators")
        if kind == "dataset" and self.rank.rejudge and not self.judges:
            raise ValueError("rank.rejudge needs judges")
        if self.rank.strategy == "rating":
            self._check_rating()
        else:
            self._check_reward_jurors()
        return self

    def _check_rating(self) -> None:
        """What ``strategy: rating`` cannot honour is refused, naming the field."""
        p = self.preferences
        if self.input.kind == "dataset" and not self.rank.rejudge:
            raise ValueError("rank.strategy: 'rating' scores answers, and input.dataset keeps its own labels "
                             "unless rank.rejudge is true")
        if self.jury is not None:
            raise ValueError("jury: with rank.strategy 'rating' an answer's score is the mean over the judges "
                             "(z-scores when reward models are mixed in); remove jury")
        if p.min_margin is not None:
            raise ValueError("preferences.min_margin: is on the pairwise scale [0, 1]; with rank.strategy 'rating' "
                             "the margin is the score gap: set rank.rating.min_margin")
        if p.drop_inconsistent:
            raise ValueError("preferences.drop_inconsistent: a rating has no display order, so consistency "
                             "cannot be measured; remove it with rank.strategy 'rating'")
        if not p.drop_ties:
            raise ValueError("preferences.drop_ties: answers that tie make no pair from ratings "
                             "(UltraFeedback's rule); remove drop_ties: false with rank.strategy 'rating'")

    def _check_reward_jurors(self) -> None:
        """Reward models are jurors of ``rank_pairs`` and of the pairwise strategies of ``rank_responses``
        (through the same scorer path), aggregated by ``jury.aggregate`` alone."""
        from prefjudge.judging.judges_file import is_reward_model

        if not any(is_reward_model(s) for s in self.judges):
            return
        j = self.jury
        if j is not None and (j.quorum is not None or j.same_family != "keep"):
            field = "quorum" if j.quorum is not None else "same_family"
            raise ValueError(f"jury.{field}: with reward models among the judges the verdicts are aggregated "
                             "by jury.aggregate alone; remove it")

    @field_validator("judges")
    @classmethod
    def _judge_entries(cls, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``kind: reward_model`` entries (:class:`prefjudge.judging.judges_file.RewardModelSpec`) are
        checked here, naming the entry and field; LLM entries when their ``Judge`` is built."""
        from prefjudge.judging.judges_file import entry_errors

        problems = [line for i, s in enumerate(specs) for line in entry_errors(s, ("judges", i))]
        if problems:
            raise ValueError("; ".join(problems))
        return specs

    @field_validator("judges", "generators")
    @classmethod
    def _hide_keys(cls, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A key given in Python (never from a file) is kept as a ``SecretStr``: out of reprs."""
        return [{**s, "api_key": SecretStr(s["api_key"])} if isinstance(s.get("api_key"), str) else s for s in specs]

    @field_serializer("judges", "generators")
    def _drop_keys(self, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Dumps (the exported ``prefjudge_config.yaml``, the Hub, ``run.json``) never hold a key."""
        from prefjudge.config_files import drop_secrets

        return drop_secrets(specs)

    @classmethod
    def from_file(cls, path: str | Path) -> CurateConfig:
        """Load and validate a YAML (or JSON) file; errors name the file and the bad keys, and a
        file with an ``api_key`` is refused (``api_key_env`` names the key's environment variable)."""
        from prefjudge.config_files import load_config

        return load_config(path, cls, "curate config")
