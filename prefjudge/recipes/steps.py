"""The ``curate`` recipe step: generate candidates -> jury (random order) -> audit -> curate -> export.

Its ``config`` is a :class:`~prefjudge.curate.config.CurateConfig` (the YAML of ``prefjudge
curate``), so the same block runs standalone or inside a recipe. Inside a recipe:

- paths are relative to the recipe's folder (:func:`anchor_curate_config`; the rule is
  :mod:`prefjudge.recipes.paths`); ``output.dir`` defaults to ``OUT/<id>/dataset`` (an
  earlier export there is replaced), the generation and judging stores to ``OUT/<id>/*.db`` (a
  rerun into the same folder makes no call twice), and ``input.limit`` also caps a prompts file;
- ``judges_file`` names real judges (a YAML list of ``prefjudge.Judge`` settings, API keys from
  the environment) and replaces ``config.judges``;
- ``simulated`` starts an in-process loopback ``SimServer`` for the step: its simulated
  generators write the candidates and, unless real judges are given, its SIMULATED judges judge
  them; the latent quality of an answer is ``simulated.score(prompt, answer)``;
- the audit of the judgments is written as ``OUT/<id>/audit.html``, ``.md`` and ``.json`` (with
  ``rank.strategy: rating``, the ratings audit of :mod:`prefjudge.audit.ratings`);
- the export is what ``data.path: "@<id>"`` of a later training step reads.

The step's result (``run.json``'s ``curate``) holds the dataset path, the rows left after each
curation step, the length-balance shares, the audit paths and warnings and, for a simulated world,
the mean latent score of the chosen and rejected answers.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from prefjudge.config_files import format_errors
from prefjudge.errors import ConfigError
from prefjudge.judging.judges_file import read_judge_specs
from prefjudge.recipes.schema import CurateStep, SimulatedSpec

AUDIT_SUFFIX = {"html": "audit.html", "md": "audit.md", "json": "audit.json"}
_PLACEHOLDER = {"model": "placeholder"}


def resolve_score(spec: str, field: str = "simulated.score"):
    """The ``module:function`` score of a simulated world, with an error naming ``field``."""
    module, _, attr = spec.partition(":")
    try:
        fn = getattr(importlib.import_module(module), attr) if module and attr else None
    except (ImportError, AttributeError):
        fn = None
    if not callable(fn):
        raise ConfigError(f"field {field!r}: cannot import the score function {spec!r} (want 'module:function')")
    return fn


def anchor_curate_config(config: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """A copy of a curate ``config`` block with the paths written in it made absolute against
    ``base_dir`` (the recipe's folder; :mod:`prefjudge.recipes.paths`): the ``prompts``, ``pairs``
    and ``candidates`` files, file benchmarks, the stores and ``output.dir``; ``dataset``,
    ``data_files``, ``preferences.chat_template``, ``rank.rating.template`` and a reward-model
    judge's ``path`` only when they exist beside the recipe (else a Hub id, a template name).
    Absolute paths and inline lists stay as they are."""
    from prefjudge.recipes.paths import in_recipe, local_or_name

    config = copy.deepcopy(config)

    def section(key: str) -> dict[str, Any]:
        value = config.get(key)
        return value if isinstance(value, dict) else {}

    def fix(block: dict[str, Any], key: str, how) -> None:
        value = block.get(key)
        if isinstance(value, str) and value:
            block[key] = how(value, base_dir)
        elif isinstance(value, list) and how is local_or_name:
            block[key] = [how(v, base_dir) if isinstance(v, str) and v else v for v in value]

    inp = section("input")
    for key in ("prompts", "candidates", "pairs"):
        fix(inp, key, in_recipe)
    for key in ("dataset", "data_files"):
        fix(inp, key, local_or_name)
    bench = section("decontaminate").get("benchmarks")
    if isinstance(bench, dict):
        for key in bench:
            fix(bench, key, in_recipe)
    fix(section("generate"), "store", in_recipe)
    fix(section("rank"), "store", in_recipe)
    rating = section("rank").get("rating")
    if isinstance(rating, dict):
        fix(rating, "template", local_or_name)  # a template file beside the recipe, else a built-in name
    for spec in config.get("judges") or []:
        if isinstance(spec, dict) and spec.get("kind") == "reward_model":
            fix(spec, "path", local_or_name)  # a reward-model folder beside the recipe, else a Hub id
    fix(section("output"), "dir", in_recipe)
    fix(section("preferences"), "chat_template", local_or_name)
    return config


def curate_config_dict(step: CurateStep, out: Path, base_dir: Path, judges: list | None = None,
                       generators: list | None = None) -> dict[str, Any]:
    """The step's ``config`` with paths anchored to ``base_dir`` (:func:`anchor_curate_config`),
    stores and output under ``out`` unless set, and the judges and generators the step supplies
    (real judges from ``judges_file``, simulated ones)."""
    config = anchor_curate_config(step.config, base_dir)
    inp = config.setdefault("input", {})
    if isinstance(inp, dict):
        config["input"] = {k: v for k, v in inp.items() if v is not None}
    if judges is not None:
        config["judges"] = judges
    if generators is not None:
        config["generators"] = generators
    config.setdefault("generate", {}).setdefault("store", str(out / "generate.db"))
    config.setdefault("rank", {}).setdefault("store", str(out / "rank.db"))
    output = config.setdefault("output", {})
    if isinstance(output, dict):
        output["dir"] = output.get("dir") or str(out / "dataset")
        output.setdefault("overwrite", True)
    return config


def validate_curate_config(config: dict[str, Any], where: str):
    """A ``CurateConfig`` from the block, or a ``ConfigError`` naming the field (``config.rank.order``)."""
    from prefjudge.curate.config import CurateConfig

    try:
        return CurateConfig.model_validate(config)
    except ValidationError as err:
        raise ConfigError(format_errors(err, f"invalid {where}", ("config",))) from None


def check_curate_step(step: CurateStep, where: str, base_dir: Path | None = None) -> Any:
    """Validate a curate step offline (placeholders stand in for judges and generators it supplies)."""
    if step.simulated is not None:
        resolve_score(step.simulated.score)
        sim_parts(step.simulated)
    supplied = step.simulated is not None or step.judges_file is not None
    judges = [_PLACEHOLDER] if supplied and not step.config.get("judges") else None
    generators = [_PLACEHOLDER] if step.simulated is not None else None
    config = curate_config_dict(step, Path("OUT") / step.id, base_dir or Path("."), judges, generators)
    return validate_curate_config(config, where)


def sim_parts(spec: SimulatedSpec) -> tuple[list, list]:
    from prefjudge.testing import SimGenerator, SimJudge, default_sim_generators, default_sim_jury

    try:
        gens = [SimGenerator(**g) for g in spec.generators] if spec.generators is not None else default_sim_generators()
        judges = [SimJudge(**j) for j in spec.judges] if spec.judges is not None else default_sim_jury()
    except (TypeError, ValueError) as err:
        raise ConfigError(f"field 'simulated': {err}") from None
    return gens, judges


@contextlib.contextmanager
def simulated_world(spec: SimulatedSpec) -> Iterator[tuple[list[dict], list[dict]]]:
    """Start the loopback ``SimServer``; yield (generator settings, judge settings) pointing at it."""
    from prefjudge.simulated import register_endpoint
    from prefjudge.testing import SimServer, SimWorld

    gens, judges = sim_parts(spec)
    world = SimWorld(score=resolve_score(spec.score))
    with SimServer(judges=judges, generators=gens, world=world, seed=spec.seed) as server:
        def point(name: str, role: str) -> dict:
            register_endpoint(name, server.base_url, role)  # the judges' provenance then says SIMULATED
            return {"model": name, "base_url": server.base_url, "api_key": "simulated"}

        yield [point(g.name, "generators") for g in gens], [point(j.name, "judges") for j in judges]


def _limit_prompts(config: dict[str, Any], out: Path) -> None:
    """Honour ``input.limit`` for a prompts file: keep its first rows, in a copy under ``out``."""
    inp = config["input"]
    if not (inp.get("limit") and isinstance(inp.get("prompts"), str)):
        return
    from prefjudge.io import read_table, write_table

    out.mkdir(parents=True, exist_ok=True)
    table = read_table(inp["prompts"]).head(int(inp.pop("limit")))
    inp["prompts"] = str(write_table(table, out / "prompts.jsonl"))


def run_curate_step(step: CurateStep, out: Path, base_dir: Path) -> dict[str, Any]:
    """Run the step under ``out``; return its ``run.json`` entry (see the module docstring)."""
    real = read_judge_specs(_path(step.judges_file, base_dir)) if step.judges_file else None
    with contextlib.ExitStack() as stack:
        generators = sim_judges = None
        if step.simulated is not None:
            generators, sim_judges = stack.enter_context(simulated_world(step.simulated))
        config = curate_config_dict(step, out, base_dir, real or sim_judges, generators)
        _limit_prompts(config, out)
        cfg = validate_curate_config(config, f"curate step {step.id!r}")
        ranked, prefs = curate(cfg, simulated_parts(step, cfg, real is None))
    export_dir, report, audit_paths = export_curated(cfg, ranked, prefs, out, step.audit)
    result = summarize_curation(cfg, ranked, prefs, export_dir, report, audit_paths)
    result.update(simulated=step.simulated is not None, simulated_jury=step.simulated is not None and real is None,
                  simulated_parts=prefs.provenance.get("simulated"),
                  judges_file=str(_path(step.judges_file, base_dir)) if step.judges_file else None)
    if step.simulated is not None:
        result["latent_score"] = latent_scores(prefs, step.simulated.score)
    return result


def _path(value: str, base_dir: Path) -> Path:
    """A path written in the recipe (relative to its folder, ``base_dir``), absolute."""
    from prefjudge.recipes.paths import in_recipe

    return Path(in_recipe(value, base_dir))


def simulated_parts(step: CurateStep, cfg, sim_judges: bool) -> dict[str, Any] | None:
    """The SIMULATED marker of the step (:mod:`prefjudge.simulated`): its generators when it runs a
    simulated world, its judges too unless real ones (``judges_file``) replaced them."""
    from prefjudge.simulated import marker

    if step.simulated is None:
        return None
    from prefjudge.judging.judges_file import judge_name

    names = [g.get("name") or g.get("model") for g in cfg.generators]
    return marker(judges=[judge_name(j) for j in cfg.judges] if sim_judges else [], generators=names)


def curate(cfg, simulated: dict[str, Any] | None = None) -> tuple[Any, Any]:
    """Generate and rank (``prefjudge.curate.pipeline.rank_input``), then ``to_preferences``.

    ``simulated``: the step's SIMULATED marker, written into the ranking's provenance (so the
    preference set, the audit and the card carry it)."""
    from prefjudge.curate.pipeline import preference_input, preference_kwargs, rank_input
    from prefjudge.curate.preferences import to_preferences
    from prefjudge.simulated import KEY, merge

    ranked = rank_input(cfg)
    meta = getattr(ranked, "meta", None)
    if isinstance(meta, dict):
        if simulated:
            meta[KEY] = merge(meta.get(KEY), simulated)
        meta.setdefault("generation", generation_settings(cfg))
    return ranked, to_preferences(preference_input(cfg, ranked), **preference_kwargs(cfg))


def generation_settings(cfg) -> dict[str, Any] | None:
    """How the candidates were generated (None when the step ranks given pairs or candidates)."""
    if cfg.input.kind != "prompts":
        return None
    g = cfg.generate
    return {"generators": [s.get("name") or s.get("model") for s in cfg.generators], "n": g.n,
            "temperature": g.temperature, "max_tokens": g.max_tokens, "system": g.system, "seed": g.seed}


def export_curated(cfg, ranked, prefs, out: Path, formats: list[str]) -> tuple[Path, Any, dict[str, str]]:
    """Audit the judgments (files in ``formats`` under ``out``) and export with the card;
    returns the export folder, the audit (or None) and the audit file paths by format.

    A ranking is audited pairwise (:func:`prefjudge.audit.audit`); a RatingResult (``strategy:
    rating``) gets the ratings audit (:mod:`prefjudge.audit.ratings`: JSON, Markdown, and an HTML
    page holding the Markdown)."""
    from prefjudge.curate.export import export
    from prefjudge.curate.pipeline import audit_ranking

    report, paths = (audit_ranking(ranked) if cfg.output.audit else None), {}
    if report is not None:
        writers = audit_writers(report)
        for fmt in formats:
            writers[fmt](out / AUDIT_SUFFIX[fmt])
            paths[fmt] = str(out / AUDIT_SUFFIX[fmt])
    o, shared = cfg.output, without_keys(cfg)
    path = export(prefs, o.dir, format=o.format, audit=report, config=shared, license=o.license,
                  pretty_name=o.pretty_name, overwrite=o.overwrite)
    if cfg.push is not None:
        from prefjudge.curate.hub import push_to_hub

        push_to_hub(prefs, cfg.push.repo_id, private=cfg.push.private, audit=report, config=shared,
                    license=o.license, pretty_name=o.pretty_name)
    return path, report, paths


def audit_writers(report) -> dict[str, Any]:
    """Format -> a function writing ``report`` to a path: the pairwise audit's own writers, or, for the
    ratings audit (:class:`~prefjudge.audit.ratings.RatingAudit`), its JSON, its Markdown, and the
    Markdown in a plain HTML page."""
    from prefjudge.audit.ratings import RatingAudit

    if not isinstance(report, RatingAudit):
        return {"html": report.to_html, "md": report.to_markdown, "json": report.to_json}

    def write(text) -> Any:
        def to(path: Path) -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text(), encoding="utf-8")
        return to

    def html() -> str:
        import html as _html

        return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Ratings audit</title></head>\n"
                f"<body><pre>{_html.escape(report.to_markdown())}</pre></body></html>\n")

    return {"html": write(html), "md": write(report.to_markdown), "json": write(report.to_json)}


def without_keys(cfg):
    """The config with every judge's and generator's ``api_key`` removed: the export and the Hub
    get the run's settings, never a credential (a file cannot hold one; the simulated judges get one
    in Python, so that no ``OPENAI_API_KEY`` of the environment is sent to the simulator)."""
    from prefjudge.config_files import drop_secrets

    return cfg.model_copy(update={"judges": drop_secrets(cfg.judges), "generators": drop_secrets(cfg.generators)})


def row_counts(ranked, prefs) -> dict[str, int]:
    """Rows after each step, in order: prompts, candidates, comparisons, judgments (ratings, for
    ``strategy: rating``), pairs, then every curation step by name, and the rows exported."""
    rows: dict[str, int] = {}
    groups = getattr(ranked, "groups", None)
    if groups:
        rows["prompts"] = len(groups)
        rows["candidates"] = sum(len(g.responses) for g in groups)
    if hasattr(ranked, "ratings") and hasattr(ranked, "items"):  # a RatingResult (strategy: rating)
        rows["prompts"] = int(ranked.items["prompt_id"].nunique()) if len(ranked.items) else 0
        rows["candidates"] = len(ranked.items)
        rows["ratings"] = len(ranked.ratings)
    if hasattr(ranked, "judgments"):
        rows["comparisons"] = len(ranked.pairs)
        rows["judgments"] = len(ranked.judgments)
    report = prefs.report
    rows["pairs"] = report.n_input
    for s in report.steps:
        rows[s.step] = s.kept
    rows["exported"] = len(prefs)
    return rows


def summarize_curation(cfg, ranked, prefs, export_dir: Path, report, audit_paths: dict[str, str]) -> dict[str, Any]:
    """The ``curate`` entry of ``run.json``."""
    from prefjudge.judging.judges_file import judge_name

    data_files = sorted(str(p) for p in (export_dir / "data").rglob("*") if p.is_file())
    meta = getattr(ranked, "meta", {}) or {}
    out = {
        "path": str(export_dir), "data_files": data_files, "card": str(export_dir / "README.md"),
        "format": cfg.output.format, "rows": row_counts(ranked, prefs),
        "steps": prefs.report.to_dict()["steps"], "length_balance": prefs.report.length_balance,
        "audit": audit_paths, "audit_warnings": list(getattr(report, "warnings", None) or []),
        "judges": [judge_name(j) for j in cfg.judges],
        "generators": [g.get("name") or g.get("model") for g in cfg.generators],
        "strategy": cfg.rank.strategy, "order": cfg.rank.order,
        "calls": {"made": meta.get("n_calls_made"), "cached": meta.get("n_calls_cached")},
    }
    rules = (getattr(prefs, "provenance", None) or {}).get("pairs_from_ratings")
    if rules:
        out["pairs_from_ratings"] = rules
    return out


def latent_scores(prefs, score: str) -> dict[str, Any]:
    """Mean latent score (the simulated world's truth) of the chosen and rejected answers kept."""
    fn = resolve_score(score)
    df = prefs.to_pandas()

    def text(v: Any) -> str:
        return v if isinstance(v, str) else str(v[-1]["content"])

    chosen = [float(fn(str(p), text(c))) for p, c in zip(df["prompt"], df["chosen"])]
    rejected = [float(fn(str(p), text(r))) for p, r in zip(df["prompt"], df["rejected"])]
    n = len(chosen)
    return {"score": score, "n": n, "chosen_mean": sum(chosen) / n if n else None,
            "rejected_mean": sum(rejected) / n if n else None,
            "chosen_better_share": sum(c > r for c, r in zip(chosen, rejected)) / n if n else None}
