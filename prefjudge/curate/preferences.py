"""``to_preferences``: judged pairs (or a loaded preference set) in, a curated TRL dataset out.

Returns a :class:`PreferenceSet`: the ``datasets.Dataset`` (``.dataset``, what ``DPOTrainer`` takes)
together with the :class:`~prefjudge.curate.report.CurationReport` (rows each step removed and why)
and the provenance (judges, template hashes, order mode, seed, curation settings) that the
dataset card needs. A plain ``Dataset`` cannot carry these through ``export``/``push_to_hub``
without stuffing them into ``info.description``; the wrapper keeps them typed and explicit, and
delegates ``len``, indexing, iteration and every other ``Dataset`` attribute to the dataset (what
those return, e.g. ``prefs.train_test_split(0.05)``, are plain Datasets). Trainers take ``prefs.dataset``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prefjudge.curate.balance import balance_lengths
from prefjudge.curate.decontam import Benchmarks
from prefjudge.curate.decontam import decontaminate as _decontaminate
from prefjudge.curate.dedup import deduplicate
from prefjudge.curate.filters import Filter, Predicate, apply_filters
from prefjudge.curate.inputs import working_table
from prefjudge.curate.report import CurationReport
from prefjudge.errors import InputError
from prefjudge.formatting.rows import WORK_COLUMNS, clean_optional, is_missing
from prefjudge.formatting.trl import Format, format_rows

if TYPE_CHECKING:
    from pathlib import Path

    import datasets
    import pandas as pd
    from huggingface_hub import CommitInfo

    from prefjudge.stats.calibration import Calibrator

#: Per-pair columns kept next to prompt/chosen/rejected, in order.
KEPT_COLUMNS: tuple[str, ...] = (
    "id", "margin", "agreement", "consistent", "judges", "model_chosen", "model_rejected", "len_chosen", "len_rejected",
)
_DROPPED_EXTRAS = {"reason", "winner"}
#: The ``inconsistent`` step's reason when no pair was judged in both display orders.
NOT_MEASURED = ("consistency was never measured: no pair has verdicts from both display orders (rank with "
                "order='both' to measure it), so none could be dropped as inconsistent")


@dataclass
class PreferenceSet:
    """A curated preference dataset plus the record of how it was built."""

    dataset: datasets.Dataset
    report: CurationReport
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from prefjudge.simulated import KEY, describe

        if self.provenance.get(KEY) and hasattr(getattr(self.dataset, "info", None), "description"):
            self.dataset.info.description = describe(self.provenance[KEY])  # the bare Dataset keeps the mark

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: Any) -> Any:
        return self.dataset[key]

    def __iter__(self):
        return iter(self.dataset)

    @property
    def column_names(self) -> list[str]:
        return self.dataset.column_names

    def to_pandas(self) -> pd.DataFrame:
        return self.dataset.to_pandas()

    def push_to_hub(self, repo_id: str, **kwargs: Any) -> CommitInfo:
        """prefjudge's push, not ``Dataset.push_to_hub``: the data with its dataset card, audit and
        curation report, to a private repo unless ``private=False``. Keywords: those of
        :func:`prefjudge.curate.hub.push_to_hub` (``Dataset.push_to_hub``'s too: ``create_pr``,
        ``max_shard_size``/``num_shards``, ``config_name``, ``data_dir``, ``commit_message``, ``token``,
        ``revision``). The bare ``datasets`` push, without card or audit: ``prefs.dataset.push_to_hub``."""
        from prefjudge.curate.hub import push_to_hub

        return push_to_hub(self, repo_id, **kwargs)

    def save_to_disk(self, path: str | Path, **kwargs: Any) -> Path:
        """prefjudge's export in the ``disk`` format, not ``Dataset.save_to_disk``: the card, curation
        report (and audit, config) beside the Arrow data in ``path/data/train``
        (``datasets.load_from_disk(path / "data" / "train")``, or ``load_dataset(path)``). Keywords:
        those of :func:`prefjudge.curate.export.export` (``audit``, ``config``, ``split``, ``overwrite``...).
        The bare Arrow folder, without card: ``prefs.dataset.save_to_disk``."""
        from prefjudge.curate.export import export

        arrow_only = sorted(set(kwargs) & {"max_shard_size", "num_shards", "num_proc", "storage_options"})
        if arrow_only:
            raise InputError(f"{', '.join(arrow_only)}: Dataset.save_to_disk options; prefjudge's save_to_disk writes "
                             "one shard with its card. For the bare Arrow folder use prefs.dataset.save_to_disk(...)",
                             field=arrow_only[0])
        return export(self, path, format="disk", **kwargs)

    def __getattr__(self, name: str) -> Any:
        """Other ``Dataset`` methods (``map``, ``select``, ``train_test_split``...); they return plain Datasets."""
        if name.startswith("__") or name in ("dataset", "report", "provenance"):
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __repr__(self) -> str:
        return f"PreferenceSet({len(self)} pairs from {self.report.n_input}, columns={self.column_names})"


def to_preferences(
    ranked: Any, *, min_margin: float | None = None, min_agreement: float | None = None, drop_ties: bool = True,
    drop_inconsistent: bool = False, length_balance: str | Mapping[str, Any] | None = None, format: Format = "standard",
    chat_template: Any = None, filters: Sequence[Filter | Predicate] = (), dedup: Any = None,
    decontaminate: Benchmarks | Mapping[str, Any] | None = None, seed: int = 0,
    calibration: Calibrator | Mapping[str, Any] | None = None,
) -> PreferenceSet:
    """Select, filter, deduplicate, decontaminate and length-balance pairs; format them for TRL.

    ``ranked``: a RankResult, the result of ``rank_responses``, or a table with prompt/chosen/rejected.
    ``min_margin``: keep pairs with ``|2 p_a - 1|`` (or the ranking's margin) at least this.
    ``min_agreement``: keep pairs where at least this share of parsed verdicts agree with the winner.
    ``drop_ties``: drop tied pairs (kept ones have chosen = a, rejected = b, margin 0).
    ``drop_inconsistent``: drop pairs whose verdicts changed with the display order.
    ``filters``: :class:`Filter` objects or callables ``row -> bool`` (True keeps).
    ``dedup``: None, ``"exact"``, ``"near"`` (Jaccard 0.8), a float threshold or
    ``{"exact": bool, "near": float, "keep": "first" | "max_margin"}``.
    ``decontaminate``: benchmark texts (list or ``{name: texts}``) or ``{"benchmarks": ..., "n": 13, "fields": [...]}``.
    ``length_balance``: None, ``"equal"``, ``"match"`` or ``{"mode": ..., "min_diff": 30, "bins": 10}``.
    ``calibration``: a recalibration map fitted on human labels (``AuditReport.calibrator()``, a
    :class:`~prefjudge.stats.calibration.Calibrator` or its ``to_dict()``), applied to every margin
    before selection: ``margin = 2 f((1 + margin) / 2) - 1`` (docs/audit.md, "Calibration").
    Every step is recorded in ``result.report``; the output order follows the input order.
    """
    report = CurationReport()
    df = working_table(ranked)
    cal = None if calibration is None else as_calibrator(calibration)
    if cal is not None:
        df = recalibrate_margins(df, cal)
    df = _select(df, report, min_margin, min_agreement, drop_ties, drop_inconsistent)
    df = apply_filters(df, filters, report)
    if decontaminate is not None:
        df = _decontaminate(df, report, **_decontam_kwargs(decontaminate))
    if dedup is not None and dedup is not False:
        df = deduplicate(df, report, **_dedup_kwargs(dedup))
    if length_balance is not None:
        df = balance_lengths(df, report, **_balance_kwargs(length_balance, seed))
    ds, folded = _build(df, format, chat_template)
    settings = {"min_margin": min_margin, "min_agreement": min_agreement, "drop_ties": drop_ties,
                "drop_inconsistent": drop_inconsistent, "format": format, "seed": seed,
                "length_balance": length_balance if isinstance(length_balance, (str, type(None))) else dict(length_balance)}
    settings.update(recorded_settings(format, chat_template, decontaminate, folded))
    if cal is not None:
        settings["calibration"] = cal.describe()
    return PreferenceSet(ds, report, {**_provenance(ranked), "curation": settings})


def _provenance(ranked: Any) -> dict[str, Any]:
    """The judging run's meta, or the source of a loaded dataset, or what a re-curated set recorded."""
    from prefjudge.curate.loaders import SOURCE_PREFIX

    if isinstance(getattr(ranked, "provenance", None), dict):
        return {k: v for k, v in ranked.provenance.items() if k != "curation"}
    if isinstance(getattr(ranked, "meta", None), dict):
        from prefjudge.simulated import KEY, from_meta

        meta = dict(ranked.meta)
        sim = from_meta(meta)  # the SIMULATED mark, kept with the data from here on
        return {KEY: sim, **{k: v for k, v in meta.items() if k != KEY}} if sim else meta
    desc = getattr(getattr(ranked, "info", None), "description", None) or ""
    from prefjudge.simulated import KEY, from_description

    sim = from_description(desc)  # a bare Dataset that to_preferences marked SIMULATED
    return {"source": desc[len(SOURCE_PREFIX):]} if desc.startswith(SOURCE_PREFIX) else {KEY: sim} if sim else {}


def as_calibrator(spec: Any) -> Calibrator:
    """``to_preferences(calibration=...)`` as a Calibrator (a Calibrator, or its ``to_dict()``)."""
    from prefjudge.stats.calibration import Calibrator

    if isinstance(spec, Calibrator):
        return spec
    if isinstance(spec, Mapping):
        try:
            return Calibrator.from_dict(dict(spec))
        except (TypeError, ValueError) as e:  # InputError is a ValueError
            raise InputError(getattr(e, "detail", str(e)), field="calibration") from e
    raise InputError(f"expected a Calibrator (AuditReport.calibrator()) or its to_dict(), got {type(spec).__name__}",
                     field="calibration")


def recalibrate_margins(df: pd.DataFrame, cal: Calibrator) -> pd.DataFrame:
    """The working table with each known margin m replaced by ``cal.margin(m)``; missing margins stay missing."""
    import numpy as np
    import pandas as pd

    m = pd.to_numeric(df["margin"], errors="coerce").to_numpy(dtype=float)
    has = ~np.isnan(m)
    new = m.copy()
    new[has] = cal.margin(m[has])
    df = df.copy()
    df["margin"] = pd.Series([float(v) if h else None for v, h in zip(new, has)], index=df.index, dtype=object)
    return df


def _select(df: pd.DataFrame, report: CurationReport, min_margin: float | None, min_agreement: float | None,
            drop_ties: bool, drop_inconsistent: bool) -> pd.DataFrame:
    df = report.record("no_verdict", "no parsed verdict (all calls failed, or identical answers)", df, df["winner"].isna())
    if drop_ties:
        df = report.record("ties", "the judges found no winner (tie)", df, df["winner"] == "tie")
    if drop_inconsistent:
        known = int(df["consistent"].notna().sum())
        reason = "verdict changed when the answers swapped places"
        if known == 0 and len(df):
            reason = NOT_MEASURED
            import warnings

            warnings.warn(f"drop_inconsistent=True removed nothing: {NOT_MEASURED}", UserWarning, stacklevel=3)
        df = report.record("inconsistent", reason, df, df["consistent"].map(lambda c: not is_missing(c) and not bool(c)),
                           pairs_seen_in_both_orders=known, consistency_measured=known > 0)
    if min_margin is not None:
        df = report.record("min_margin", f"margin below {min_margin:g}", df, _below(df, "margin", min_margin))
    if min_agreement is not None:
        df = report.record("min_agreement", f"agreement below {min_agreement:.3g}", df, _below(df, "agreement", min_agreement))
    return df


def _below(df: pd.DataFrame, col: str, threshold: float) -> pd.Series:
    missing = df[col].isna()
    if missing.any():
        i = int(missing.idxmax())
        raise InputError(f"a {col} threshold was given but this pair has no {col}", row=df["id"][i], field=col)
    return df[col].astype(float) < threshold


def _dedup_kwargs(dedup: Any) -> dict[str, Any]:
    if dedup is True or dedup == "exact":
        return {"exact": True}
    if dedup == "near":
        return {"exact": True, "near": 0.8}
    if isinstance(dedup, (int, float)) and not isinstance(dedup, bool):
        return {"exact": True, "near": float(dedup)}
    if isinstance(dedup, Mapping):
        unknown = set(dedup) - {"exact", "near", "keep"}
        if unknown:
            raise InputError(f"unknown dedup option(s) {sorted(unknown)}; use exact, near, keep", field="dedup")
        return dict(dedup)
    raise InputError(f"dedup must be None, 'exact', 'near', a threshold or a dict, not {dedup!r}", field="dedup")


def _decontam_kwargs(spec: Any) -> dict[str, Any]:
    if isinstance(spec, Mapping) and "benchmarks" in spec:
        unknown = set(spec) - {"benchmarks", "n", "fields"}
        if unknown:
            raise InputError(f"unknown decontaminate option(s) {sorted(unknown)}", field="decontaminate")
        return dict(spec)
    return {"benchmarks": spec}


def _balance_kwargs(spec: Any, seed: int) -> dict[str, Any]:
    if isinstance(spec, str):
        return {"mode": spec, "seed": seed}
    if isinstance(spec, Mapping):
        unknown = set(spec) - {"mode", "min_diff", "bins", "seed"}
        if unknown:
            raise InputError(f"unknown length_balance option(s) {sorted(unknown)}", field="length_balance")
        return {"seed": seed, **spec}
    raise InputError(f"length_balance must be 'equal', 'match', a dict or None, not {spec!r}", field="length_balance")


def build_dataset(df: pd.DataFrame, format: Format = "standard", chat_template: Any = None) -> datasets.Dataset:
    """The final ``datasets.Dataset``: TRL columns first, then :data:`KEPT_COLUMNS`, then extra input columns.

    In the standard format without a chat template the system prompt is folded into the prompt
    text (:func:`fold_system`): TRL's DPOTrainer reads only prompt/chosen/rejected, so a ``system``
    column would be dropped without a word and the model would never see it."""
    return _build(df, format, chat_template)[0]


def fold_system(rows: list[dict[str, Any]], prompts: Sequence[Any]) -> tuple[list[dict[str, Any]], int]:
    """Standard-format rows without a chat template: a row's system prompt (its ``system`` key,
    which already merges the prompt's own system messages) goes in front of its prompt text, then a
    blank line; for a multi-turn prompt (``User: ...`` text) it is labelled ``System: ...`` like the
    turns. No ``system`` key is left. Returns the rows and how many had a system prompt.

    >>> fold_system([{"prompt": "Hi", "chosen": "a", "rejected": "b", "system": "Be brief."}], ["Hi"])
    ([{'prompt': 'Be brief.\\n\\nHi', 'chosen': 'a', 'rejected': 'b'}], 1)
    """
    out, n = [], 0
    for row, original in zip(rows, prompts):
        row = dict(row)
        system = row.pop("system", None)
        if system:
            turns = [m for m in original if _role(m) != "system"] if isinstance(original, list) else [original]
            lead = f"System: {system}" if len(turns) > 1 else system
            row["prompt"] = f"{lead}\n\n{row['prompt']}"
            n += 1
        out.append(row)
    return out, n


def _role(message: Any) -> Any:
    return message.get("role") if isinstance(message, Mapping) else getattr(message, "role", None)


def _build(df: pd.DataFrame, format: Format, chat_template: Any) -> tuple[datasets.Dataset, int]:
    """:func:`build_dataset`, and the number of rows whose system prompt was folded into the prompt."""
    import datasets

    if format == "conversational" and chat_template is not None:
        raise InputError("chat_template applies to format='standard'; in the conversational format TRL applies "
                         "the tokenizer's own chat template when it trains", field="chat_template")
    rows = format_rows(df, format, chat_template, end_of_turn=True)
    folded = 0
    if format == "standard" and chat_template is None:
        rows, folded = fold_system(rows, list(df["prompt"]))
    cols: dict[str, list] = {k: [r[k] for r in rows] for k in (rows[0] if rows else ("prompt", "chosen", "rejected"))}
    cols["id"] = list(df["id"])
    for c in ("margin", "agreement", "consistent", "judges", "model_chosen", "model_rejected"):
        cols[c] = [clean_optional(v) for v in df[c]]
    cols["len_chosen"] = [len(c) for c in df["chosen"]]
    cols["len_rejected"] = [len(r) for r in df["rejected"]]
    if (df["winner"] == "tie").any():
        cols["winner"] = list(df["winner"])
    for c in df.columns:
        if c not in WORK_COLUMNS and c not in cols and c not in _DROPPED_EXTRAS:
            cols[c] = [clean_optional(v) for v in df[c]]
    return datasets.Dataset.from_dict(cols), folded


def describe_template(chat_template: Any) -> str | None:
    """The chat template as the card records it: its name, the tokenizer it came from, or the
    sha256 of a Jinja string (None: no template).

    >>> describe_template("chatml"), describe_template(None)
    ('chatml', None)
    """
    import hashlib

    if chat_template is None:
        return None
    if isinstance(chat_template, str):
        if "{" not in chat_template and "\n" not in chat_template:
            return chat_template
        return f"Jinja template (sha256 {hashlib.sha256(chat_template.encode()).hexdigest()[:16]})"
    name = getattr(chat_template, "name_or_path", None)
    return f"the chat template of tokenizer {name}" if name else f"the chat template of a {type(chat_template).__name__}"


def recorded_settings(format: Format, chat_template: Any, decontaminate: Any, folded: int) -> dict[str, Any]:
    """What the card records beside the selection settings: the chat template, where the system
    prompts went (None when no row had one) and the decontamination benchmarks (names, n-gram size,
    fields; the text counts are in the report's ``decontaminate`` step)."""
    if format == "conversational":
        template, system = "none (conversational rows: TRL applies the tokenizer's chat template)", "a system message"
    elif chat_template is not None:
        template, system = describe_template(chat_template), "rendered into the prompt by the chat template"
    else:
        template = "none (plain prompt text)"
        system = f"folded into the prompt text ({folded} rows)" if folded else None
    out: dict[str, Any] = {"chat_template": template, "system_prompt": system}
    if decontaminate is not None:
        spec = _decontam_kwargs(decontaminate)
        bench = spec["benchmarks"]
        out["decontaminate"] = {"benchmarks": [str(k) for k in bench] if isinstance(bench, Mapping) else ["(unnamed texts)"],
                                "n": spec.get("n", getattr(bench, "n", 13)),
                                "fields": list(spec.get("fields") or ("prompt", "chosen", "rejected"))}
    return out
