"""Turn what users have into a judgments table the audit reads.

- a :class:`~prefjudge.result.RankResult` (its judgments, outcomes and meta);
- a judgments table (DataFrame, ``datasets.Dataset``, list of dicts, ``.jsonl``/``.json``/
  ``.parquet``/``.csv`` path) with at least pair_id, judge, winner;
- AlpacaEval annotation files (``output_1, output_2, preference, generator_1, generator_2``);
- a plain preference dataset (``prompt, chosen, rejected``, optional ``chosen_model``/``rejected_model``)
  for a dataset-level audit: how often the chosen answer is the longer one, has a list, and which
  generator models win.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from prefjudge.errors import InputError

ALPACA_COLUMNS = ("output_1", "output_2", "preference")
PREFERENCE_COLUMNS = ("prompt", "chosen", "rejected")
_MODEL_ALIASES = {"chosen_model": ("chosen_model", "model_chosen", "chosen_generator", "generator_chosen"),
                  "rejected_model": ("rejected_model", "model_rejected", "rejected_generator", "generator_rejected")}


@dataclass
class AuditInput:
    table: pd.DataFrame
    outcomes: pd.DataFrame | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    kind: str = "judgments"


def _frame(data: Any) -> pd.DataFrame:
    from prefjudge.judgments import _to_frame

    return _to_frame(data)


def load_input(data: Any, families: dict[str, str] | None = None) -> AuditInput:
    """Recognise ``data`` (see module doc) and return a normalized judgments table with its context."""
    from prefjudge.aggregation.jury import normalize

    if hasattr(data, "judgments") and hasattr(data, "outcomes") and hasattr(data, "meta"):
        return _from_result(data, families)
    df = _frame(data)
    cols = set(df.columns)
    if {"pair_id", "judge", "winner"} <= cols:
        return AuditInput(normalize(df, families), kind="judgments")
    if set(ALPACA_COLUMNS) <= cols:
        return AuditInput(normalize(from_alpaca_eval(df), families), kind="alpaca_eval")
    if set(PREFERENCE_COLUMNS) <= cols:
        return AuditInput(normalize(from_preference_dataset(df), families), kind="dataset")
    raise InputError(
        "cannot tell what this table is: a judgments table needs pair_id, judge, winner; an AlpacaEval "
        f"annotation file output_1, output_2, preference; a preference dataset prompt, chosen, rejected. It has {sorted(cols)}"
    )


def _from_result(result: Any, families: dict[str, str] | None) -> AuditInput:
    """A RankResult: fill texts, models and human labels the judgments lack from its pairs frame."""
    from prefjudge.aggregation.jury import normalize

    table = normalize(result.judgments, families)
    pairs = result.pairs.set_index("id") if "id" in result.pairs.columns else None
    if pairs is not None and len(table):
        for col in ("prompt", "response_a", "response_b", "model_a", "model_b", "human"):
            if col in pairs.columns:
                fill = table["pair_id"].map(pairs[col].astype(object))
                missing = table[col].isna()
                table.loc[missing, col] = fill[missing]
    meta = dict(result.meta or {})
    meta.setdefault("judge_reliability", result.outcomes.attrs.get("judge_reliability"))
    return AuditInput(table, outcomes=result.outcomes, meta=meta, kind="rank_result")


def from_alpaca_eval(data: Any, *, judge: str = "alpaca_eval", human_annotator: str | None = None) -> pd.DataFrame:
    """A judgments table from AlpacaEval annotations.

    ``preference`` in [1, 2]: below 1.5 output_1 (a) wins, above 1.5 output_2 (b), 1.5 or 0 a tie;
    ``p_a = 2 - preference``; a missing preference is a failed call. ``annotator`` names the judge
    (else ``judge``); rows of ``human_annotator`` become the human labels of their pair instead.
    ``instruction`` is the prompt; ``time_per_example``/``price_per_example`` the latency/cost.
    Display order is unknown (AlpacaEval undoes its switch), so p_first is not computed.
    """
    df = _frame(data).reset_index(drop=True)
    missing = [c for c in ALPACA_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"AlpacaEval annotations need columns {list(ALPACA_COLUMNS)}; missing {missing}", field=missing[0])
    pref = pd.to_numeric(df["preference"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = np.flatnonzero(~np.isnan(pref) & (pref != 0) & ((pref < 1) | (pref > 2)))
    if len(bad):
        raise InputError(f"preference must be in [1, 2] (or 0 for a draw), not {df['preference'].iat[bad[0]]!r}", row=int(bad[0]), field="preference")
    pref = np.where(pref == 0, 1.5, pref)
    winner = np.where(np.isnan(pref), None, np.where(pref < 1.5, "a", np.where(pref > 1.5, "b", "tie"))).astype(object)
    prompt = df["instruction"] if "instruction" in df.columns else pd.Series([None] * len(df), dtype=object)
    out = _objframe({
        "pair_id": [_pair_hash(p, a, b) for p, a, b in zip(prompt, df["output_1"], df["output_2"])],
        "prompt": prompt.to_numpy(dtype=object), "response_a": df["output_1"].to_numpy(dtype=object),
        "response_b": df["output_2"].to_numpy(dtype=object),
        "model_a": _col(df, "generator_1"), "model_b": _col(df, "generator_2"),
        "judge": _col(df, "annotator", default=judge), "winner": winner,
        "p_a": np.where(np.isnan(pref), None, 2.0 - pref).astype(object),
        "error": np.where(np.isnan(pref), "no preference in the annotation", None).astype(object),
        "raw": _col(df, "raw_completion"), "latency_s": _col(df, "time_per_example"), "cost_usd": _col(df, "price_per_example"),
    })
    if human_annotator is not None:
        out = _split_human(out, human_annotator)
    return out


def _split_human(out: pd.DataFrame, human_annotator: str) -> pd.DataFrame:
    is_h = out["judge"] == human_annotator
    if not is_h.any():
        raise InputError(f"no annotation by human_annotator {human_annotator!r}; annotators are {sorted(out['judge'].unique())}", field="annotator")
    labels = out[is_h].dropna(subset=["winner"]).drop_duplicates("pair_id").set_index("pair_id")["winner"]
    rest = out[~is_h].copy()
    rest["human"] = rest["pair_id"].map(labels).astype(object)
    rest["human"] = rest["human"].where(rest["human"].notna(), None)
    return rest.reset_index(drop=True)


def _objframe(cols: dict[str, Any]) -> pd.DataFrame:
    """A frame whose columns keep Python objects (None stays None, no string-dtype inference)."""
    n = max(len(v) for v in cols.values() if not isinstance(v, str))
    return pd.DataFrame({k: pd.Series([v] * n if isinstance(v, str) else list(v), dtype=object) for k, v in cols.items()})


def _col(df: pd.DataFrame, name: str, default: Any = None) -> np.ndarray:
    if name in df.columns:
        return df[name].astype(object).where(df[name].notna(), default).to_numpy(dtype=object)
    return np.full(len(df), default, dtype=object)


def _pair_hash(*parts: Any) -> str:
    return hashlib.sha256("\x1f".join("" if p is None else str(p) for p in parts).encode()).hexdigest()[:16]


def _answer_text(v: Any) -> Any:
    """A chosen/rejected value as text: a string, or the last assistant turn of a conversation."""
    if isinstance(v, (list, np.ndarray)):
        turns = [m for m in v if isinstance(m, dict)]
        assistant = [m.get("content") for m in turns if m.get("role") == "assistant"]
        return assistant[-1] if assistant else (turns[-1].get("content") if turns else None)
    return v


def from_preference_dataset(data: Any) -> pd.DataFrame:
    """A one-judge table (judge "dataset") from prompt/chosen/rejected rows, for a dataset-level audit.

    So that the length regression sees both outcomes, the chosen answer is ``response_a`` on even
    rows and ``response_b`` on odd rows (winner set accordingly); the display order is unknown.
    ``chosen_model``/``rejected_model`` (or model_chosen/model_rejected) give the generators.
    """
    df = _frame(data).reset_index(drop=True)
    missing = [c for c in PREFERENCE_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"a preference dataset needs columns {list(PREFERENCE_COLUMNS)}; missing {missing}", field=missing[0])
    chosen = df["chosen"].map(_answer_text).to_numpy(dtype=object)
    rejected = df["rejected"].map(_answer_text).to_numpy(dtype=object)
    models = {k: next((df[c].to_numpy(dtype=object) for c in names if c in df.columns), np.full(len(df), None, dtype=object))
              for k, names in _MODEL_ALIASES.items()}
    even = np.arange(len(df)) % 2 == 0
    if "id" in df.columns:
        gaps = np.flatnonzero(df["id"].isna().to_numpy())
        if len(gaps):
            raise InputError("is missing (null); give every row an id or drop the id column", row=int(gaps[0]), field="id")
        ids = df["id"].astype(str).to_numpy(dtype=object)
    else:
        ids = np.array([f"row-{i}" for i in range(len(df))], dtype=object)
    prompt = df["prompt"].map(lambda p: p if isinstance(p, str) else str(p)).to_numpy(dtype=object)
    return _objframe({
        "pair_id": ids, "prompt": prompt,
        "response_a": np.where(even, chosen, rejected), "response_b": np.where(even, rejected, chosen),
        "model_a": np.where(even, models["chosen_model"], models["rejected_model"]),
        "model_b": np.where(even, models["rejected_model"], models["chosen_model"]),
        "judge": "dataset", "judge_family": "dataset", "winner": np.where(even, "a", "b").astype(object),
    })
