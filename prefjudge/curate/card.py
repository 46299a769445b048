"""Dataset card: README.md with YAML metadata (huggingface_hub's DatasetCard / DatasetCardData).

Sections: what the data is, how it was built (generators, judges with template hashes, order mode,
seed, curation settings), the audit summary table (``AuditReport.to_markdown()`` when given), the
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


def build_card(prefs: Any, *, audit: Any = None, pretty_name: str | None = None, license: str = "other",
               data_files: list[dict[str, str]] | None = None, config_file: str | None = None) -> DatasetCard:
    """A :class:`huggingface_hub.DatasetCard` for a PreferenceSet (or a plain Dataset)."""
    from huggingface_hub import DatasetCard, DatasetCardData

    ds = getattr(prefs, "dataset", prefs)
    files = data_files or [{"split": "train", "path": "data/train-*"}]
    data = DatasetCardData(
        license=license, task_categories=["text-generation"], size_categories=[size_category(len(ds))],
        pretty_name=pretty_name or "Preference pairs built with prefjudge", language=None,
        tags=["dpo", "preference", "prefjudge", "llm-as-judge"],
        configs=[{"config_name": "default", "data_files": files}],
    )
    body = card_body(prefs, audit=audit, title=data.pretty_name, config_file=config_file)
    return DatasetCard(f"---\n{data.to_yaml()}\n---\n\n{body}")


def card_body(prefs: Any, *, audit: Any = None, title: str = "Preference pairs", config_file: str | None = None) -> str:
    """The Markdown body of the card (everything under the YAML header)."""
    ds = getattr(prefs, "dataset", prefs)
    report = getattr(prefs, "report", None)
    prov = dict(getattr(prefs, "provenance", {}) or {})
    fmt = "conversational" if ds.column_names and _is_chat(ds) else "standard"
    parts = [
        f"# {title}\n",
        f"{len(ds)} preference pairs for DPO in TRL's {fmt} format (`prompt`, `chosen`, `rejected`), "
        "built and curated with prefjudge.\n",
        "## How the data was built\n", _provenance(ds, prov, config_file),
        "## Audit summary\n", _audit(audit),
        "## Filters and rows removed\n",
        report.to_markdown() + "\n" if report is not None and report.steps else "No curation steps were recorded.\n",
        "## Columns\n", _columns(ds.column_names),
        "## Use\n", "```python\nfrom datasets import load_dataset\n\nds = load_dataset(\"REPO_OR_DIR\", split=\"train\")\n"
        "# trl.DPOTrainer(model=..., args=DPOConfig(...), train_dataset=ds, processing_class=tokenizer)\n```\n",
    ]
    return "\n".join(parts)


def _is_chat(ds: Any) -> bool:
    return len(ds) > 0 and isinstance(ds[0]["prompt"], list)


def _provenance(ds: Any, prov: dict[str, Any], config_file: str | None) -> str:
    lines = []
    gens = sorted({m for c in ("model_chosen", "model_rejected") if c in ds.column_names for m in ds[c] if m})
    gens = gens or [g.get("name", str(g)) if isinstance(g, dict) else str(g) for g in prov.get("generators", [])]
    lines.append(f"- Generators: {', '.join(f'`{g}`' for g in gens) if gens else 'not recorded'}")
    judges = prov.get("judges") or []
    if judges:
        lines.append("- Judges:")
        lines += [f"  - {_judge_line(j)}" for j in judges]
    else:
        lines.append("- Judges: none recorded (labels came with the source data)")
    for key, label in (("order", "Order mode"), ("seed", "Seed"), ("aggregate", "Aggregation"), ("strategy", "Ranking strategy"),
                       ("source", "Source")):
        if prov.get(key) is not None:
            lines.append(f"- {label}: `{prov[key]}`")
    settings = {k: v for k, v in (prov.get("curation") or {}).items() if v is not None}
    if settings:
        lines.append("- Curation settings: " + ", ".join(f"`{k}={v}`" for k, v in settings.items()))
    if config_file:
        lines.append(f"- Run configuration: [`{config_file}`]({config_file})")
    return "\n".join(lines) + "\n"


def _judge_line(j: Any) -> str:
    if not isinstance(j, dict):
        return f"`{j}`"
    bits = [f"`{j.get('name')}`"]
    if j.get("model") and j.get("model") != j.get("name"):
        bits.append(f"model `{j['model']}`")
    for key in ("backend", "family", "template", "mode", "temperature"):
        if j.get(key) is not None:
            bits.append(f"{key} `{j[key]}`")
    if j.get("template_sha256"):
        bits.append(f"template sha256 `{j['template_sha256']}`")
    return ", ".join(bits)


def _audit(audit: Any) -> str:
    if audit is None:
        return "No audit was attached to this export.\n"
    if hasattr(audit, "to_markdown"):
        return audit.to_markdown().strip() + "\n"
    return str(audit).strip() + "\n"


def _columns(names: list[str]) -> str:
    lines = ["| column | meaning |", "|---|---|"]
    lines += [f"| `{c}` | {_COLUMN_DOCS.get(c, 'carried over from the input')} |" for c in names]
    return "\n".join(lines) + "\n"
