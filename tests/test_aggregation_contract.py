"""One meaning of "majority" for lists and juries; aggregator names and contract checked before any call.

Over real loopback HTTP with the simulated judges of prefjudge.testing; stores are SQLite files.
"""

from __future__ import annotations

import pandas as pd
import pytest

import prefjudge as pj
from prefjudge.aggregation.jury import Jury, aggregate
from prefjudge.errors import ConfigError
from prefjudge.testing import SimJudge, SimServer, make_demo_pairs

NAMES = ["gpt-sim", "llama-sim"]
# Position-biased judges: in both orders they often contradict themselves (a split is their tie vote).
SIMS = [SimJudge(name="gpt-sim", noise=1.0, position_bias=0.35), SimJudge(name="llama-sim", noise=1.5, position_bias=0.45)]
RULE_NAMES = ("majority", "mean", "weighted", "dawid_skene", "call_majority", "dawid_skene_order", "dawid_skene_semi",
              "follow_best")
_SCORE = {"a": 1.0, "b": 0.0, "tie": 0.5}


def _judges(server):
    return [pj.Judge(n, base_url=server.base_url, api_key="x") for n in NAMES]


def _pairs(world, n=40):
    return make_demo_pairs(n, seed=7, world=world)


def per_call_reference(table: pd.DataFrame) -> dict[str, tuple[str | None, float | None]]:
    """Plain-python per-call count: every parsed call is one vote, a shared maximum is a tie."""
    out = {}
    for pid, g in table.groupby("pair_id", sort=False):
        ok = g[g["winner"].notna()]
        if ok.empty:
            out[pid] = (None, None)
            continue
        counts = ok["winner"].value_counts()
        top = counts[counts == counts.max()]
        scores = [p if p is not None and p == p else _SCORE[w] for w, p in zip(ok["winner"], ok["p_a"])]
        out[pid] = (top.index[0] if len(top) == 1 else "tie", sum(scores) / len(scores))
    return out


def per_judge_reference(table: pd.DataFrame) -> dict[str, str | None]:
    """Plain-python per-judge vote (a split across orders is a tie), then the majority over judges."""
    out = {}
    for pid, g in table.groupby("pair_id", sort=False):
        votes = []
        for _, gj in g.groupby("judge"):
            ws = gj["winner"].dropna().value_counts()
            if len(ws):
                top = ws[ws == ws.max()]
                votes.append(top.index[0] if len(top) == 1 else "tie")
        if not votes:
            out[pid] = None
            continue
        counts = pd.Series(votes).value_counts()
        top = counts[counts == counts.max()]
        out[pid] = top.index[0] if len(top) == 1 else "tie"
    return out


@pytest.mark.timeout(120)
def test_list_of_judges_and_jury_agree_on_every_pair(sim_world, tmp_path):
    pairs = _pairs(sim_world)
    store = tmp_path / "runs.db"
    with SimServer(judges=SIMS, world=sim_world) as server:
        listed = pj.rank_pairs(pairs, judges=_judges(server), order="both", seed=0, store=store, progress=False)
        made = server.count_ok()
        jury = pj.rank_pairs(pairs, judges=Jury(_judges(server)), order="both", seed=0, store=store, progress=False)
        assert server.count_ok() == made == len(pairs) * 2 * 2  # the jury run replayed the store
    lo, jo = listed.to_pandas().set_index("id"), jury.to_pandas().set_index("id")
    # the data must be able to tell the two rules apart: judges contradict themselves across orders
    assert (lo["consistent"] == False).sum() >= 5  # noqa: E712
    per_call = {k: w for k, (w, _) in per_call_reference(listed.judgments).items()}
    per_judge = per_judge_reference(listed.judgments)
    assert sum(per_call[k] != per_judge[k] for k in per_call) >= 3
    for col in ("winner", "p_a", "n_verdicts", "n_failed", "consistent", "reason", "agreement", "n_judges"):
        assert lo[col].tolist() == jo[col].tolist(), col
    assert lo["winner"].to_dict() == per_judge  # "majority" = per-judge vote, then majority over judges
    assert listed.meta["aggregate"] == jury.meta["aggregate"] == "majority"


@pytest.mark.timeout(120)
def test_call_majority_counts_every_call_over_http(sim_world, tmp_path):
    pairs = _pairs(sim_world)
    with SimServer(judges=SIMS, world=sim_world) as server:
        res = pj.rank_pairs(pairs, judges=_judges(server), order="both", seed=0, aggregate="call_majority",
                            store=tmp_path / "s.db", progress=False)
    ref = per_call_reference(res.judgments)
    out = res.outcomes
    assert {k: out.loc[k, "winner"] for k in ref} == {k: w for k, (w, _) in ref.items()}
    for k, (_, p) in ref.items():
        assert out.loc[k, "p_a"] == pytest.approx(p)
    assert res.meta["aggregate"] == "call_majority"


def test_call_majority_and_majority_on_a_hand_built_table():
    rows = [  # p: A splits across orders (a, b), B says a twice; q: one call each, A a, B b, C b
        ("p", "A", "ab", "a"), ("p", "A", "ba", "b"), ("p", "B", "ab", "a"), ("p", "B", "ba", "a"),
        ("q", "A", "ab", "a"), ("q", "B", "ab", "b"), ("q", "C", "ba", "b"),
        ("r", "A", "ab", "a"), ("r", "A", "ba", "a"), ("r", "B", "ab", "b"), ("r", "B", "ba", None),
    ]
    t = pd.DataFrame(rows, columns=["pair_id", "judge", "order", "winner"])
    calls = aggregate(t, aggregate="call_majority").outcomes
    judges = aggregate(t, aggregate="majority").outcomes
    # per call: p 3 a vs 1 b -> a (p_a 3/4); r 2 a vs 1 b -> a.  Per judge: p votes tie + a -> tie; r a + b -> tie
    assert calls["winner"].to_dict() == {"p": "a", "q": "b", "r": "a"}
    assert calls.loc["p", "p_a"] == pytest.approx(0.75) and calls.loc["r", "p_a"] == pytest.approx(2 / 3)
    assert judges["winner"].to_dict() == {"p": "tie", "q": "b", "r": "tie"}
    assert judges.loc["p", "p_a"] == pytest.approx(0.75) and judges.loc["r", "p_a"] == pytest.approx(0.5)
    assert calls.loc["r", ["n_verdicts", "n_failed"]].tolist() == [3, 1]
    assert calls.loc["p", "consistent"] is False
    # prefjudge.aggregation.jury.majority is the same rule as the jury's, not a second one
    from prefjudge.aggregation.jury import majority

    assert majority(t)["winner"].to_dict() == judges["winner"].to_dict()


@pytest.mark.parametrize("rule", RULE_NAMES)
def test_jury_aggregate_and_rank_pairs_accept_the_same_rule_names(rule, sim_world):
    from prefjudge.aggregation.rules import RULES

    assert set(RULES) == set(RULE_NAMES)
    pairs = _pairs(sim_world, n=12)
    with SimServer(judges=SIMS, world=sim_world) as server:
        res = pj.rank_pairs(pairs, judges=_judges(server), order="both", seed=0, aggregate=rule, progress=False)
    again = aggregate(res.judgments, aggregate=rule).outcomes
    direct = Jury(NAMES, aggregate=rule).aggregate_table(res.judgments)
    assert res.meta["aggregate"] == rule
    assert res.outcomes["winner"].notna().all()
    assert res.outcomes["winner"].tolist() == again["winner"].tolist() == direct["winner"].tolist()


@pytest.mark.parametrize("bad", ["median", "Majority", "dawid-skene"])
def test_unknown_rule_name_is_a_config_error_before_any_call(bad, sim_world):
    with SimServer(judges=SIMS, world=sim_world) as server:
        with pytest.raises(ConfigError) as err:
            pj.rank_pairs(_pairs(sim_world, n=4), judges=_judges(server), aggregate=bad, progress=False)
        assert server.count_ok() == 0
    for name in RULE_NAMES:
        assert name in str(err.value)
    for call in (lambda: Jury(NAMES, aggregate=bad), lambda: aggregate(pd.DataFrame({"pair_id": ["p"], "judge": ["A"], "winner": ["a"]}), aggregate=bad)):
        with pytest.raises(ConfigError, match="call_majority"):
            call()


def _raises(t):
    return 1 / 0


@pytest.mark.parametrize("fn,match", [
    (lambda t: t, "pair_id"),  # today: every winner silently None
    (lambda t: t.groupby("pair_id").size(), "DataFrame"),
    (lambda t: t.groupby("pair_id", as_index=False).agg(winner=("winner", "first"), p_a=("p_a", "first")), "pair_id"),
    (lambda t: t.groupby("pair_id").agg(winner=("winner", "first")).assign(p_a=2.0), "p_a"),
    (lambda t: t.groupby("pair_id").agg(winner=("winner", "first")).assign(p_a=None, winner="A"), "winner"),
    (_raises, "ZeroDivisionError"),
])
def test_broken_custom_aggregator_fails_before_any_call(fn, match, sim_world):
    with SimServer(judges=SIMS, world=sim_world) as server:
        with pytest.raises(ConfigError, match=match) as err:
            pj.rank_pairs(_pairs(sim_world, n=4), judges=_judges(server), order="both", aggregate=fn, progress=False)
        assert server.count_ok() == 0
    assert "before any call" in str(err.value)


def test_valid_custom_aggregator_still_runs(sim_world):
    def first_judge(t):
        return t[t["judge"] == "gpt-sim"].groupby("pair_id").agg(winner=("winner", "first")).assign(p_a=None)

    pairs = _pairs(sim_world, n=6)
    with SimServer(judges=SIMS, world=sim_world) as server:
        res = pj.rank_pairs(pairs, judges=_judges(server), order="fixed", aggregate=first_judge, progress=False)
    gpt = res.judgments[res.judgments["judge"] == "gpt-sim"].set_index("pair_id")["winner"]
    assert res.outcomes["winner"].to_dict() == gpt.to_dict()
    assert res.meta["aggregate"] == "first_judge"


def _picky(t):
    """Honours the contract on small tables, breaks it on the real one (more than 20 calls)."""
    out = t.groupby("pair_id").agg(winner=("winner", "first")).assign(p_a=None)
    if len(t) > 20:
        out["winner"] = "A"
    return out


@pytest.mark.timeout(120)
def test_contract_broken_after_the_run_keeps_the_calls_in_the_store(sim_world, tmp_path):
    pairs = _pairs(sim_world, n=10)
    store = tmp_path / "runs.db"
    with SimServer(judges=SIMS, world=sim_world) as server:
        with pytest.raises(ConfigError) as err:
            pj.rank_pairs(pairs, judges=_judges(server), order="both", aggregate=_picky, store=store, progress=False)
        made = server.count_ok()
        assert made == 10 * 2 * 2
        msg = str(err.value)
        assert "'A'" in msg and str(store) in msg and "40 judged calls" in msg
        assert len(err.value.judgments) == 40
        fixed = pj.rank_pairs(pairs, judges=_judges(server), order="both", aggregate="majority", store=store, progress=False)
        assert server.count_ok() == made  # replayed from the store: no new call
    assert fixed.meta["n_calls_cached"] == 40 and fixed.outcomes["winner"].notna().all()


def test_contract_broken_after_an_in_memory_run_hands_back_the_judgments(sim_world):
    pairs = _pairs(sim_world, n=10)
    with SimServer(judges=SIMS, world=sim_world) as server:
        with pytest.raises(ConfigError) as err:
            pj.rank_pairs(pairs, judges=_judges(server), order="both", aggregate=_picky, progress=False)
    assert "store=None" in str(err.value) and ".judgments" in str(err.value)
    again = aggregate(err.value.judgments, aggregate="majority")
    assert len(again.outcomes) == 10 and again.outcomes["winner"].notna().all()


def test_aggregate_together_with_a_jury_is_a_config_error(sim_world):
    with SimServer(judges=SIMS, world=sim_world) as server:
        with pytest.raises(ConfigError, match="Jury"):
            pj.rank_pairs(_pairs(sim_world, n=4), judges=Jury(_judges(server)), aggregate="mean", progress=False)
        assert server.count_ok() == 0


def test_jury_weights_missing_a_judge_fail_before_any_call(sim_world):
    with SimServer(judges=SIMS, world=sim_world) as server:
        jury = Jury(_judges(server), aggregate="weighted", weights={"gpt-sim": 1.0})
        with pytest.raises(pj.InputError, match="llama-sim"):
            pj.rank_pairs(_pairs(sim_world, n=4), judges=jury, progress=False)
        assert server.count_ok() == 0
