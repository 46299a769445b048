"""Run a :class:`~prefjudge.curate.config.CurateConfig`: the steps of ``prefjudge curate``.

input -> (generate) -> (rank_pairs | rank_responses | re-judge) -> to_preferences -> audit -> export -> (push).
Relative paths in the config are relative to the current directory.
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
    """Judge objects from the config (a Jury when ``jury`` is set); errors name the entry."""
    judges = _judges(cfg.judges, "judges")
    if cfg.jury is None or not judges:
        return judges
    from prefjudge.aggregation.jury import Jury

    return Jury(judges, aggregate=cfg.jury.aggregate, quorum=cfg.jury.quorum, same_family=cfg.jury.same_family)


def build_generators(cfg: CurateConfig) -> list[Any]:
    from prefjudge.curate.generator import Generator

    return _build(Generator, cfg.generators, "generators")


def _judges(specs: list[dict[str, Any]], field: str) -> list[Any]:
    from prefjudge.judging.judge import Judge

    return _build(Judge, specs, field)


def _build(cls: type, specs: list[dict[str, Any]], field: str) -> list[Any]:
    """``cls`` objects (Judge or Generator) from config entries; a bad entry's error names ``field[i]``."""
    out = []
    for i, spec in enumerate(specs):
        try:
            out.append(cls(**spec))
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
    """The ranked (or loaded) data that ``to_preferences`` curates."""
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
        return rank_pairs(to_pairs(ds, rk.seed), judges=judges, **rank_kw) if rk.rejudge else ds
    if inp.kind == "pairs":
        return rank_pairs(read_table(inp.pairs), judges=judges, **rank_kw)
    if inp.kind == "candidates":
        cands = read_table(inp.candidates)
    else:
        g = cfg.generate
        prompts = inp.prompts if isinstance(inp.prompts, list) else read_table(inp.prompts)
        cands = generate(prompts, build_generators(cfg), n=g.n, temperature=g.temperature, system=g.system,
                         seed=g.seed, store=g.store, max_tokens=g.max_tokens)
    return rank_responses(cands, judges, strategy=rk.strategy, budget=rk.budget, **rank_kw)


def preference_kwargs(cfg: CurateConfig) -> dict[str, Any]:
    """The ``to_preferences`` arguments a config asks for (filters, dedup, decontamination built)."""
    p, d = cfg.preferences, cfg.decontaminate
    return dict(min_margin=p.min_margin, min_agreement=p.min_agreement, drop_ties=p.drop_ties,
                drop_inconsistent=p.drop_inconsistent, length_balance=p.length_balance, format=p.format,
                chat_template=chat_template(p.chat_template), filters=build_filters(cfg.filters),
                dedup=cfg.dedup.model_dump() if cfg.dedup else None, seed=p.seed,
                decontaminate={"benchmarks": benchmark_texts(d), "n": d.n, "fields": d.fields} if d else None)


def run_curation(cfg: CurateConfig, config_file: str | Path | None = None, *, push: bool = True) -> CurationRun:
    """Every step of the config; the export folder also holds the config (the file itself when given)."""
    from prefjudge.curate.export import export
    from prefjudge.curate.preferences import to_preferences
    from prefjudge.result import RankResult

    ranked = rank_input(cfg)
    prefs = to_preferences(ranked, **preference_kwargs(cfg))
    report = None
    if cfg.output.audit and isinstance(ranked, RankResult) and len(ranked.judgments):
        from prefjudge.audit import audit

        report = audit(ranked)
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
