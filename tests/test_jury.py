"""Juries: each aggregation rule, quorum, same-family handling and agreement on hand-computed tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from prefjudge.aggregation.agreement import agreement_share, cohen_kappa, fleiss_kappa
from prefjudge.aggregation.jury import Jury, aggregate
from prefjudge.errors import ConfigError, InputError
from prefjudge.result import RankResult


def table(votes: dict[str, dict[str, str | None]], **extra_cols) -> pd.DataFrame:
    """pair -> judge -> winner, one call per judge (order unknown)."""
    rows = [{"pair_id": p, "judge": j, "winner": w, **{k: v.get(p) for k, v in extra_cols.items()}}
            for p, by in votes.items() for j, w in by.items()]
    return pd.DataFrame(rows)


# q1..q5 from the module docstring of the jury tests: A, B, C vote; B fails on q4.
VOTES = {
    "q1": {"A": "a", "B": "a", "C": "b"},
    "q2": {"A": "a", "B": "b", "C": "tie"},
    "q3": {"A": "b", "B": "b", "C": "b"},
    "q4": {"A": "a", "B": None, "C": "b"},
    "q5": {"A": "tie", "B": "tie", "C": "a"},
}


def _winners(out: pd.DataFrame) -> dict:
    return out["winner"].to_dict()


def test_jury_takes_judges_positionally_and_passes_them_through_untouched():
    judges = [object(), object()]
    jury = Jury(judges, quorum=2)
    assert jury.judges is judges
    assert jury.rule_name == "majority" and jury.same_family == "keep"


@pytest.mark.parametrize("kwargs,match", [
    ({"aggregate": "median"}, "aggregate"),
    ({"weights": {"A": 1.0}}, "weights apply"),
    ({"aggregate": "weighted", "weights": {"A": -1.0}}, ">= 0"),
    ({"quorum": 4}, "exceeds"),
    ({"quorum": 0}, "quorum"),
    ({"same_family": "drop"}, "same_family"),
    ({"colour": "red"}, "colour"),
])
def test_bad_jury_configs_fail_loudly(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        Jury(["A", "B", "C"], **kwargs)


def test_empty_judges_rejected():
    with pytest.raises(ConfigError, match="non-empty"):
        Jury([])


def test_majority_hand_computed():
    out = Jury(["A", "B", "C"]).aggregate_table(table(VOTES))
    assert _winners(out) == {"q1": "a", "q2": "tie", "q3": "b", "q4": "tie", "q5": "tie"}
    assert out.loc["q1", "p_a"] == pytest.approx(2 / 3)
    assert out.loc["q2", "p_a"] == pytest.approx(0.5)
    assert out.loc["q5", "p_a"] == pytest.approx(2 / 3)
    assert out.loc["q4", ["n_verdicts", "n_failed", "n_judges"]].tolist() == [2, 1, 2]
    assert out.loc["q1", "agreement"] == pytest.approx(2 / 3)
    assert out.loc["q2", "agreement"] == pytest.approx(1 / 3)
    assert out.loc["q3", "agreement"] == 1.0
    assert out["reason"].isna().all() and out["consistent"].isna().all()


def test_majority_matches_call_majority_with_one_call_per_judge():
    # "majority" (one vote per judge) and "call_majority" (one vote per call) differ only when a
    # judge makes several calls on a pair; prefjudge.aggregation.jury.majority is the jury's rule itself.
    from prefjudge.aggregation.jury import majority
    from prefjudge.judgments import normalize_judgments

    t = normalize_judgments(table(VOTES))
    mine, calls = Jury(["A", "B", "C"]).aggregate_table(t), Jury(["A", "B", "C"], aggregate="call_majority").aggregate_table(t)
    assert _winners(mine) == _winners(calls) == majority(t)["winner"].to_dict()
    assert np.allclose(mine["p_a"].astype(float), calls["p_a"].astype(float), equal_nan=True)


def test_mean_hand_computed():
    out = Jury(["A", "B", "C"], aggregate="mean").aggregate_table(table(VOTES))
    assert _winners(out) == {"q1": "a", "q2": "tie", "q3": "b", "q4": "tie", "q5": "a"}
    assert out.loc["q5", "p_a"] == pytest.approx(2 / 3)


def test_mean_uses_soft_p_a_when_reported():
    t = table({"q": {"A": "a", "B": "b"}})
    t["p_a"] = [0.9, 0.3]
    out = Jury(["A", "B"], aggregate="mean").aggregate_table(t)
    assert out.loc["q", "p_a"] == pytest.approx(0.6) and out.loc["q", "winner"] == "a"


def test_weighted_with_given_weights_hand_computed():
    jury = Jury(["A", "B", "C"], aggregate="weighted", weights={"A": 3, "B": 1, "C": 1})
    out = jury.aggregate_table(table(VOTES))
    assert _winners(out) == {"q1": "a", "q2": "a", "q3": "b", "q4": "a", "q5": "tie"}
    assert out["p_a"].astype(float).round(6).tolist() == [0.8, 0.7, 0.0, 0.75, 0.6]
    assert jury.reliability["A"] == {"weight": 3.0, "accuracy": None, "source": "given weights"}


def test_weights_must_cover_every_judge():
    with pytest.raises(InputError, match="no entry for judge"):
        Jury(["A", "B", "C"], aggregate="weighted", weights={"A": 1}).aggregate_table(table(VOTES))


def test_weighted_from_human_labels_hand_computed():
    # A right 6/6, B right 4/6, C right 3/6 on labelled pairs -> weights logit(0.99), log 2, floor.
    truth = ["a", "b", "a", "b", "a", "b"]
    b_votes = ["a", "b", "a", "b", "b", "a"]
    c_votes = ["a", "a", "b", "b", "b", "b"]
    votes = {f"h{i}": {"A": truth[i], "B": b_votes[i], "C": c_votes[i]} for i in range(6)}
    human = {f"h{i}": truth[i] for i in range(6)}
    jury = Jury(["A", "B", "C"], aggregate="weighted")
    out = jury.aggregate_table(table(votes, human=human))
    rel = jury.reliability
    assert rel["A"]["weight"] == pytest.approx(math.log(0.99 / 0.01))
    assert rel["B"]["weight"] == pytest.approx(math.log(2))
    assert rel["C"]["weight"] == pytest.approx(1e-3)
    assert rel["B"]["accuracy"] == pytest.approx(4 / 6) and rel["A"]["source"] == "human labels"
    # h4, h5: B and C agree against A, but A's weight wins.
    assert out.loc["h4", "winner"] == "a" and out.loc["h5", "winner"] == "b"


def test_weighted_leave_one_out_reliability_hand_computed():
    # Ten pairs, truth a. A always right; B wrong on 0,1; C wrong on 0,1,2.
    # With x = +1 (a) / -1 (b): c_AB = .6, c_AC = .4, c_BC = .8, so
    # d_A^2 = .6*.4/.8 = .3, d_B^2 = .6*.8/.4 = 1.2 (clipped to .98^2), d_C^2 = .4*.8/.6.
    votes = {f"p{i}": {"A": "a", "B": "b" if i < 2 else "a", "C": "b" if i < 3 else "a"} for i in range(10)}
    jury = Jury(["A", "B", "C"], aggregate="weighted")
    jury.aggregate_table(table(votes))
    acc = {k: v["accuracy"] for k, v in jury.reliability.items()}
    assert acc["A"] == pytest.approx((1 + math.sqrt(0.3)) / 2)
    assert acc["B"] == pytest.approx((1 + 0.98) / 2)
    assert acc["C"] == pytest.approx((1 + math.sqrt(0.4 * 0.8 / 0.6)) / 2)
    assert jury.reliability["A"]["weight"] == pytest.approx(math.log(acc["A"] / (1 - acc["A"])))


def test_weighted_with_two_judges_falls_back_to_equal_weights():
    jury = Jury(["A", "B"], aggregate="weighted")
    out = jury.aggregate_table(table({"q": {"A": "a", "B": "b"}, "r": {"A": "a", "B": "a"}}))
    assert _winners(out) == {"q": "tie", "r": "a"}
    assert jury.reliability["A"]["weight"] == 1.0 and "needs 3 judges" in jury.reliability["A"]["source"]


def _reference_dawid_skene(rows, judges, pairs, iters, smoothing=0.01):
    """A plain-Python Dawid-Skene (truth a/b, verdicts a/b/tie; same start and smoothing) to check the vectorized one."""
    cls = ["a", "b", "tie"]
    score = {"a": 1.0, "b": 0.0, "tie": 0.5}
    post = {}
    for p in pairs:
        mine = [w for (q, _, w) in rows if q == p]
        pa = (sum(score[w] for w in mine) + smoothing) / (len(mine) + 2 * smoothing)
        post[p] = [pa, 1 - pa]
    for _ in range(iters):
        prior = [(sum(post[p][k] for p in pairs) + smoothing) / (len(pairs) + 2 * smoothing) for k in range(2)]
        conf = {j: [[smoothing] * 3 for _ in range(2)] for j in judges}
        for q, j, w in rows:
            for k in range(2):
                conf[j][k][cls.index(w)] += post[q][k]
        for j in judges:
            for k in range(2):
                s = sum(conf[j][k])
                conf[j][k] = [x / s for x in conf[j][k]]
        new = {}
        for p in pairs:
            lp = [math.log(prior[k]) + sum(math.log(conf[j][k][cls.index(w)]) for (q, j, w) in rows if q == p) for k in range(2)]
            m = max(lp)
            e = [math.exp(x - m) for x in lp]
            new[p] = [x / sum(e) for x in e]
        post = new
    acc = {j: prior[0] * conf[j][0][0] + prior[1] * conf[j][1][1] for j in judges}
    return post, acc


def test_dawid_skene_matches_a_plain_python_reference_and_counts_both_orders():
    rng = np.random.default_rng(4)
    rows = []
    for i in range(12):
        truth = "a" if i % 3 else "b"
        for j, acc in (("A", 0.95), ("B", 0.7), ("C", 0.6)):
            for order in ("ab", "ba"):
                w = truth if rng.random() < acc else rng.choice(["tie", "b" if truth == "a" else "a"])
                rows.append({"pair_id": f"p{i}", "judge": j, "order": order, "winner": str(w)})
    t = pd.DataFrame(rows)
    jury = Jury(["A", "B", "C"], aggregate="dawid_skene")
    out = jury.aggregate_table(t)
    iters = jury.reliability["A"]["iterations"]
    assert jury.reliability["A"]["converged"]
    post, acc = _reference_dawid_skene([(r["pair_id"], r["judge"], r["winner"]) for r in rows], ["A", "B", "C"],
                                       [f"p{i}" for i in range(12)], iters)
    for p, (pa, _) in post.items():
        assert out.loc[p, "posterior_a"] == pytest.approx(pa, abs=1e-9)
        assert out.loc[p, "p_a"] == pytest.approx(pa, abs=1e-9)
        assert out.loc[p, "winner"] == ("a" if pa > 0.5 else "b")
    for j in "ABC":
        assert jury.reliability[j]["accuracy"] == pytest.approx(acc[j], abs=1e-9)
    assert jury.reliability["A"]["accuracy"] > jury.reliability["C"]["accuracy"]


def test_quorum_sets_winner_none_with_reason():
    out = Jury(["A", "B", "C"], quorum=3).aggregate_table(table(VOTES))
    assert out.loc["q4", "winner"] is None and out.loc["q4", "p_a"] is None
    assert out.loc["q4", "reason"] == "below quorum: 2 judge(s) gave a parsed verdict, quorum is 3"
    assert out.loc["q1", "winner"] == "a" and out.loc["q1", "reason"] is None


def test_a_judge_failing_everywhere_does_not_stop_the_others():
    t = table({"q": {"A": "a", "B": None, "C": "a"}, "r": {"A": None, "B": None, "C": None}})
    out = Jury(["A", "B", "C"], quorum=2).aggregate_table(t)
    assert out.loc["q", "winner"] == "a"
    assert out.loc["r", "winner"] is None and out.loc["r", "reason"] == "no parsed verdict"


def _family_table():
    # gpt-4o (openai) judges a pair where gpt-4o-mini wrote answer a; claude and llama do not share a family.
    rows = []
    for judge, ab, ba in (("gpt-4o", "a", "a"), ("claude-3-5-sonnet", "b", "b"), ("llama-3.1-70b", "b", "a")):
        for order, w in (("ab", ab), ("ba", ba)):
            rows.append({"pair_id": "p", "judge": judge, "order": order, "winner": w,
                         "model_a": "gpt-4o-mini", "model_b": "mistral-7b-instruct"})
    return pd.DataFrame(rows)


def test_same_family_exclude_drops_the_judges_own_family_votes():
    out = Jury(["gpt-4o", "claude", "llama"], same_family="exclude").aggregate_table(_family_table())
    # Left: claude b,b -> b; llama b,a -> tie (split). Majority of b and tie: split -> tie.
    assert out.loc["p", "n_excluded_same_family"] == 2
    assert out.loc["p", "n_verdicts"] == 4 and out.loc["p", "n_judges"] == 2
    assert out.loc["p", "winner"] == "tie"


def test_same_family_exclude_can_leave_no_vote():
    t = _family_table()
    t = t[t["judge"] == "gpt-4o"]
    out = Jury(["gpt-4o"], same_family="exclude").aggregate_table(t)
    assert out.loc["p", "winner"] is None
    assert out.loc["p", "reason"] == "no parsed verdict (2 same-family verdict(s) excluded)"


def test_same_family_flag_and_keep():
    t = _family_table()
    flagged = Jury(["x", "y", "z"], same_family="flag").aggregate_table(t)
    kept = Jury(["x", "y", "z"]).aggregate_table(t)
    assert bool(flagged.loc["p", "flagged_same_family"]) is True
    assert "flagged_same_family" not in kept.columns and "n_excluded_same_family" not in kept.columns
    # gpt a,a -> a; claude b; llama tie -> a, b, tie: split -> tie, both for flag and keep.
    assert flagged.loc["p", "winner"] == kept.loc["p", "winner"] == "tie"
    assert kept.loc["p", "consistent"] is False


def test_custom_rule_gets_quorum_and_extras():
    def trust_a(df: pd.DataFrame) -> pd.DataFrame:
        a = df[df["judge"] == "A"].set_index("pair_id")
        return pd.DataFrame({"winner": a["winner"], "p_a": None, "note": "A decides"})

    jury = Jury(["A", "B", "C"], aggregate=trust_a, quorum=3)
    out = jury.aggregate_table(table(VOTES))
    assert jury.rule_name == "trust_a"
    assert out.loc["q2", "winner"] == "a" and out.loc["q5", "winner"] == "tie"
    assert out.loc["q4", "winner"] is None and out.loc["q4", "reason"].startswith("below quorum")
    assert (out["note"] == "A decides").all()


def test_custom_rule_breaking_the_contract_is_a_config_error():
    with pytest.raises(ConfigError, match="returned no column"):
        Jury(["A"], aggregate=lambda df: pd.DataFrame({"x": [1]})).aggregate_table(table(VOTES))
    with pytest.raises(ConfigError, match="returned winner"):
        Jury(["A"], aggregate=lambda df: pd.DataFrame({"winner": "A", "p_a": 1.0}, index=["q1"])).aggregate_table(table(VOTES))


def test_both_orders_collapse_to_one_vote_per_judge():
    rows = [{"pair_id": "p", "judge": "A", "order": "ab", "winner": "a"}, {"pair_id": "p", "judge": "A", "order": "ba", "winner": "b"},
            {"pair_id": "p", "judge": "B", "order": "ab", "winner": "a"}, {"pair_id": "p", "judge": "B", "order": "ba", "winner": "a"},
            {"pair_id": "p", "judge": "C", "order": "ab", "winner": "a"}, {"pair_id": "p", "judge": "C", "order": "ba", "winner": "a"}]
    out = Jury(["A", "B", "C"]).aggregate_table(pd.DataFrame(rows))
    # Votes: A tie (split), B a, C a -> a; agreement 2/3; A inconsistent -> consistent False.
    assert out.loc["p", "winner"] == "a" and out.loc["p", "agreement"] == pytest.approx(2 / 3)
    assert out.loc["p", "consistent"] is False and out.loc["p", "n_verdicts"] == 6


def test_agreement_statistics_hand_computed():
    counts = np.array([[2, 1, 0], [1, 1, 1], [3, 0, 0]])
    assert agreement_share(counts).tolist() == pytest.approx([2 / 3, 1 / 3, 1.0])
    # Wikipedia's worked example of Fleiss' kappa (10 items, 14 raters, 5 classes): 0.210.
    wiki = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                     [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]])
    assert fleiss_kappa(wiki).value == pytest.approx(0.20993, abs=1e-5)
    k = cohen_kappa(np.array([0, 0, 1, 1, 0, 2]), np.array([0, 1, 1, 1, 0, 2]))
    assert k.value == pytest.approx(17 / 23) and k.n == 6
    assert cohen_kappa(np.array([0, 0]), np.array([0, 0])).value is None


def test_aggregate_returns_a_rank_result_with_pairs_rebuilt():
    t = table(VOTES, model_a={p: "gpt-4o-mini" for p in VOTES}, human={"q1": None, "q3": "b"})
    t.loc[(t["pair_id"] == "q1") & (t["judge"] == "C"), "human"] = "a"  # first non-null label wins
    res = aggregate(t, "mean", quorum=2)
    assert isinstance(res, RankResult)
    assert res.pairs["id"].tolist() == list(VOTES)
    assert res.pairs.set_index("id").loc["q1", "human"] == "a" and res.pairs.set_index("id").loc["q3", "human"] == "b"
    assert res.meta["aggregate"] == "mean" and res.meta["quorum"] == 2
    df = res.to_pandas()
    assert df.set_index("id").loc["q5", "winner"] == "a" and "agreement" in df.columns


def test_aggregate_dawid_skene_records_judge_accuracy_in_meta():
    res = aggregate(table(VOTES), aggregate="dawid_skene")
    assert set(res.meta["judge_reliability"]) == {"A", "B", "C"}
    assert all(0 <= r["accuracy"] <= 1 for r in res.meta["judge_reliability"].values())


def test_aggregate_rejects_bad_tables():
    with pytest.raises(InputError, match="required column"):
        aggregate(pd.DataFrame({"pair_id": ["p"], "winner": ["a"]}))
    with pytest.raises(InputError, match="row 1.*winner"):
        aggregate(pd.DataFrame({"pair_id": ["p", "q"], "judge": ["A", "A"], "winner": ["a", "A"]}))
    with pytest.raises(InputError, match="human"):
        aggregate(pd.DataFrame({"pair_id": ["p"], "judge": ["A"], "winner": ["a"], "human": ["yes"]}))


def test_normalize_fills_columns_and_infers_families():
    from prefjudge.judgments import normalize_judgments
    from prefjudge.types import JUDGMENT_COLUMNS

    raw = pd.DataFrame({"pair_id": [1, 2, 3], "judge": ["gpt-4o", "claude-3", "gpt-4o"], "winner": [None, "tie", "a"],
                        "judge_family": ["x", None, ""], "extra": [1, 2, 3]})
    out = normalize_judgments(raw)
    assert list(out.columns) == list(JUDGMENT_COLUMNS) + ["extra"]
    assert out["pair_id"].tolist() == ["1", "2", "3"]
    assert out["judge_family"].tolist() == ["x", "anthropic", "openai"]  # given families kept, blanks inferred
    assert out["winner"].tolist() == [None, "tie", "a"] and out["order"].isna().all()
    assert out["extra"].tolist() == [1, 2, 3]


def test_normalize_names_the_bad_row():
    from prefjudge.judgments import normalize_judgments

    bad = pd.DataFrame({"pair_id": ["p", "q", "r"], "judge": "j", "winner": ["a", "A", "b"], "order": ["ab", None, "x"]})
    with pytest.raises(InputError, match="row 1, field 'winner'.*'A'"):
        normalize_judgments(bad)
    with pytest.raises(InputError, match="row 2, field 'order'.*'x'"):
        normalize_judgments(bad.assign(winner="a"))
