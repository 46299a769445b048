"""Model cards (``README.md``) for trained adapters and merged models.

After training, the adapter folder gets ``README.md`` and ``prefjudge_training.json`` (the config
as run, the data counts and fingerprint, the last logged metrics, the environment); a merge writes
the merged model's card from its adapters' records. An evaluation of a folder prefjudge carded adds
its result (:func:`add_evaluation`). The card's YAML header is the Hub's model-card metadata:
``base_model`` and ``datasets`` (only Hub ids: a local path is named in the text instead, since the
Hub refuses a ``base_model`` that is not a repo), ``library_name`` (peft for an adapter,
transformers for a merged model) and ``tags`` (the trainer, ``trl``, ``prefjudge``, ``lora``...).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

RECORD = "prefjudge_training.json"
CARD = "README.md"
MARK = "<!-- prefjudge model card -->"
EVAL_START, EVAL_END = "<!-- prefjudge eval -->", "<!-- /prefjudge eval -->"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def hub_id(name: str | None) -> str | None:
    """``name`` when it reads as a Hub repo id and is not a local path, else None."""
    if not name or Path(name).exists() or not _HUB_ID.match(name):
        return None
    return name


def _metadata(base: str | None, datasets: list[str], tags: list[str], library: str) -> str:
    meta: dict[str, Any] = {}
    if hub_id(base):
        meta["base_model"] = base
    hub_datasets = [d for d in datasets if hub_id(d)]
    if hub_datasets:
        meta["datasets"] = hub_datasets
    meta["library_name"] = library
    meta["tags"] = list(dict.fromkeys(tags))
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n"


def _config_block(config: dict[str, Any]) -> str:
    return "```yaml\n" + yaml.safe_dump(config, sort_keys=False, allow_unicode=True) + "```\n"


def training_record(cfg: Any, output: Any) -> dict[str, Any]:
    """What ``prefjudge_training.json`` holds (and the card is written from)."""
    from prefjudge.train.trl_support import TRAINERS

    data = cfg.data
    trainer = getattr(output, "trainer", None) or output.method
    spec = TRAINERS.get(trainer)
    last = output.history[-1] if output.history else {}
    return {
        "kind": "adapter", "method": output.method, "trainer": trainer,
        "trl_class": f"{spec.module}.{spec.trainer}" if spec else "trl.SFTTrainer",
        "losses": output.runtime.get("loss_types") or [],
        "base_model": output.base_model, "dataset": data.hub_id or data.path,
        "dataset_split": data.split, "loader": data.loader, "rows": output.rows,
        "data_fingerprint": output.data_fingerprint, "last_metrics": last,
        "eval_history_last": output.eval_history[-1] if output.eval_history else None,
        "runtime": output.runtime, "notes": output.notes, "environment": output.environment,
        "config": cfg.model_dump(mode="json"),
    }


def _tags(record: dict[str, Any]) -> list[str]:
    trainer = record.get("trainer") or record.get("method") or "dpo"
    tags = [trainer, "trl", "prefjudge"]
    if record.get("method") == "dpo" and trainer != "dpo":
        tags.append("preference-optimization")
    tags.append("lora")
    quant = (record.get("config") or {}).get("quantization", {}).get("mode")
    if quant == "4bit":
        tags.append("qlora")
    return tags


def _training_section(record: dict[str, Any]) -> list[str]:
    libs = (record.get("environment") or {}).get("libraries", {})
    pj = (record.get("environment") or {}).get("prefjudge", {})
    lines = [
        f"- base model: `{record['base_model']}`",
        f"- trainer: {record.get('trl_class')} (TRL {libs.get('trl') or '?'})"
        + (f", loss types {', '.join(record['losses'])}" if record.get("losses") else ""),
        f"- data: `{record['dataset']}` (split {record['dataset_split']}, loader {record['loader']}); rows "
        + ", ".join(f"{k} {v}" for k, v in (record.get("rows") or {}).items()),
    ]
    fp = record.get("data_fingerprint") or {}
    if fp:
        lines.append(f"- training data sha256: `{fp.get('train_sha256')}`")
    metrics = {k: v for k, v in (record.get("last_metrics") or {}).items() if k != "epoch"}
    if metrics:
        lines.append("- last logged step: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
    if pj:
        commit = f", commit {pj['commit'][:12]}{' (uncommitted changes)' if pj.get('dirty') else ''}" if pj.get("commit") else ""
        lines.append(f"- prefjudge {pj.get('version')}{commit}")
    lines.extend(f"- note: {n}" for n in record.get("notes") or [])
    return lines


def _usage(kind: str, base: str, repo: str) -> str:
    if kind == "adapter":
        code = ("from peft import AutoPeftModelForCausalLM\n"
                f"model = AutoPeftModelForCausalLM.from_pretrained({repo!r})  # loads {base} and the adapter")
    else:
        code = ("from transformers import AutoModelForCausalLM, AutoTokenizer\n"
                f"model = AutoModelForCausalLM.from_pretrained({repo!r})\n"
                f"tokenizer = AutoTokenizer.from_pretrained({repo!r})")
    return "```python\n" + code + "\n```\n"


def adapter_card(record: dict[str, Any], folder: str | Path, repo_id: str | None = None) -> str:
    """The adapter's card from its :func:`training_record` (``repo_id``: where it is pushed)."""
    trainer = record.get("trainer") or record["method"]
    body = [
        _metadata(record["base_model"], [record["dataset"]] if record.get("dataset") else [], _tags(record), "peft"),
        MARK, "", f"# {Path(folder).parent.name or Path(folder).name} ({trainer.upper()} LoRA adapter)", "",
        f"A LoRA adapter for `{record['base_model']}`, trained with prefjudge's {trainer.upper()} run on TRL.", "",
        "## Training", "", *_training_section(record), "",
        "## Evaluation", "", EVAL_START, "No evaluation recorded.", EVAL_END, "",
        "## Usage", "", _usage("adapter", record["base_model"], repo_id or str(folder)),
        "## Training config", "", _config_block(record["config"]),
    ]
    return "\n".join(body)


def read_record(adapter: str | Path) -> dict[str, Any] | None:
    path = Path(adapter) / RECORD
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def write_adapter_card(cfg: Any, output: Any, folder: str | Path, repo_id: str | None = None) -> Path:
    """Write ``prefjudge_training.json`` and ``README.md`` (replacing PEFT's template) into ``folder``."""
    folder = Path(folder)
    record = training_record(cfg, output)
    (folder / RECORD).write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
    path = folder / CARD
    path.write_text(adapter_card(record, folder, repo_id), encoding="utf-8")
    return path


def merged_card(base: str, adapters: list[str], dtype: str, check: dict[str, Any] | None, out: str | Path,
                repo_id: str | None = None) -> str:
    """The merged model's card: the base, each adapter's training (from its record), the merge check."""
    records = [(a, read_record(a)) for a in adapters]
    known = [r for _, r in records if r]
    tags = list(dict.fromkeys(t for r in known for t in _tags(r))) or ["trl", "prefjudge"]
    tags = [t for t in tags if t not in ("lora", "qlora")] + ["merged"]
    datasets = [r["dataset"] for r in known if r.get("dataset")]
    body = [
        _metadata(base, datasets, tags, "transformers"), MARK, "",
        f"# {Path(out).parent.name or Path(out).name} (merged)", "",
        f"`{base}` with {len(adapters)} LoRA adapter(s) merged in, in this order, saved in {dtype}.", "",
    ]
    if check:
        body += [f"Merge check: max |logit diff| between the merged model and base + adapters "
                 f"{check.get('max_abs_logit_diff')} (tolerance {check.get('tolerance')})"
                 + (f", argmax disagreement {check['argmax_disagreement']:.3f}" if check.get("argmax_disagreement") is not None
                    else "") + ".", ""]
        gap = check.get("trained_gap") or {}
        if gap.get("max_abs_logit_diff") is not None:
            how = "merged into a dequantized copy of the 4-bit base" if check.get("dequantized") else \
                "merged into the 16-bit base (the QLoRA merge gap: the adapter was trained on the 4-bit base)"
            body += [f"Against the trained model ({gap.get('reference')}): max |logit diff| "
                     f"{gap['max_abs_logit_diff']:.4g}, argmax disagreement {gap['argmax_disagreement']:.3f}; {how}.", ""]
    configs: dict[str, Any] = {}
    for i, (adapter, record) in enumerate(records, 1):
        body += [f"## Adapter {i}: `{adapter}`", ""]
        if record is None:
            body += ["No prefjudge training record (trained elsewhere).", ""]
            continue
        body += [*_training_section(record), ""]
        configs[f"adapter_{i}"] = record["config"]
    body += ["## Evaluation", "", EVAL_START, "No evaluation recorded.", EVAL_END, "",
             "## Usage", "", _usage("merged", base, repo_id or str(out))]
    if configs:
        body += ["## Training config", "", _config_block(configs)]
    return "\n".join(body)


def write_merged_card(base: str, adapters: list[str], dtype: str, check: dict[str, Any] | None,
                      out: str | Path, repo_id: str | None = None) -> Path:
    path = Path(out) / CARD
    path.write_text(merged_card(base, adapters, dtype, check, out, repo_id), encoding="utf-8")
    return path


def evaluation_section(result: dict[str, Any]) -> str:
    """The card's evaluation text from an ``EvalResult`` dump (SIMULATED verdicts say so first)."""
    from prefjudge.simulated import headline

    lines = []
    head = headline(result.get("simulated"))
    if head:
        lines += [f"**{head}**", ""]
    wr, lc = result.get("win_rate") or {}, result.get("lc_win_rate") or {}
    lines.append(f"Against `{result.get('base')}` on {result.get('n_prompts')} prompts, judged by "
                 f"{', '.join(result.get('judges') or []) or 'unnamed judges'} (random answer order):")
    lines.append("")
    lines.append("| metric | value | 95% CI | n |")
    lines.append("|---|---|---|---|")
    for name, rate in (("win rate", wr), ("length-controlled win rate", lc)):
        value = rate.get("value")
        ci = rate.get("ci")
        lines.append(f"| {name} | {value if value is None else round(value, 3)} | "
                     f"{'-' if not ci else f'{ci[0]:.3f}-{ci[1]:.3f}'} | {rate.get('n')} |")
    mean = result.get("mean_length") or {}
    if mean:
        lines += ["", f"Mean answer length: trained {mean.get('trained_chars', 0):.0f} characters, base "
                  f"{mean.get('base_chars', 0):.0f}."]
    return "\n".join(lines)


def add_evaluation(folder: str | Path, result: dict[str, Any]) -> Path | None:
    """Put an evaluation into the card of ``folder`` if prefjudge wrote that card (else nothing)."""
    path = Path(folder) / CARD
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    if MARK not in text or EVAL_START not in text or EVAL_END not in text:
        return None
    head, rest = text.split(EVAL_START, 1)
    _, tail = rest.split(EVAL_END, 1)
    section = evaluation_section(result)
    from prefjudge.simulated import headline

    simulated = headline(result.get("simulated"))
    if simulated and simulated not in head:  # the top of the card says so too
        head = head.replace(MARK, f"{MARK}\n\n**{simulated}** (evaluation below)", 1)
    path.write_text(f"{head}{EVAL_START}\n{section}\n{EVAL_END}{tail}", encoding="utf-8")
    return path
