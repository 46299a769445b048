"""Assemble the report dictionary from a normalized judgments table (and optional jury outcomes)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from prefjudge.aggregation.agreement import agreement_share, fleiss_kappa, pairwise_cohen, vote_matrix
from prefjudge.aggregation.votes import Encoded, Votes, collapse, encode, key_consistency, pair_table, winner_codes
from prefjudge.audit.calibration import add_calibration
from prefjudge.audit.facts import PairFacts, judge_view, outcome_view, pair_facts
from prefjudge.audit.family import family_matrix, family_preference
from prefjudge.audit.generators import generators_entry
from prefjudge.audit.stats import human_agreement, length_sd, longer_by_ratio, p_first, p_lists, p_longer, rate, slopes, usage
from prefjudge.audit.warnings import build_warnings

TEXT_CHARS = 400


def audit_table(table: pd.DataFrame, *, outcomes: pd.DataFrame | None = None, meta: dict | None = None,
                rule: Any = "majority", quorum: int | None = None, same_family: str = "keep",
                families: dict[str, str] | None = None, seed: int = 0, n_contested: int = 10, kind: str = "judgments",
                probes: dict | None = None) -> dict:
    """The full report dictionary (see :meth:`prefjudge.audit.AuditReport.to_dict`)."""
    enc = encode(table)
    facts = pair_facts(table, enc, families)
    votes = collapse(enc)
    meta = dict(meta or {})
    if outcomes is None:
        from prefjudge.aggregation.frame import aggregate_frame
        from prefjudge.aggregation.jury import Jury

        jury = Jury(list(enc.judges), aggregate=rule, quorum=quorum, same_family=same_family, families=families)
        outcomes, reliability = aggregate_frame(jury, table, enc=enc, votes=votes, human=(facts.human, facts.human_known))
        meta.setdefault("aggregate", jury.rule_name)
        meta.setdefault("judge_reliability", reliability)
    from prefjudge.simulated import from_meta

    data = {
        "simulated": from_meta(meta),  # first: None, or which judges/generators were prefjudge's simulator
        "judges": judge_entries(table, enc, facts, votes, seed),
        "jury": jury_entry(table, enc, facts, votes, outcomes, meta),
        "generators": generators_entry(*_outcome_codes(outcomes, enc), facts),
        "human": human_entry(facts),
        "warnings": [],
        "contested": contested_pairs(table, enc, votes, outcomes, n_contested),
        "meta": {"kind": kind, "n_rows": enc.n_rows, "n_pairs": enc.n_pairs, "n_judges": enc.n_judges,
                 "rule": meta.get("aggregate"), "order": meta.get("order"), "seed": meta.get("seed"),
                 "n_pairs_with_human": int(facts.human_known.sum())},
    }
    add_calibration(data, enc, facts, outcomes, seed)  # judges[NAME]["calibration"], jury["calibration"]
    data["jury"]["reliability_check"] = reliability_check(meta.get("judge_reliability"), table)
    if probes is not None:
        add_probes(data, probes)
    data["warnings"] = build_warnings(data)
    return data


def judge_entries(table: pd.DataFrame, enc: Encoded, facts: PairFacts, votes: Votes, seed: int) -> dict[str, dict]:
    view = judge_view(enc, votes)
    stats = {"p_first": p_first(view), "p_longer": p_longer(view, facts), "p_lists": p_lists(view, facts),
             "length_slope": slopes(view, facts, length_sd(facts)), "consistency": consistency(enc, votes)}
    agree, alpaca, kappas = human_agreement(view, facts)
    ratio = longer_by_ratio(view, facts)
    fams = family_matrix(enc, votes, facts, seed=seed)
    use = usage(table, enc.judge, enc.n_judges)
    n = np.bincount(enc.judge, minlength=enc.n_judges)
    n_ok = np.bincount(enc.judge[enc.parsed], minlength=enc.n_judges)
    out = {}
    for j, name in enumerate(enc.judges):
        fam = enc.judge_family[j]
        own = fams[fam][j] if fam in fams else family_preference(enc, votes, facts, fam, seed=seed)[j]
        out[name] = {
            "family": fam, "n": int(n[j]), "n_parsed": int(n_ok[j]), "parsed_rate": float(n_ok[j] / n[j]) if n[j] else None,
            **{k: v[j] for k, v in stats.items()},
            "self_preference": own, "human_agreement": agree[j], "human_agreement_alpaca_eval": alpaca[j],
            "cohen_kappa": kappas[j]["value"], "cohen_kappa_detail": kappas[j],
            "longer_by_ratio": ratio[j], "family_preference": {f: fams[f][j] for f in fams}, **use[j],
        }
    return out


def consistency(enc: Encoded, votes: Votes) -> list[dict]:
    """Per judge: among pairs it saw in both orders with both verdicts parsed, the share with equal verdicts."""
    both, same = key_consistency(enc, votes)
    k = np.bincount(votes.judge[both & same], minlength=enc.n_judges)
    n = np.bincount(votes.judge[both], minlength=enc.n_judges)
    reason = "no pair seen in both orders with both verdicts parsed" if enc.order_known.any() else "the display order was not recorded"
    return [rate(k[j], int(n[j]), reason) for j in range(enc.n_judges)]


def _outcome_codes(outcomes: pd.DataFrame, enc: Encoded) -> tuple[np.ndarray, np.ndarray]:
    o = outcomes.reindex(pd.Index(enc.pair_ids).astype(str))
    return winner_codes(o["winner"].to_numpy(dtype=object))


def reliability_check(reliability: dict | None, table: pd.DataFrame) -> list[dict] | None:
    """Per judge, the rule's label-free accuracy estimate beside its measured agreement with the
    human labels (None: the rule estimates nothing). Users see whether the estimate can be trusted."""
    if not reliability or not any((r or {}).get("accuracy") is not None for r in reliability.values()):
        return None
    from prefjudge.aggregation.reliability import reliability_table

    rows = reliability_table(reliability, judgments=table).to_dict(orient="records")
    return [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()} for r in rows]


def add_probes(data: dict, probes: dict) -> None:
    """Put a ProbeReport's effects beside each judge's observational statistics
    (``judges[NAME]["probes"]``) and its meta under ``meta["probes"]``."""
    if hasattr(probes, "to_dict"):
        probes = probes.to_dict(variants=False)
    if not isinstance(probes, dict) or not isinstance(probes.get("judges"), dict):
        from prefjudge.errors import InputError

        raise InputError("probes must be a ProbeReport or its to_dict(), with a 'judges' mapping", field="probes")
    for name, entry in probes["judges"].items():
        if name in data["judges"]:
            data["judges"][name]["probes"] = (entry or {}).get("probes") or {}
    data["meta"]["probes"] = {**(probes.get("meta") or {}),
                              "judges_not_in_audit": sorted(set(probes["judges"]) - set(data["judges"]))}


def jury_entry(table: pd.DataFrame, enc: Encoded, facts: PairFacts, votes: Votes, outcomes: pd.DataFrame, meta: dict) -> dict:
    winner, has = _outcome_codes(outcomes, enc)
    view = outcome_view(winner, has)
    agree, alpaca, kappas = human_agreement(view, facts)
    w = outcomes["winner"].astype(object)
    cons = outcomes["consistent"].astype(object) if "consistent" in outcomes else pd.Series(dtype=object)
    cons = cons[cons.notna()]
    reasons = outcomes["reason"].astype(object) if "reason" in outcomes else pd.Series(dtype=object)
    use = usage(table, np.zeros(enc.n_rows, dtype=np.int64), 1)[0]
    return {
        "rule": meta.get("aggregate"), "n_judges": enc.n_judges, "judges": list(enc.judges),
        "n": int(len(outcomes)), "n_parsed": int(w.notna().sum()),
        "parsed_rate": float(w.notna().mean()) if len(outcomes) else None,
        "below_quorum": int(reasons.fillna("").astype(str).str.startswith("below quorum").sum()),
        "p_first": {"value": None, "ci": None, "n": 0, "reason": "a jury verdict combines calls shown in different orders; see each judge's p_first"},
        "consistency": rate(float(cons.astype(bool).sum()), len(cons), "no pair was judged in both orders"),
        "p_longer": p_longer(view, facts)[0], "p_lists": p_lists(view, facts)[0],
        "self_preference": {"value": None, "ci": None, "n": 0, "reason": "a jury has no single family; see each judge's self_preference"},
        "human_agreement": agree[0], "human_agreement_alpaca_eval": alpaca[0],
        "cohen_kappa": kappas[0]["value"], "cohen_kappa_detail": kappas[0],
        "length_slope": slopes(view, facts, length_sd(facts))[0], "longer_by_ratio": longer_by_ratio(view, facts)[0],
        "agreement": agreement_block(enc, votes), "judge_reliability": meta.get("judge_reliability"), **use,
    }


def human_entry(facts: PairFacts) -> dict:
    """What the human labels themselves show: P(longer) and P(lists), the reference for the judges'."""
    if not facts.human_known.any():
        return {"n": 0, "reason": "no human labels"}
    view = outcome_view(facts.human, facts.human_known)
    return {"n": int(facts.human_known.sum()), "p_longer": p_longer(view, facts)[0], "p_lists": p_lists(view, facts)[0], "reason": None}


def agreement_block(enc: Encoded, votes: Votes) -> dict:
    """Mean per-pair agreement share, Fleiss' kappa over the jury, Cohen's kappa for each two judges."""
    counts = pair_table(votes, enc.n_pairs)
    multi = counts.sum(axis=1) >= 2
    share = agreement_share(counts[multi])
    fk = fleiss_kappa(counts)
    ck = pairwise_cohen(vote_matrix(votes, enc.n_pairs, enc.n_judges))
    names = enc.judges
    return {
        "mean_agreement": {"value": float(share.mean()) if multi.any() else None, "n": int(multi.sum()),
                           "reason": None if multi.any() else "no pair has verdicts from two or more judges"},
        "fleiss_kappa": {"value": fk.value, "n": fk.n, "reason": fk.reason},
        "cohen_kappa_pairs": {a: {b: {"value": ck[i][j].value, "n": ck[i][j].n} for j, b in enumerate(names) if j != i}
                              for i, a in enumerate(names)},
    }


def contested_pairs(table: pd.DataFrame, enc: Encoded, votes: Votes, outcomes: pd.DataFrame, limit: int) -> list[dict]:
    """The pairs the judges disagreed on most (lowest agreement share; for one judge: inconsistent pairs)."""
    counts = pair_table(votes, enc.n_pairs)
    n_votes = counts.sum(axis=1)
    share = np.nan_to_num(agreement_share(counts), nan=1.0)
    both, same = key_consistency(enc, votes)
    flipped = np.bincount(votes.pair[both & ~same], minlength=enc.n_pairs)
    score = np.where(n_votes >= 2, share, 1.0) - 0.01 * flipped
    candidates = np.flatnonzero((score < 1.0) & (n_votes >= 1))
    order = candidates[np.lexsort((-n_votes[candidates], score[candidates]))][:limit]
    return [_pair_card(table, enc, votes, outcomes, int(p), float(share[p]), int(flipped[p])) for p in order]


def _pair_card(table, enc, votes, outcomes, p: int, share: float, flipped: int) -> dict:
    row = table.iloc[enc.first_row[p]]
    pid = str(enc.pair_ids[p])
    rows = np.flatnonzero(enc.pair == p)
    calls = [{"judge": enc.judges[enc.judge[r]], "order": _str(table["order"].iat[r]), "winner": _str(table["winner"].iat[r])}
             for r in rows]
    winner = outcomes["winner"].get(pid) if pid in outcomes.index else None
    return {"pair_id": pid, "prompt": _cut(row["prompt"]), "response_a": _cut(row["response_a"]), "response_b": _cut(row["response_b"]),
            "model_a": _str(row["model_a"]), "model_b": _str(row["model_b"]), "human": _str(row["human"]),
            "agreement": share, "n_inconsistent_judges": flipped, "calls": calls, "jury_winner": _str(winner)}


def _str(v: Any) -> str | None:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA else str(v)


def _cut(v: Any) -> str | None:
    s = _str(v if isinstance(v, str) or v is None else str(v))
    return s if s is None or len(s) <= TEXT_CHARS else s[:TEXT_CHARS] + "…"
