"""Dataset card: README.md with YAML metadata (huggingface_hub's DatasetCard / DatasetCardData).

Sections: what the data is (opening with a SIMULATED banner when simulated judges or generators
made it, :mod:`prefjudge.simulated`), how it was built (generators and generation settings, judges
with template hashes, order mode, seed, how pairs were made from ratings when they were, chat
template, where the system prompts went, decontamination benchmarks, curation settings), the audit summary (``AuditReport.to_markdown()``
when given, its headings moved two levels down so that its sections nest under the card's), the
filters and the rows each removed, the columns, and how to load it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from huggingface_hub import DatasetCard

_COLUMN_DOCS = {
    "prompt": "the prompt (a string, or chat messages in the conversational format)",
    "chosen": "the preferred answer",
    "rejected": "the other answer",
    "system": "the system prompt, when there is one",
    "id": "pair id",
    "margin": "strength of the preference in [0, 1] (|2 p_a - 1| for judged pairs)",
    "agreement": "share of parsed verdicts that agree with the winner",
    "consistent": "whether every judge that saw both orders gave the same verdict (null when unknown)",
    "judges": "judges with a parsed verdict on the pair",
    "model_chosen": "generator of the chosen answer",
    "model_rejected": "generator of the rejected answer",
    "len_chosen": "characters in the chosen answer",
    "len_rejected": "characters in the rejected answer",
    "score_chosen": "strength of the chosen answer in the ranking",
    "score_rejected": "strength of the rejected answer in the ranking",
}
#: The columns' meaning when the pairs were made from ratings (``strategy: rating``, ``to_preferences(rating_result)``).
_RATING_COLUMN_DOCS = {
    "margin": "score gap: the chosen answer's score minus the rejected answer's (in the template's units, or "
              "z-scores when reward models are mixed in)",
    "agreement": "share of the judges that rated both answers who scored the chosen answer higher",
    "judges": "judges that rated both answers",
    "score_chosen": "score of the chosen answer (mean over the judges; mean z-score when reward models are mixed in)",
    "score_rejected": "score of the rejected answer (as score_chosen)",
    "chosen_id": "id of the chosen answer among the rated answers",
    "rejected_id": "id of the rejected answer among the rated answers",
    "n_candidates": "answers to the prompt",
    "n_rated": "answers to the prompt with a score",
}


def size_category(n: int) -> str:
    """The Hub's size bucket for ``n`` rows.

    >>> size_category(999), size_category(1000), size_category(2_500_000)
    ('n<1K', '1K<n<10K', '1M<n<10M')
    """
    for limit, label in ((10**3, "n<1K"), (10**4, "1K<n<10K"), (10**5, "10K<n<100K"), (10**6, "100K<n<1M"),
                         (10**7, "1M<n<10M")):
        if n < limit:
            return label
    return "10M<n<100M"


def run_marker(prefs: Any, audit: Any = None) -> dict[str, Any] | None:
    """The SIMULATED mark of the data (its provenance) and of the audit, merged (None: nothing simulated)."""
    from prefjudge.simulated import KEY, from_description, from_meta, merge

    prov = getattr(prefs, "provenance", None) or {}
    data = audit.to_dict() if audit is not None and hasattr(audit, "to_dict") else {}
    info = getattr(getattr(prefs, "dataset", prefs), "info", None)  # a bare Dataset from to_preferences
    return merge(from_meta(prov), data.get(KEY) if isinstance(data, dict) else None,
                 from_description(getattr(info, "description", None)))


def build_card(prefs: Any, *, audit: Any = None, pretty_name: str | None = None, license: str = "other",
               data_files: list[dict[str, Any]] | None = None, config_file: str | None = None,
               config_name: str = "default", config: Any = None) -> DatasetCard:
    """A :class:`huggingface_hub.DatasetCard` for a PreferenceSet (or a plain Dataset).

    ``config``: the run's configuration (model, dict or YAML path), read for the generation
    settings when the provenance has none."""
    from huggingface_hub import DatasetCard, DatasetCardData

    ds = getattr(prefs, "dataset", prefs)
    files = data_files or [{"split": "train", "path": "data/train-*"}]
    sim = run_marker(prefs, audit)
    data = DatasetCardData(
        license=license, task_categories=["text-generation"], size_categories=[size_category(len(ds))],
        pretty_name=pretty_name or "Preference pairs built with prefjudge", language=None,
        tags=["dpo", "preference", "prefjudge", "llm-as-judge", *(["simulated"] if sim else [])],
        configs=[{"config_name": config_name, "data_files": files}],
    )
    body = card_body(prefs, audit=audit, title=data.pretty_name, config_file=config_file, config=config)
    return DatasetCard(f"---\n{data.to_yaml()}\n---\n\n{body}")


def card_body(prefs: Any, *, audit: Any = None, title: str = "Preference pairs", config_file: str | None = None,
              config: Any = None) -> str:
    """The Markdown body of the card (everything under the YAML header)."""
    from prefjudge.simulated import headline

    ds = getattr(prefs, "dataset", prefs)
    report = getattr(prefs, "report", None)
    prov = dict(getattr(prefs, "provenance", {}) or {})
    fmt = "conversational" if ds.column_names and _is_chat(ds) else "standard"
    sim = run_marker(prefs, audit)
    banner = [f"> **{headline(sim)}** These pairs show how prefjudge works; they are not preference data "
              "about real models. Do not train a model you mean to use on them.\n"] if sim else []
    parts = [
        f"# {title}\n", *banner,
        f"{len(ds)} preference pairs for DPO in TRL's {fmt} format (`prompt`, `chosen`, `rejected`), "
        "built and curated with prefjudge.\n",
        "## How the data was built\n", _provenance(ds, prov, config_file, report, _config_dict(config)),
        "## Audit summary\n", _audit(audit),
        "## Filters and rows removed\n",
        report.to_markdown() + "\n" if report is not None and report.steps else "No curation steps were recorded.\n",
        "## Columns\n", _columns(ds.column_names, rated=prov.get("task") == "rating"),
        "## Use\n", "```python\nfrom datasets import load_dataset\n\nds = load_dataset(\"REPO_OR_DIR\", split=\"train\")\n"
        "# trl.DPOTrainer(model=..., args=DPOConfig(...), train_dataset=ds, processing_class=tokenizer)\n```\n",
    ]
    return "\n".join(parts)


def _is_chat(ds: Any) -> bool:
    return len(ds) > 0 and isinstance(ds[0]["prompt"], list)


def _config_dict(config: Any) -> dict[str, Any]:
    """The run's configuration as a dict (empty when absent or unreadable: the card then says "not recorded")."""
    from pathlib import Path

    if config is None:
        return {}
    if hasattr(config, "model_dump"):
        return config.model_dump(mode="json", exclude_none=True)
    if isinstance(config, dict):
        return config
    if isinstance(config, (str, Path)) and Path(config).is_file():
        import yaml

        try:
            loaded = yaml.safe_load(Path(config).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            return {}
        return loaded if isinstance(loaded, dict) else {}
    return {}


def _provenance(ds: Any, prov: dict[str, Any], config_file: str | None, report: Any = None,
                config: dict[str, Any] | None = None) -> str:
    from prefjudge.simulated import from_description, from_meta, merge

    lines = []
    sim = merge(from_meta(prov), from_description(getattr(getattr(ds, "info", None), "description", None))) or {}
    gens = sorted({m for c in ("model_chosen", "model_rejected") if c in ds.column_names for m in ds[c] if m})
    gens = gens or [g.get("name", str(g)) if isinstance(g, dict) else str(g) for g in prov.get("generators", [])]
    sim_gens = set(sim.get("generators") or ())
    lines.append(f"- Generators: {', '.join(_named(g, sim_gens) for g in gens) if gens else 'not recorded'}")
    lines.append(f"- Generation: {_generation(prov, config or {})}")
    judges = prov.get("judges") or []
    sim_judges = set(sim.get("judges") or ())
    if judges:
        lines.append("- Judges:")
        lines += [f"  - {_judge_line(j, sim_judges)}" for j in judges]
    else:
        named = sorted({str(n) for v in (ds["judges"] if "judges" in ds.column_names else []) for n in (v or [])})
        if named:
            lines.append(f"- Judges: {', '.join(_named(n, sim_judges) for n in named)} (names from the rows' `judges` "
                         "column; their models, templates and settings were not recorded with this data)")
        else:
            lines.append("- Judges: none recorded (labels came with the source data)")
    for key, label in (("order", "Order mode"), ("seed", "Seed"), ("aggregate", "Aggregation"), ("strategy", "Ranking strategy"),
                       ("source", "Source")):
        if prov.get(key) is not None:
            lines.append(f"- {label}: `{prov[key]}`")
    if prov.get("task") == "rating":
        lines.append(f"- Pairs from ratings: {_from_ratings(prov)}")
    settings = {k: v for k, v in (prov.get("curation") or {}).items() if v is not None}
    lines.append(f"- Chat template: {_code_or_text(settings.pop('chat_template', None), 'not recorded')}")
    system = settings.pop("system_prompt", None)
    if system:
        lines.append(f"- System prompts: {system}")
    lines.append(f"- Decontamination: {_decontamination(settings.pop('decontaminate', None), report)}")
    if settings:
        lines.append("- Curation settings: " + ", ".join(f"`{k}={v}`" for k, v in settings.items()))
    if config_file:
        lines.append(f"- Run configuration: [`{config_file}`]({config_file})")
    return "\n".join(lines) + "\n"


def _from_ratings(prov: dict[str, Any]) -> str:
    """How the pairs were made from ratings (the run's ``pairs_from_ratings`` record, else the defaults
    of ``to_preferences(rating_result)``: rejected = lowest)."""
    rules = prov.get("pairs_from_ratings") if isinstance(prov.get("pairs_from_ratings"), dict) else {}
    scale = rules.get("scale", prov.get("scale")) or []
    template = rules.get("template", prov.get("template"))
    kinds = {j.get("kind") for j in prov.get("judges") or [] if isinstance(j, dict)}
    if kinds == {"reward"}:  # reward models alone: no template, no scale, their raw rewards
        rated = "each answer scored on its own by reward models (raw rewards"
    else:
        rated = f"each answer rated on its own (template `{template}`" + (f", scale {scale[0]:g}-{scale[1]:g}" if len(scale) == 2 else "")
    rated += f"; score: {rules.get('score', prov.get('score')) or 'mean over judges'})"
    rejected = ("an answer drawn among those scored strictly lower (seed "
                f"`{rules.get('seed')}`)" if rules.get("rejected") == "random" else "the lowest-scored answer")
    text = (f"{rated}; one pair per prompt: chosen = the highest-scored answer, rejected = {rejected}; "
            "answers that all tie make no pair; margin = the score gap")
    no_pair = rules.get("no_pair") or {}
    if rules.get("n_pairs") is not None:
        text += (f". {rules.get('n_prompts')} prompts rated, {rules['n_pairs']} pairs; no pair: {no_pair.get('ties', 0)} "
                 f"prompt(s) with tied answers, {no_pair.get('fewer_than_two', 0)} with fewer than two rated answers "
                 f"({no_pair.get('unrated', 0)} answer(s) without a score)")
    return text


def _named(name: str, simulated: set[str]) -> str:
    return f"`{name}`" + (" (SIMULATED)" if name in simulated else "")


def _code_or_text(value: Any, missing: str) -> str:
    if value is None:
        return missing
    text = str(value)
    return text if text.startswith(("none", "the chat template", "Jinja")) else f"`{text}`"


def _generation(prov: dict[str, Any], config: dict[str, Any]) -> str:
    """n, temperatures, max tokens, system prompt and seed of candidate generation (provenance first, then the config)."""
    gen = prov.get("generation")
    if not isinstance(gen, dict):
        gen = config.get("generate") if isinstance(config.get("generate"), dict) and config.get("generators") else None
    if not gen:
        return "not recorded (the pairs or candidates came from elsewhere)"
    labels = (("n", "samples per prompt and generator"), ("temperature", "temperature"), ("max_tokens", "max tokens"),
              ("seed", "seed"), ("system", "system prompt"))
    return ", ".join(f"{label} `{gen[k]}`" for k, label in labels if gen.get(k) is not None) or "default settings"


def _decontamination(spec: Any, report: Any) -> str:
    if not isinstance(spec, dict):
        return "none"
    step = next((s for s in getattr(report, "steps", []) if s.step == "decontaminate"), None)
    k = step.details.get("benchmark_texts") if step is not None else None
    texts = f", {k} text{'' if k == 1 else 's'}" if k else ""
    removed = f"; {step.removed} rows removed" if step is not None else ""
    bench = ", ".join(f"`{b}`" for b in spec.get("benchmarks") or [])
    fields = ", ".join(f"`{f}`" for f in spec.get("fields") or [])
    return f"against {bench}{texts} ({spec.get('n')}-word n-grams in {fields}){removed}"


def _judge_line(j: Any, simulated: set[str] | None = None) -> str:
    if not isinstance(j, dict):
        return f"`{j}`" + (" (SIMULATED)" if simulated and str(j) in simulated else "")
    bits = [f"`{j.get('name')}`"]
    sim = bool(simulated) and (j.get("name") in simulated or j.get("model") in simulated)
    if sim:
        bits[0] += " (SIMULATED: prefjudge's simulated judge, not an LLM)"
    if j.get("model") and j.get("model") != j.get("name"):
        bits.append(f"model `{j['model']}`")
    for key in ("backend", "family", "template", "mode", "temperature"):
        if j.get(key) is not None:
            bits.append(f"{key} `{j[key]}`" + (" (the simulator's OpenAI-compatible API)" if sim and key == "backend" else ""))
    if j.get("template_sha256"):
        bits.append(f"template sha256 `{j['template_sha256']}`")
    return ", ".join(bits)


def demote(markdown: str, levels: int = 2) -> str:
    """Markdown with every ATX heading moved ``levels`` down (at most ``######``), code blocks untouched:
    a document pasted under a card's ``##`` section nests there instead of opening sibling sections.

    >>> demote("# Judge audit\\n\\n## Warnings\\n```\\n# code\\n```")
    '### Judge audit\\n\\n#### Warnings\\n```\\n# code\\n```'
    """
    out, fence = [], None
    for line in markdown.split("\n"):
        stripped = line.lstrip()
        if stripped.startswith(("```", "~~~")):
            mark = stripped[:3]
            fence = None if fence == mark else (fence or mark)
        elif fence is None and stripped.startswith("#") and len(line) - len(stripped) < 4:
            hashes = len(stripped) - len(stripped.lstrip("#"))
            if hashes <= 6 and (len(stripped) == hashes or stripped[hashes] in " \t"):
                line = "#" * min(6, hashes + levels) + stripped[hashes:]
        out.append(line)
    return "\n".join(out)


def _audit(audit: Any) -> str:
    if audit is None:
        return "No audit was attached to this export.\n"
    text = audit.to_markdown() if hasattr(audit, "to_markdown") else str(audit)
    return demote(text.strip()) + "\n"


def _columns(names: list[str], rated: bool = False) -> str:
    docs = {**_COLUMN_DOCS, **_RATING_COLUMN_DOCS} if rated else _COLUMN_DOCS
    lines = ["| column | meaning |", "|---|---|"]
    lines += [f"| `{c}` | {docs.get(c, 'carried over from the input')} |" for c in names]
    return "\n".join(lines) + "\n"
