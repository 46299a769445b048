"""The report's calibration entries: soft verdicts (a probability for *a*) against the gold labels.

Per judge, the unit is the call: every call whose verdict carries ``p_a`` (logprob mode, or an
imported preference in [1, 2]) on a pair with a human label. For the jury, the unit is the pair:
its outcome's ``p_a``, when that is a probability (a judge reported ``p_a``, or the rule is
``mean`` or a Dawid-Skene posterior). A gold tie counts 0.5 (see
:func:`prefjudge.stats.calibration.gold_targets`). Where nothing can be computed the entry is
``{"n": 0, "reason": ...}``, never absent. Definitions: docs/audit.md, "Calibration".
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from prefjudge.aggregation.votes import Encoded
from prefjudge.audit.facts import PairFacts
from prefjudge.stats.calibration import calibration_summary, gold_targets

N_BINS = 10
N_FOLDS = 5
TIES: Literal["half", "exclude"] = "half"
BINNING = f"{N_BINS} equal-width bins on [0, 1]: [k/{N_BINS}, (k+1)/{N_BINS}), the last one closed"
TIES_TEXT = "a gold tie counts as 0.5"
#: Jury rules whose p_a is a probability even when no judge reported one.
SOFT_RULES = ("mean", "dawid_skene", "dawid_skene_order")
#: Rules fitted on the gold labels themselves: their calibration against those labels would be in-sample.
GOLD_FITTED_RULES = ("dawid_skene_semi",)
NO_SOFT_JUDGE = "no soft verdicts: this judge reported no p_a (judge with template='pairwise_logprob' for probabilities)"


def not_computed(reason: str, n_soft: int = 0, unit: str = "call") -> dict:
    return {"n": 0, "n_soft": int(n_soft), "unit": unit, "brier": None, "ece": None, "bins": [], "reason": reason}


def _entry(p: np.ndarray, facts: PairFacts, pair: np.ndarray, unit: str, seed: int) -> dict:
    """The entry of predictions ``p`` on the pairs ``pair`` (codes into ``facts``)."""
    n_soft = len(p)
    codes = facts.human[pair]
    y, use = gold_targets(codes, facts.human_known[pair], TIES)
    if not use.any():
        return not_computed("no soft verdict on a pair with a human label" if facts.human_known.any() else "no human labels",
                            n_soft, unit)
    s = calibration_summary(p[use], y[use], groups=pair[use], n_bins=N_BINS, n_folds=N_FOLDS, seed=seed)
    return {"n": s["n"], "n_soft": int(n_soft), "unit": unit, "n_pairs": int(len(np.unique(pair[use]))),
            "n_ties": int((codes[use] == 2).sum()), "brier": s["brier"], "ece": s["ece"], "bins": s["bins"],
            "ece_calibrated_95": s["ece_calibrated_95"], "binning": BINNING, "ties": TIES_TEXT,
            "recalibration": s["recalibration"], "reason": None}


def judge_calibration(enc: Encoded, facts: PairFacts, seed: int = 0) -> list[dict]:
    """Per judge code: the calibration of its calls' p_a."""
    soft = ~np.isnan(enc.soft)
    out = []
    for j in range(enc.n_judges):
        rows = np.flatnonzero(soft & (enc.judge == j))
        if not len(rows):
            out.append(not_computed(NO_SOFT_JUDGE if facts.human_known.any() else NO_SOFT_JUDGE + "; there are no human labels either"))
            continue
        out.append(_entry(enc.soft[rows], facts, enc.pair[rows], "call", seed))
    return out


def jury_calibration(enc: Encoded, facts: PairFacts, outcomes: pd.DataFrame, rule: Any, seed: int = 0) -> dict:
    """The calibration of the jury outcomes' p_a, per pair."""
    if rule in GOLD_FITTED_RULES:
        return not_computed(f"the rule {rule} is fitted on the human labels, so its p_a cannot be checked against them", unit="pair")
    if not (rule in SOFT_RULES or (~np.isnan(enc.soft)).any()):
        return not_computed(f"no soft verdicts: no judge reported p_a and the rule ({rule}) gives vote shares, not "
                            f"probabilities (rules whose p_a is a probability: {', '.join(SOFT_RULES)})", unit="pair")
    o = outcomes.reindex(pd.Index(enc.pair_ids).astype(str))
    p = pd.to_numeric(o["p_a"], errors="coerce").to_numpy(dtype=float) if "p_a" in o else np.full(enc.n_pairs, np.nan)
    has = ~np.isnan(p) & (p >= 0) & (p <= 1)
    if not has.any():
        return not_computed("no jury outcome has a p_a", unit="pair")
    idx = np.flatnonzero(has)
    return _entry(p[idx], facts, idx, "pair", seed)


def add_calibration(data: dict, enc: Encoded, facts: PairFacts, outcomes: pd.DataFrame, seed: int = 0) -> None:
    """Put ``calibration`` into each judge entry and the jury entry of the report ``data``."""
    for name, entry in zip(enc.judges, judge_calibration(enc, facts, seed)):
        data["judges"][name]["calibration"] = entry
    data["jury"]["calibration"] = jury_calibration(enc, facts, outcomes, data["jury"].get("rule"), seed)
