"""Turn what ``to_preferences`` accepts into the working table of :mod:`prefjudge.formatting.rows`.

Accepted: a :class:`~prefjudge.result.RankResult` (one row per judged pair), any object with a
``preference_rows()`` method (the result of ``rank_responses``: one best-vs-worst row per prompt), or
a table that already has ``prompt``, ``chosen`` and ``rejected`` (a loaded preference dataset).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prefjudge.content import content_id
from prefjudge.errors import InputError
from prefjudge.formatting.rows import (
    WORK_COLUMNS,
    answer_text,
    check_prompt,
    clean_optional,
    is_missing,
    require_columns,
    to_frame,
)

if TYPE_CHECKING:
    import pandas as pd

# Columns of RankResult.to_pandas() that the working table replaces by its own.
_RESULT_ONLY = {"response_a", "response_b", "model_a", "model_b", "p_a", "n_verdicts", "n_failed", "identical"}
_WINNERS = {"a", "b", "tie", None}


def working_table(data: Any) -> pd.DataFrame:
    """Dispatch on the input type; every path validates and returns the working table."""
    from prefjudge.result import RankResult

    if hasattr(data, "preference_rows"):
        return data.preference_rows()
    if isinstance(data, RankResult):
        return from_rank_result(data)
    if hasattr(data, "dataset") and hasattr(data, "report"):  # a PreferenceSet: curate it again
        data = data.dataset
    return from_preference_table(data)


def from_rank_result(result: Any) -> pd.DataFrame:
    """One working row per judged pair of a RankResult (ties and failed pairs kept, marked by ``winner``)."""
    import pandas as pd

    df = result.to_pandas()
    rows = [_result_row(i, r) for i, r in enumerate(df.to_dict("records"))]
    out = pd.DataFrame(rows, columns=list(WORK_COLUMNS), dtype=object)
    stats = verdict_stats(result.judgments, dict(zip(out["id"], out["winner"])))
    out["agreement"] = pd.Series([stats.get(i, (None, []))[0] for i in out["id"]], dtype=object)
    out["judges"] = pd.Series([stats.get(i, (None, []))[1] for i in out["id"]], dtype=object)
    extra = [c for c in df.columns if c not in out.columns and c not in _RESULT_ONLY and c not in ("chosen", "rejected")]
    for c in extra:
        out[c] = pd.Series([clean_optional(v) for v in df[c]], dtype=object)
    return out


def _result_row(i: int, r: dict) -> dict:
    winner = clean_optional(r.get("winner"))
    if winner not in _WINNERS:
        raise InputError(f"winner must be 'a', 'b', 'tie' or None, not {winner!r}", row=i, field="winner")
    a, b = r["response_a"], r["response_b"]
    swap = winner == "b"
    p_a = clean_optional(r.get("p_a"))
    return {
        "id": str(r["id"]),
        "prompt": check_prompt(r["prompt"], i),
        "system": clean_optional(r.get("system")),
        "chosen": b if swap else a,
        "rejected": a if swap else b,
        "winner": winner,
        "margin": None if p_a is None else abs(2 * float(p_a) - 1),
        "agreement": None,
        "consistent": clean_optional(r.get("consistent")),
        "judges": [],
        "model_chosen": clean_optional(r.get("model_b" if swap else "model_a")),
        "model_rejected": clean_optional(r.get("model_a" if swap else "model_b")),
    }


def verdict_stats(judgments: pd.DataFrame, winners: dict[str, Any]) -> dict[str, tuple[float | None, list[str]]]:
    """Per pair id: (share of parsed verdicts equal to the pair's winner, sorted judges with a parsed verdict)."""
    if judgments is None or len(judgments) == 0:
        return {}
    ok = judgments[judgments["winner"].notna()]
    out: dict[str, tuple[float | None, list[str]]] = {}
    for pid, g in ok.groupby(ok["pair_id"].astype(str), sort=False):
        w = winners.get(pid)
        share = None if w is None else float((g["winner"] == w).mean())
        out[pid] = (share, sorted(set(g["judge"].astype(str))))
    return out


def from_preference_table(data: Any) -> pd.DataFrame:
    """Validate a prompt/chosen/rejected table (list of dicts, DataFrame or Dataset) into working rows."""
    import pandas as pd

    df = to_frame(data)
    require_columns(df, ("prompt", "chosen", "rejected"), "preference table")
    rows = [_pref_row(i, r) for i, r in enumerate(df.to_dict("records"))]
    _unique_derived_ids(rows, df)
    out = pd.DataFrame(rows, columns=list(WORK_COLUMNS), dtype=object)
    for c in df.columns:
        if c not in out.columns:
            out[c] = pd.Series([clean_optional(v) for v in df[c]], dtype=object)
    dup = out["id"].duplicated()
    if dup.any():
        i = int(dup.idxmax())
        raise InputError(f"duplicate id {out['id'][i]!r}", row=i, field="id")
    return out


def _unique_derived_ids(rows: list[dict], df: pd.DataFrame) -> None:
    """Identical rows get the same content id: number the repeats (``id``, ``id-1``...) so dedup can see them."""
    if "id" in df.columns and df["id"].notna().all():
        return  # user ids: a repeat is an error, reported by the caller
    seen: dict[str, int] = {}
    for r in rows:
        k = seen.get(r["id"], 0)
        seen[r["id"]] = k + 1
        if k:
            r["id"] = f"{r['id']}-{k}"


def _pref_row(i: int, r: dict) -> dict:
    prompt = check_prompt(r["prompt"], i)
    chosen = answer_text(r["chosen"], i, "chosen")
    rejected = answer_text(r["rejected"], i, "rejected")
    rid = r.get("id")
    system = clean_optional(r.get("system"))
    if system is not None and not isinstance(system, str):
        raise InputError(f"expected a string, got {type(system).__name__}", row=i, field="system")
    return {
        "id": content_id(prompt, chosen, rejected) if is_missing(rid) else str(rid),
        "prompt": prompt,
        "system": system,
        "chosen": chosen,
        "rejected": rejected,
        "winner": "a",  # already decided: the chosen answer won
        "margin": _number(r.get("margin"), i, "margin"),
        "agreement": _number(r.get("agreement"), i, "agreement"),
        "consistent": clean_optional(r.get("consistent")),
        "judges": _judges(r.get("judges")),
        "model_chosen": clean_optional(r.get("model_chosen")),
        "model_rejected": clean_optional(r.get("model_rejected")),
    }


def _number(value: Any, row: int, field: str) -> float | None:
    if is_missing(value):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise InputError(f"expected a number, got {type(value).__name__}", row=row, field=field)
    return float(value)


def _judges(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and value != value):
        return []
    return [str(j) for j in (value.tolist() if hasattr(value, "tolist") else value)]
