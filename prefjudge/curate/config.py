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


class RankConfig(StrictModel):
    strategy: Literal["round_robin", "knockout", "adaptive"] = "adaptive"
    order: Literal["random", "both", "fixed"] = "random"
    seed: int = 0
    budget: int | None = Field(None, gt=0)
    store: str | None = None
    rejudge: bool = False
    """For ``dataset`` input: re-judge the pairs (chosen/rejected as a/b in random order) before curating."""


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
    """Judge settings (``prefjudge.Judge`` fields); a key comes from the environment (``api_key_env``)."""
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
        return self

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
