"""``probe``: judge content-preserving variants of pairs and measure how far the verdicts move.

Every request goes through the public :func:`prefjudge.judging.rank_pairs.rank_pairs` (one pair per
display order, ``order="fixed"``), with the caller's store: a rerun replays every call, and a store
that already holds a ``rank_pairs(..., order="both")`` run of the same pairs already holds the
originals.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from prefjudge.errors import InputError
from prefjudge.judging.judge import Judge
from prefjudge.probing.report import ProbeReport
from prefjudge.probing.variants import (
    MEASURES,
    PROBES,
    Comparison,
    ProbeName,
    Shown,
    first_round,
    probe_rng,
    repeat_requests,
    second_round,
)
from prefjudge.types import Pair

if TYPE_CHECKING:
    import datasets
    import pandas as pd

    from prefjudge.aggregation.jury import Jury
    from prefjudge.judging.store import Store

# the data argument names pandas/datasets types only as strings: resolving them needs those libraries
PairsInput = Union["pd.DataFrame", "datasets.Dataset", Iterable[Mapping[str, Any]]]

#: Bootstrap resamples and level of every probe's confidence interval.
N_BOOT = 2000
LEVEL = 0.95
#: Probes reported arm by arm too.
ARMS = {"pad": ("treatment", "control")}
#: The request field that makes a repeat a distinct request (see :func:`repeat_judge`).
REPEAT_FIELD = "seed"


def probe(
    pairs: PairsInput,
    judges: Union[Judge, Sequence[Judge], Jury],
    probes: Sequence[ProbeName] = PROBES,
    n: int | None = None,
    seed: int = 0,
    store: Union[str, Path, Store, None] = None,
) -> ProbeReport:
    """Counterfactual bias probes: judge content-preserving variants of ``pairs`` and report, per
    judge and probe, the share of verdicts that moved toward the edited answer minus the share that
    moved away, with a paired bootstrap CI (pairs resampled, seeded) and n.

    ``probes``: any of ``swap`` (display order), ``pad`` (content-free filler), ``lists`` (the same
    sentences as a bulleted list), ``injection`` (an instruction to the judge inside an answer),
    ``identity`` (authors named: the judge's own family vs another) and ``repeat`` (the same request
    again: the share of verdicts that changed). ``n``: probe a seeded sample of that many pairs
    (default: all). ``store``: the SQLite store of :func:`rank_pairs` (path or Store; None: in
    memory), shared by every request of the run. Variant texts are recorded in the report and
    rebuilt from ``seed`` by :func:`prefjudge.probing.variants.variant_texts`. See docs/audit.md.
    """
    from prefjudge.judging.pairs import normalize_pairs
    from prefjudge.judging.store import Store

    chosen = _check_probes(probes)
    judge_list = _judges(judges)
    plist = [p for p in normalize_pairs(pairs) if not p.identical]
    if not plist:
        raise InputError("no pair with two different answers to probe", field="pairs")
    plist = _sample(plist, n, seed)
    for j in judge_list:
        j.preflight()  # a bad template, backend or key variable fails before the first judge's calls
    st = store if isinstance(store, Store) else Store(store)
    calls = {"made": 0, "cached": 0}
    per_judge: dict[str, dict[str, Any]] = {}
    records: list[dict[str, Any]] = []
    try:
        for judge in judge_list:
            per_judge[judge.name] = _probe_one(judge, plist, chosen, seed, st, calls, records)
    finally:
        if st is not store:
            st.close()
    meta = {
        "kind": "probe", "seed": seed, "probes": list(chosen), "n_pairs": len(plist), "n_boot": N_BOOT, "level": LEVEL,
        "store": str(st.path) if st.path else None, "n_calls_made": calls["made"], "n_calls_cached": calls["cached"],
        "judges": [{"name": j.name, "model": j.model, "family": j.family, "temperature": j.temperature,
                    "repeat_seed": per_judge[j.name].pop("_repeat_seed")} for j in judge_list],
        "measures": {p: MEASURES[p] for p in chosen},
    }
    return ProbeReport.build(per_judge, records, meta)


def _check_probes(probes: Sequence[str]) -> tuple[ProbeName, ...]:
    if isinstance(probes, str):
        probes = [probes]
    unknown = [p for p in probes if p not in PROBES]
    if unknown or not probes:
        raise InputError(f"unknown probe(s) {unknown}; choose from {', '.join(PROBES)}" if unknown
                         else "no probe chosen", field="probes")
    return tuple(p for p in PROBES if p in probes)  # type: ignore[misc]


def _judges(judges: Any) -> list[Judge]:
    if isinstance(judges, Judge):
        out = [judges]
    elif hasattr(judges, "judges") and hasattr(judges, "aggregate_table"):  # a Jury
        out = list(judges.judges)
    else:
        out = list(judges or [])
    if not out:
        raise InputError("no judges given", field="judges")
    for j in out:
        if not isinstance(j, Judge) and (hasattr(j, "compare") or hasattr(j, "prefer")):  # RewardModel, PairRM-style
            raise InputError(f"{getattr(j, 'name', '?')!r} is a local reward model ({type(j).__name__}); probe measures "
                             "how LLM judges' verdicts move (display order, filler, lists, injected instructions, "
                             "named authors, repeated calls): leave reward models out of the judges", field="judges")
        if not isinstance(j, Judge):
            raise InputError(f"judges must be prefjudge.Judge objects, got {type(j).__name__}", field="judges")
    names = [j.name for j in out]
    dupes = sorted({x for x in names if names.count(x) > 1})
    if dupes:
        raise InputError(f"judge names must be unique; repeated: {dupes} (set name=...)", field="judges")
    return out


def _sample(plist: list[Pair], n: int | None, seed: int) -> list[Pair]:
    if n is None:
        return plist
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"n must be a positive integer or None, not {n!r}", field="n")
    if n >= len(plist):
        return plist
    keep = sorted(random.Random(f"probe-sample\x1f{seed}").sample(range(len(plist)), n))
    return [plist[i] for i in keep]


def repeat_judge(judge: Judge, seed: int) -> tuple[Judge, int]:
    """The judge with a request seed of its own: the same call as a distinct request.

    The store keys a call by its full request, parameters included, so the repeat is a new call
    (never the cached original); the seed is sent as the request's ``seed`` field (OpenAI and
    OpenAI-compatible servers sample with it; at temperature 0 it changes nothing but the key).
    The judge's temperature is kept: a repeat measures the judge as it is used.
    """
    value = probe_rng(seed, judge.name, "repeat").randrange(1, 2**31 - 1)
    if judge.params.get(REPEAT_FIELD) == value:
        value += 1
    return judge.model_copy(update={"params": {**judge.params, REPEAT_FIELD: value}}), value


def _judge(judge: Judge, shown: list[Shown], pairs: dict[str, Pair], seed: int, store: Store,
           calls: dict[str, int]) -> dict[str, str | None]:
    """Winner (a/b/tie in the pair's own terms, None when failed) of every request, by key."""
    if not shown:
        return {}
    from prefjudge.judging.rank_pairs import rank_pairs

    rows = []
    for s in shown:
        pair = pairs[s.pair_id]
        first, second = s.shown()
        prompt = pair.prompt if isinstance(pair.prompt, str) else [m.model_dump() for m in pair.prompt]
        rows.append({"id": s.key, "prompt": prompt, "response_a": first, "response_b": second, "system": pair.system})
    result = rank_pairs(rows, [judge], order="fixed", seed=seed, store=store)
    calls["made"] += int(result.meta.get("n_calls_made") or 0)
    calls["cached"] += int(result.meta.get("n_calls_cached") or 0)
    by_key = {s.key: s for s in shown}
    out: dict[str, str | None] = {}
    for pid, winner, order in zip(result.judgments["pair_id"], result.judgments["winner"], result.judgments["order"]):
        s = by_key[str(pid)]
        if winner in ("a", "b") and (order == "ab") != (s.order == "ab"):
            winner = "b" if winner == "a" else "a"  # shown first is "a" of the request
        out[s.key] = winner if winner in ("a", "b", "tie") else None
    return out


def _probe_one(judge: Judge, plist: list[Pair], probes: tuple[ProbeName, ...], seed: int, store: Store,
               calls: dict[str, int], records: list[dict[str, Any]]) -> dict[str, Any]:
    by_id = {p.id: p for p in plist}
    plan = first_round(plist, probes, seed, family=judge.family, model=judge.model)
    verdicts = _judge(judge, plan.shown, by_id, seed, store, calls)
    shown = list(plan.shown)
    comparisons = list(plan.comparisons)
    repeat_seed = None
    if "repeat" in probes:
        again, repeat_seed = repeat_judge(judge, seed)
        reps = repeat_requests(plist)
        verdicts.update(_judge(again, reps, by_id, seed, store, calls))
        shown += reps
    later = second_round(plist, probes, seed, verdicts, judge.name)
    verdicts.update(_judge(judge, later.shown, by_id, seed, store, calls))
    shown += later.shown
    comparisons += later.comparisons
    for s in shown:
        records.append({"judge": judge.name, "pair_id": s.pair_id, "tag": s.tag, "order": s.order,
                        "response_a": s.response_a, "response_b": s.response_b, "winner": verdicts.get(s.key)})
    index = {p.id: i for i, p in enumerate(plist)}
    out = {"family": judge.family, "probes": {p: _score(p, comparisons, verdicts, index, seed,
                                                       {**plan.skipped, **later.skipped}.get(p, 0))
                                              for p in probes},
           "_repeat_seed": repeat_seed}
    return out


def _toward(winner: str | None, target: str) -> int:
    return 1 if winner == target else 0 if winner == "tie" else -1


def _score(probe_name: ProbeName, comparisons: list[Comparison], verdicts: dict[str, str | None],
           index: dict[str, int], seed: int, skipped: int) -> dict[str, Any]:
    from prefjudge.stats.paired import clustered_mean

    mine = [c for c in comparisons if c.probe == probe_name]
    arms: dict[str, tuple[list[float], list[int]]] = {}
    failed = 0
    for c in mine:
        before, after = verdicts.get(c.baseline), verdicts.get(c.variant)
        if before is None or after is None:
            failed += 1
            continue
        if probe_name == "repeat":
            value = float(before != after)
        else:
            value = float((_toward(after, c.target) > _toward(before, c.target)) -
                          (_toward(after, c.target) < _toward(before, c.target)))
        vals, clusters = arms.setdefault(c.arm, ([], []))
        vals.append(value)
        clusters.append(index[c.pair_id])
    all_vals = [v for vals, _ in arms.values() for v in vals]
    all_clusters = [c for _, cl in arms.values() for c in cl]
    total = clustered_mean(all_vals, all_clusters, n_boot=N_BOOT, level=LEVEL, seed=seed)
    reason = None
    if total.value is None:
        reason = ("no pair had an answer that could be listed" if probe_name == "lists" and skipped and not mine
                  else "no comparison with both verdicts parsed")
    out: dict[str, Any] = {
        "metric": "flip_rate" if probe_name == "repeat" else "effect",
        "effect": {"value": total.value, "ci": list(total.ci), "n": total.n, "reason": reason},
        "toward": total.toward, "away": total.away, "n_pairs": total.n_clusters, "n_failed": failed,
        "n_skipped": skipped, "detected": total.excludes_zero(),
    }
    if probe_name in ARMS:
        out["arms"] = {}
        for arm in ARMS[probe_name]:
            vals, clusters = arms.get(arm, ([], []))
            e = clustered_mean(vals, clusters, n_boot=N_BOOT, level=LEVEL, seed=seed)
            out["arms"][arm] = {"value": e.value, "ci": list(e.ci), "n": e.n,
                                "reason": None if e.value is not None else "no comparison with both verdicts parsed",
                                "toward": e.toward, "away": e.away}
    return out
