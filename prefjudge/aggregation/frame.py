"""Build a jury's per-pair outcome frame: rule, quorum, same-family handling, agreement, consistency."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from prefjudge.aggregation.agreement import agreement_share
from prefjudge.aggregation.rules import BUILTIN, RuleInput, RuleOutput
from prefjudge.aggregation.votes import (
    CLASSES,
    Encoded,
    Votes,
    collapse,
    encode,
    key_consistency,
    pair_consistency,
    pair_human,
    pair_table,
    winner_codes,
)
from prefjudge.errors import ConfigError, InputError
from prefjudge.types import OUTCOME_COLUMNS

if TYPE_CHECKING:
    from prefjudge.aggregation.jury import Jury

_CLASS_OBJ = np.array(CLASSES, dtype=object)


def aggregate_frame(jury: Jury, table: pd.DataFrame, *, enc: Encoded | None = None, votes: Votes | None = None,
                    human: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[pd.DataFrame, dict[str, Any] | None]:
    """The outcome frame of ``jury`` over a normalized judgments table, and the judge reliabilities.

    ``enc``, ``votes`` (of all rows) and ``human`` (codes, known per pair) may be passed when the
    caller already has them.
    """
    if table.empty:
        return pd.DataFrame(columns=list(OUTCOME_COLUMNS)).rename_axis("pair_id"), None
    enc = encode(table) if enc is None else enc
    same = same_family_rows(table, jury.families) if jury.same_family != "keep" else np.zeros(enc.n_rows, dtype=bool)
    keep = ~same if jury.same_family == "exclude" else np.ones(enc.n_rows, dtype=bool)
    votes = votes if votes is not None and jury.same_family != "exclude" else collapse(enc, keep)
    human, human_known = pair_human(table["human"], enc) if human is None else human
    if callable(jury.aggregate):
        out = _custom(jury.aggregate, table, keep, enc)
    else:
        weights = _check_weights(jury.weights, enc.judges)
        out = BUILTIN[jury.aggregate](RuleInput(enc, votes, keep, human, human_known, weights))
        out.rule = jury.aggregate
    frame = _frame(enc, votes, keep, out, jury.quorum)
    if jury.same_family == "exclude":
        frame["n_excluded_same_family"] = np.bincount(enc.pair[same], minlength=enc.n_pairs)
    elif jury.same_family == "flag":
        frame["flagged_same_family"] = np.bincount(enc.pair[same], minlength=enc.n_pairs) > 0
    for name, values in out.extra.items():
        frame[name] = values
    frame.attrs["rule"] = jury.rule_name
    frame.attrs["judge_reliability"] = out.reliability
    return frame, out.reliability


def _check_weights(weights: dict[str, float] | None, judges: list[str]) -> dict[str, float] | None:
    if weights is None:
        return None
    missing = [j for j in judges if j not in weights]
    if missing:
        raise InputError(f"weights has no entry for judge(s) {missing}; it has {sorted(weights)}", field="weights")
    return weights


def _frame(enc: Encoded, votes: Votes, keep: np.ndarray, out: RuleOutput, quorum: int | None) -> pd.DataFrame:
    n = enc.n_pairs
    n_rows = np.bincount(enc.pair[keep], minlength=n)
    n_ok = np.bincount(enc.pair[keep & enc.parsed], minlength=n)
    n_judges = np.bincount(votes.pair[votes.voted], minlength=n)
    has = out.has_winner & (n_judges > 0)
    excluded = np.bincount(enc.pair[~keep], minlength=n)
    own = out.extra.pop("reason", np.full(n, None, dtype=object))
    reason = np.full(n, None, dtype=object)
    for i in np.flatnonzero(~has):
        if own[i] is not None and not (isinstance(own[i], float) and np.isnan(own[i])):
            reason[i] = str(own[i])
        elif n_judges[i] > 0:
            reason[i] = f"the {out.rule} rule gave no winner"
        else:
            reason[i] = "no parsed verdict" + (f" ({excluded[i]} same-family verdict(s) excluded)" if excluded[i] else "")
    if quorum is not None:
        low = has & (n_judges < quorum)
        for i in np.flatnonzero(low):
            reason[i] = f"below quorum: {n_judges[i]} judge(s) gave a parsed verdict, quorum is {quorum}"
        has = has & ~low
    both, same = key_consistency(enc, votes, keep)
    any_both, all_same = pair_consistency(votes, both, same, n)
    consistent = np.where(any_both, all_same, None).astype(object)
    share = agreement_share(pair_table(votes, n))
    index = pd.Index(enc.pair_ids, name="pair_id", dtype=object)
    cols = {
        "winner": np.where(has, _CLASS_OBJ[out.winner.astype(np.int64)], None),
        "p_a": _obj(np.where(has, out.p_a, np.nan)),
        "n_verdicts": n_ok.astype(int),
        "n_failed": (n_rows - n_ok).astype(int),
        "consistent": consistent,
        "reason": reason,
        "agreement": _obj(share),
        "n_judges": n_judges.astype(int),
    }
    return pd.DataFrame({k: pd.Series(v, index=index, dtype=v.dtype if v.dtype != object else object) for k, v in cols.items()})


def _obj(x: np.ndarray) -> np.ndarray:
    """Float array -> object array with None for NaN (failures are values, never NaN)."""
    o = x.astype(object)
    o[np.isnan(x)] = None
    return o


def _custom(fn: Any, table: pd.DataFrame, keep: np.ndarray, enc: Encoded) -> RuleOutput:
    """Run a custom aggregator on the kept rows and check it honours the contract."""
    name = getattr(fn, "__name__", "custom")
    res = fn(table[keep].reset_index(drop=True))
    ids = pd.Index(enc.pair_ids).astype(str)
    needed = ids[np.bincount(enc.pair[keep & enc.parsed], minlength=enc.n_pairs) > 0]
    res = check_outcomes(res, name, needed, ids)
    codes, has = winner_codes(res["winner"].to_numpy(dtype=object))
    p_a = pd.to_numeric(res["p_a"], errors="coerce").to_numpy(dtype=float)
    extra = {c: res[c].to_numpy() for c in res.columns if c not in OUTCOME_COLUMNS}
    if "reason" in res.columns:
        extra["reason"] = res["reason"].to_numpy(dtype=object)
    return RuleOutput(codes, has, p_a, extra=extra, rule=name)


def check_outcomes(res: Any, name: str, needed: pd.Index, ids: pd.Index) -> pd.DataFrame:
    """The aggregator contract; returns ``res`` reindexed to ``ids``, raises ConfigError naming the breach.

    A DataFrame indexed by pair_id (one row per pair; pairs without a parsed verdict may be left
    out) with columns ``winner`` ("a", "b", "tie" or None) and ``p_a`` (a number in [0, 1] or None).
    The other outcome columns are computed around the rule; extra columns are kept.
    """
    what = f"custom aggregator {name!r}"
    if not isinstance(res, pd.DataFrame):
        raise ConfigError(f"{what} must return a DataFrame indexed by pair_id, got {type(res).__name__}")
    missing = [c for c in ("winner", "p_a") if c not in res.columns]
    if missing:
        raise ConfigError(f"{what} returned no column(s) {missing}; the contract is {list(OUTCOME_COLUMNS)} "
                          f"indexed by pair_id (winner and p_a required); it returned {list(res.columns)}")
    index = res.index.astype(str)
    if index.has_duplicates:
        dup = index[index.duplicated()][0]
        raise ConfigError(f"{what} returned pair_id {dup!r} more than once; return one row per pair, indexed by pair_id")
    winners = res["winner"].to_numpy(dtype=object)
    _, has = winner_codes(winners)
    bad = [w for w, h in zip(winners, has) if not h and w is not None and not pd.isna(w)]
    if bad:
        raise ConfigError(f"{what} returned winner {bad[0]!r}; use 'a', 'b', 'tie' or None")
    p_raw = res["p_a"].to_numpy(dtype=object)
    p_num = pd.to_numeric(res["p_a"], errors="coerce").to_numpy(dtype=float)
    bad_p = [p for p, x in zip(p_raw, p_num) if (p is not None and not pd.isna(p)) and not 0.0 <= x <= 1.0]
    if bad_p:
        raise ConfigError(f"{what} returned p_a {bad_p[0]!r}; use a number in [0, 1] or None")
    unknown = index.difference(ids)
    absent = needed.difference(index)
    if len(unknown) or len(absent):
        hint = " (a pair_id column is not the index: use .set_index('pair_id'))" if "pair_id" in res.columns else ""
        raise ConfigError(f"{what} must return a DataFrame indexed by pair_id{hint}: "
                          + (f"index values {list(unknown[:3])} are not pair ids" if len(unknown) else
                             f"no row for pair(s) {list(absent[:3])} ({len(absent)} of {len(needed)} with a parsed verdict)"))
    return res.set_axis(index).reindex(ids)

def same_family_rows(table: pd.DataFrame, families: dict[str, str] | None = None) -> np.ndarray:
    """Per row: True when the judge's family generated response a or response b."""
    import numpy as np
    import pandas as pd

    from prefjudge.families import infer_family

    judge_fam = table["judge_family"].to_numpy(dtype=object)
    out = np.zeros(len(table), dtype=bool)
    for col in ("model_a", "model_b"):
        codes, models = pd.factorize(table[col])
        fam = np.array([infer_family(str(m), families) for m in models] + [None], dtype=object)
        out |= fam[codes] == judge_fam  # code -1 (missing model) picks the trailing None
    return out
