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
    import datasets
    import pandas as pd

#: Per-pair columns kept next to prompt/chosen/rejected, in order.
KEPT_COLUMNS: tuple[str, ...] = (
    "id", "margin", "agreement", "consistent", "judges", "model_chosen", "model_rejected", "len_chosen", "len_rejected",
)
_DROPPED_EXTRAS = {"reason", "winner"}


@dataclass
class PreferenceSet:
    """A curated preference dataset plus the record of how it was built."""

    dataset: datasets.Dataset
    report: CurationReport
    provenance: dict[str, Any] = field(default_factory=dict)

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
    Every step is recorded in ``result.report``; the output order follows the input order.
    """
    report = CurationReport()
    df = working_table(ranked)
    df = _select(df, report, min_margin, min_agreement, drop_ties, drop_inconsistent)
    df = apply_filters(df, filters, report)
    if decontaminate is not None:
        df = _decontaminate(df, report, **_decontam_kwargs(decontaminate))
    if dedup is not None and dedup is not False:
        df = deduplicate(df, report, **_dedup_kwargs(dedup))
    if length_balance is not None:
        df = balance_lengths(df, report, **_balance_kwargs(length_balance, seed))
    ds = build_dataset(df, format, chat_template)
    settings = {"min_margin": min_margin, "min_agreement": min_agreement, "drop_ties": drop_ties,
                "drop_inconsistent": drop_inconsistent, "format": format, "seed": seed,
                "length_balance": length_balance if isinstance(length_balance, (str, type(None))) else dict(length_balance)}
    return PreferenceSet(ds, report, {**_provenance(ranked), "curation": settings})


def _provenance(ranked: Any) -> dict[str, Any]:
    """The judging run's meta, or the source of a loaded dataset, or what a re-curated set recorded."""
    from prefjudge.curate.loaders import SOURCE_PREFIX

    if isinstance(getattr(ranked, "provenance", None), dict):
        return {k: v for k, v in ranked.provenance.items() if k != "curation"}
    if isinstance(getattr(ranked, "meta", None), dict):
        return dict(ranked.meta)
    desc = getattr(getattr(ranked, "info", None), "description", None) or ""
    return {"source": desc[len(SOURCE_PREFIX):]} if desc.startswith(SOURCE_PREFIX) else {}


def _select(df: pd.DataFrame, report: CurationReport, min_margin: float | None, min_agreement: float | None,
            drop_ties: bool, drop_inconsistent: bool) -> pd.DataFrame:
    df = report.record("no_verdict", "no parsed verdict (all calls failed, or identical answers)", df, df["winner"].isna())
    if drop_ties:
        df = report.record("ties", "the judges found no winner (tie)", df, df["winner"] == "tie")
    if drop_inconsistent:
        known = int(df["consistent"].notna().sum())
        df = report.record("inconsistent", "verdict changed when the answers swapped places", df,
                           df["consistent"].map(lambda c: not is_missing(c) and not bool(c)), pairs_seen_in_both_orders=known)
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
    """The final ``datasets.Dataset``: TRL columns first, then :data:`KEPT_COLUMNS`, then extra input columns."""
    import datasets

    if format == "conversational" and chat_template is not None:
        raise InputError("chat_template applies to format='standard'; in the conversational format TRL applies "
                         "the tokenizer's own chat template when it trains", field="chat_template")
    rows = format_rows(df, format, chat_template, end_of_turn=True)
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
    return datasets.Dataset.from_dict(cols)
