"""Run a :class:`~prefjudge.curate.config.CurateConfig`: the steps of ``prefjudge curate``.

input -> (generate) -> (rank_pairs | rank_responses | re-judge | rate) -> to_preferences -> audit -> export -> (push).
Relative paths in the config are relative to the current directory.

A judges entry with ``kind: reward_model`` builds a :class:`prefjudge.RewardModel`
(:func:`prefjudge.judging.judges_file.build_judge`): a juror of ``rank_pairs`` (pairs, a re-judged
dataset) and of ``rank_responses``' pairwise strategies (candidates, prompts), and a scorer of
``strategy: rating``. With ``rank.strategy: rating`` every answer is rated
once per judge (:func:`prefjudge.rate`; the answers of a pair when the input is pairs or a re-judged
dataset) and :class:`RatedPairs` makes one pair per prompt
(:func:`prefjudge.curate.from_ratings.ratings_to_preferences`) for ``to_preferences``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefjudge.curate.config import CurateConfig, DecontamConfig, FiltersConfig
from prefjudge.curate.filters import (
    Filter,
    chosen_ends_with,
    chosen_starts_upper,
    different_answers,
    max_prompt_chars,
    min_chosen_chars,
)
from prefjudge.curate.preferences import PreferenceSet
from prefjudge.errors import ConfigError


@dataclass
class CurationRun:
    """What a run produced: the preference set, the export folder, the audit and the Hub commit (if pushed)."""

    prefs: PreferenceSet
    out_dir: Path
    audit: Any = None
    commit: Any = None


def build_judges(cfg: CurateConfig) -> Any:
    """Judge objects from the config (a Jury when ``jury`` is set: reward models are jurors of it like
    the LLM judges); errors name the entry."""
    judges = _judges(cfg.judges, "judges")
    if cfg.jury is None or not judges:
        return judges
    from prefjudge.aggregation.jury import Jury

    return Jury(judges, aggregate=cfg.jury.aggregate, quorum=cfg.jury.quorum, same_family=cfg.jury.same_family)


def build_generators(cfg: CurateConfig) -> list[Any]:
    from prefjudge.curate.generator import Generator

    return _build(Generator, cfg.generators, "generators")


def _judges(specs: list[dict[str, Any]], field: str) -> list[Any]:
    """``Judge`` objects, or ``RewardModel`` for ``kind: reward_model`` entries."""
    from prefjudge.judging.judges_file import build_judge

    return _build(build_judge, specs, field, spread=False)


def _build(cls: Any, specs: list[dict[str, Any]], field: str, spread: bool = True) -> list[Any]:
    """``cls`` objects (Judge or Generator) from config entries; a bad entry's error names ``field[i]``."""
    out = []
    for i, spec in enumerate(specs):
        try:
            out.append(cls(**spec) if spread else cls(spec))
        except Exception as e:
            raise ConfigError(f"{field}[{i}]: {e}") from e
    return out


def build_filters(f: FiltersConfig) -> list[Filter]:
    """The configured filters, in a fixed order."""
    from prefjudge.curate.loaders import distilabel_orca_filters

    if f.seed_filters is not None:  # the old key: still honoured, with a warning
        import warnings

        warnings.warn("filters.seed_filters is deprecated; write filters.distilabel_orca", DeprecationWarning, stacklevel=2)
    out: list[Filter] = distilabel_orca_filters() if (f.distilabel_orca or f.seed_filters) else []
    if f.min_chosen_chars is not None:
        out.append(min_chosen_chars(f.min_chosen_chars))
    if f.chosen_starts_upper:
        out.append(chosen_starts_upper())
    if f.chosen_ends_with:
        out.append(chosen_ends_with(f.chosen_ends_with))
    if f.max_prompt_chars is not None:
        out.append(max_prompt_chars(f.max_prompt_chars))
    if f.different_answers:
        out.append(different_answers())
    return out


def benchmark_texts(d: DecontamConfig) -> dict[str, list[str]]:
    """Benchmark texts from inline lists, text files (a text per line) or JSONL files (``text_field``)."""
    out: dict[str, list[str]] = {}
    for name, spec in d.benchmarks.items():
        if isinstance(spec, list):
            out[name] = spec
            continue
        p = Path(spec)
        if not p.is_file():
            raise ConfigError(f"decontaminate.benchmarks.{name}: no such file {p}")
        lines = [ln for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
        out[name] = [json.loads(ln)[d.text_field] for ln in lines] if p.suffix == ".jsonl" else lines
    return out


def chat_template(spec: str | None) -> Any:
    """A tokenizer for a local folder, else the string itself (template name or Jinja)."""
    if spec is not None and Path(spec).is_dir():
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(spec)
    return spec


def rank_input(cfg: CurateConfig) -> Any:
    """The ranked (or loaded, or rated) data that ``to_preferences`` curates."""
    from prefjudge.curate.generate import generate
    from prefjudge.curate.loaders import load_preferences
    from prefjudge.curate.ranking import rank_responses
    from prefjudge.curate.rejudge import to_pairs
    from prefjudge.io import read_table
    from prefjudge.judging.rank_pairs import rank_pairs

    inp, rk = cfg.input, cfg.rank
    judges = build_judges(cfg)
    rank_kw = {"order": rk.order, "seed": rk.seed, "store": rk.store}
    if inp.kind == "dataset":
        ds = load_preferences(inp.dataset, schema=inp.schema_name, split=inp.split, data_files=inp.data_files, limit=inp.limit)
        if not rk.rejudge:
            return ds
        if rk.strategy == "rating":
            return rate_answers(cfg, pairs_as_candidates(to_pairs(ds, rk.seed)), judges)
        return rank_pairs(to_pairs(ds, rk.seed), judges=judges, **rank_kw)
    if inp.kind == "pairs":
        if rk.strategy == "rating":
            return rate_answers(cfg, pairs_as_candidates(read_table(inp.pairs)), judges)
        return rank_pairs(read_table(inp.pairs), judges=judges, **rank_kw)
    if inp.kind == "candidates":
        cands = read_table(inp.candidates)
    else:
        g = cfg.generate
        prompts = inp.prompts if isinstance(inp.prompts, list) else read_table(inp.prompts)
        cands = generate(prompts, build_generators(cfg), n=g.n, temperature=g.temperature, system=g.system,
                         seed=g.seed, store=g.store, max_tokens=g.max_tokens)
    if rk.strategy == "rating":
        return rate_answers(cfg, cands, judges)
    return rank_responses(cands, judges, strategy=rk.strategy, budget=rk.budget, **rank_kw)


def rate_answers(cfg: CurateConfig, rows: Any, judges: list[Any]) -> Any:
    """``strategy: rating``: :func:`prefjudge.rate` over every answer, with ``rank.rating``'s template and rubric."""
    from prefjudge.curate.rating import rate

    rk = cfg.rank
    opts = rk.rating_options
    return rate(rows, judges, template=opts.template, rubric=opts.rubric, seed=rk.seed, store=rk.store)


def pairs_as_candidates(pairs: Any) -> list[dict[str, Any]]:
    """Pairs (a table or rows with prompt, response_a, response_b) as candidates rows: one per pair
    (``prompt_id`` = the pair's id), its two answers as ``responses``, for rating."""
    from prefjudge.judging.pairs import normalize_pairs

    rows = []
    for p in normalize_pairs(pairs):
        prompt = p.prompt if isinstance(p.prompt, str) else [m.model_dump() for m in p.prompt]
        rows.append({"prompt_id": p.id, "prompt": prompt, "system": p.system,
                     "responses": [p.response_a, p.response_b], "models": [p.model_a, p.model_b]})
    return rows


class RatedPairs:
    """A :class:`~prefjudge.curate.rating_result.RatingResult` made into one pair per prompt as the
    config asks (``rank.rating.rejected``, seeded by ``rank.seed``): what ``to_preferences`` reads
    (``preference_rows()``, and ``meta``, the rating run's provenance plus ``pairs_from_ratings``,
    the rules and the prompts that made no pair, which the dataset card shows)."""

    def __init__(self, result: Any, *, rejected: str = "lowest", seed: int = 0):
        from prefjudge.curate.from_ratings import ratings_to_preferences

        self.result = result
        self.table = ratings_to_preferences(result, rejected=rejected, seed=seed)  # type: ignore[arg-type]
        meta = dict(result.meta)
        self.meta = {**meta, "strategy": "rating", "pairs_from_ratings": {
            "template": meta.get("template"), "scale": meta.get("scale"), "score": meta.get("score"),
            "chosen": "highest score", "rejected": rejected, "ties": "dropped", "seed": seed,
            "margin": "score gap (chosen minus rejected)", "n_answers": len(result.items),
            "n_prompts": int(result.items["prompt_id"].nunique()) if len(result.items) else 0,
            "n_pairs": len(self.table), "no_pair": dict(self.table.attrs.get("dropped", {}))}}

    def preference_rows(self) -> Any:
        from prefjudge.curate.inputs import from_preference_table

        return from_preference_table(self.table)

    def __repr__(self) -> str:
        return f"RatedPairs({len(self.table)} pairs from {self.result!r})"


def preference_input(cfg: CurateConfig, ranked: Any) -> Any:
    """What ``to_preferences`` reads for ``ranked``: a RatingResult as :class:`RatedPairs`, the rest as is."""
    from prefjudge.curate.rating_result import RatingResult

    if isinstance(ranked, RatingResult):
        return RatedPairs(ranked, rejected=cfg.rank.rating_options.rejected, seed=cfg.rank.seed)
    return ranked


def preference_kwargs(cfg: CurateConfig) -> dict[str, Any]:
    """The ``to_preferences`` arguments a config asks for (filters, dedup, decontamination built).
    With ``strategy: rating`` the margin threshold is ``rank.rating.min_margin`` (a score gap)."""
    p, d = cfg.preferences, cfg.decontaminate
    min_margin = cfg.rank.rating_options.min_margin if cfg.rank.strategy == "rating" else p.min_margin
    return dict(min_margin=min_margin, min_agreement=p.min_agreement, drop_ties=p.drop_ties,
                drop_inconsistent=p.drop_inconsistent, length_balance=p.length_balance, format=p.format,
                chat_template=chat_template(p.chat_template), filters=build_filters(cfg.filters),
                dedup=cfg.dedup.model_dump() if cfg.dedup else None, seed=p.seed,
                decontaminate={"benchmarks": benchmark_texts(d), "n": d.n, "fields": d.fields} if d else None)


def audit_ranking(ranked: Any) -> Any:
    """The audit of what was judged: the pairwise audit of a RankResult with judgments, the ratings
    audit (:mod:`prefjudge.audit.ratings`) of a RatingResult, else None (a loaded dataset)."""
    from prefjudge.curate.rating_result import RatingResult
    from prefjudge.result import RankResult

    if isinstance(ranked, RatingResult):
        return ranked.audit() if len(ranked.ratings) else None
    if isinstance(ranked, RankResult) and len(ranked.judgments):
        from prefjudge.audit import audit

        return audit(ranked)
    return None


def run_curation(cfg: CurateConfig, config_file: str | Path | None = None, *, push: bool = True) -> CurationRun:
    """Every step of the config; the export folder also holds the config (the file itself when given)."""
    from prefjudge.curate.export import export
    from prefjudge.curate.preferences import to_preferences

    ranked = rank_input(cfg)
    prefs = to_preferences(preference_input(cfg, ranked), **preference_kwargs(cfg))
    report = audit_ranking(ranked) if cfg.output.audit else None
    o = cfg.output
    config = config_file if config_file is not None else cfg
    out = export(prefs, o.dir, format=o.format, audit=report, config=config, license=o.license,
                 pretty_name=o.pretty_name, overwrite=o.overwrite)
    commit = None
    if push and cfg.push is not None:
        from prefjudge.curate.hub import push_to_hub

        commit = push_to_hub(prefs, cfg.push.repo_id, private=cfg.push.private, audit=report, config=config,
                             license=o.license, pretty_name=o.pretty_name)
    return CurationRun(prefs, out, report, commit)
