"""Jury rules on real judges' recorded verdicts (LLMBar Natural; verdict columns vendored in tests/data/jury-dev) and the new rules' contract.

The dev-data figures are the table in docs/juries.md (written by bench/jury_dev.py); every rule is
deterministic, so a rule that falls below its documented figure fails here. The position-aware
Dawid-Skene, its semi-supervised variant and follow_best are also checked on hand-built tables and on
the numpy simulation of _audit_helpers (latent truth known).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _audit_helpers import SimJudgeSpec, judge_pairs, make_pairs

from prefjudge.aggregation.jury import Jury, aggregate
from prefjudge.aggregation.reliability import reliability_table

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "juries.md"
NEW_RULES = ("dawid_skene_order", "dawid_skene_semi", "follow_best")
LABEL_FREE = ("majority", "call_majority", "mean", "dawid_skene", "dawid_skene_order", "follow_best")


def _load_bench():
    spec = importlib.util.spec_from_file_location("jury_dev", ROOT / "bench" / "jury_dev.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


jd = _load_bench()
needs_data = pytest.mark.skipif(not jd.DATA.is_dir(), reason=f"dev data not found at {jd.DATA}")


def documented_table() -> tuple[list[str], list[dict[str, str]]]:
    """The dev-data table of docs/juries.md: header and one dict per row."""
    lines = DOCS.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if "jury-dev table" in line)
    rows = [line for line in lines[start + 1:start + 14] if line.startswith("|")]
    head = [c.strip() for c in rows[0].strip("|").split("|")]
    body = [dict(zip(head, (c.strip() for c in r.strip("|").split("|")))) for r in rows[2:]]
    return head, body


def _cell(text: str) -> tuple[float, float]:
    m = re.fullmatch(r"([\d.]+)(?: \(([\d.]+)\))?", text)
    assert m, text
    strict = float(m[1])
    return strict, float(m[2]) if m[2] else strict


@pytest.fixture(scope="module")
def dev():
    head, body = documented_table()
    rules = tuple(h for h in head[6:] if not h.startswith("dawid_skene_semi"))
    labelled = int(re.search(r"\((\d+) labels\)", head[-1])[1])
    rows = jd.dev_rows(rules, jd.DATA, n_labelled=labelled, seeds=20)
    return head, body, rules, {(r["jury"], r["style"]): r for r in rows}


@needs_data
def test_every_rule_reaches_its_documented_figure_on_the_dev_data(dev):
    head, body, rules, got = dev
    assert len(body) == 8 and set(NEW_RULES) - {"dawid_skene_semi"} <= set(rules)
    for row in body:
        r = got[(row["jury"], row["style"])]
        where = f"{row['jury']} / {row['style']}"
        assert (row["best single judge"], int(row["judges"])) == (r["best"], r["n_judges"]), where
        assert float(row["its vote"]) == pytest.approx(100 * r["best_vote"], abs=0.05), where
        assert float(row["its calls"]) == pytest.approx(100 * r["best_per_call"], abs=0.05), where
        for rule in rules:
            strict, half = _cell(row[rule])
            assert 100 * r["rules"][rule][0] >= strict - 0.05, (where, rule, r["rules"][rule], strict)
            assert 100 * r["rules"][rule][1] >= half - 0.05, (where, rule, r["rules"][rule], half)
        semi_strict, _ = _cell(row[head[-1]])
        assert 100 * r["semi"][0] >= semi_strict - 0.05, (where, r["semi"], semi_strict)


@needs_data
def test_the_goals_as_documented(dev):
    _, _, _, got = dev
    for style in jd.STYLES:
        full, weak = got[("all judges", style)], got[(f"without {jd.STRONG}", style)]
        assert full["best"] == jd.STRONG
        # (a) follow_best reaches the best single judge's vote everywhere, its calls except in Swap
        assert full["rules"]["follow_best"][0] >= full["best_vote"]
        if style != "Swap":
            assert full["rules"]["follow_best"][0] >= full["best_per_call"]
        # (b) against the best member's vote: +8 points or more for dawid_skene_order
        assert weak["rules"]["dawid_skene_order"][0] >= weak["best_vote"] + 0.08


@needs_data
@pytest.mark.parametrize("rule", LABEL_FREE)
def test_label_free_rules_never_read_the_gold_column(rule):
    table = jd.load_style("Swap")
    with_gold = aggregate(table, rule).outcomes
    blind = aggregate(jd.without_gold(table), rule).outcomes
    assert with_gold["winner"].tolist() == blind["winner"].tolist()
    assert with_gold["p_a"].tolist() == blind["p_a"].tolist()


@needs_data
def test_semi_uses_the_labels_it_is_given_and_no_others():
    table = jd.load_style("Vanilla", judges=tuple(j for j in jd.JUDGES if j != jd.STRONG))
    gold = jd.gold_of(table)
    free = aggregate(jd.without_gold(table), "dawid_skene_order").outcomes
    wrong = free.index[free["winner"] != gold.reindex(free.index)]
    shown = list(wrong[:5]) + [p for p in gold.index if p not in wrong][:5]  # 5 pairs the label-free rule gets wrong
    part = table.assign(human=table["human"].where(table["pair_id"].isin(shown), None))
    out = aggregate(part, "dawid_skene_semi").outcomes
    assert out.loc[shown, "winner"].tolist() == gold.loc[shown].tolist()  # a labelled pair's outcome is its label
    assert out["labelled"].sum() == 10 and out.loc[shown, "labelled"].all()
    # the gold of the evaluation pairs, present under another name, is not read
    leaky = part.assign(gold=table["human"], truth=table["human"], label=table["human"])
    again = aggregate(leaky, "dawid_skene_semi").outcomes
    assert again["winner"].tolist() == out["winner"].tolist() and again["p_a"].tolist() == out["p_a"].tolist()
    # it uses what it is given, not the gold: flip the ten labels and the labelled outcomes flip
    flipped = part.assign(human=part["human"].map({"a": "b", "b": "a"}))
    flip = aggregate(flipped, "dawid_skene_semi").outcomes
    assert flip.loc[shown, "winner"].tolist() == gold.loc[shown].map({"a": "b", "b": "a"}).tolist()
    # scored on the evaluation pairs only, at least the label-free rule's agreement there (within a pair)
    hidden = gold.index.difference(shown)
    acc_semi = (out.loc[hidden, "winner"] == gold.loc[hidden]).mean()
    acc_free = (free.loc[hidden, "winner"] == gold.loc[hidden]).mean()
    assert acc_semi >= acc_free - 1 / len(hidden)


def _anchor_table(labels: dict[str, str] | None = None) -> pd.DataFrame:
    """X and Y always agree; Z always says the opposite; one call each, order unknown."""
    rows = []
    for k in range(20):
        xy = "a" if k % 2 else "b"
        z = "b" if xy == "a" else "a"
        pid = f"p{k}"
        human = (labels or {}).get(pid)
        rows += [{"pair_id": pid, "judge": "X", "winner": xy, "human": human},
                 {"pair_id": pid, "judge": "Y", "winner": xy, "human": human},
                 {"pair_id": pid, "judge": "Z", "winner": z, "human": human}]
    return pd.DataFrame(rows)


def test_a_few_labels_anchor_the_semi_supervised_rule():
    free = aggregate(_anchor_table(), "dawid_skene_semi").outcomes
    assert (free["winner"] == aggregate(_anchor_table(), "majority").outcomes["winner"]).all()  # X and Y win
    labels = {"p0": "a", "p1": "b", "p2": "a"}  # Z was right on these
    semi = aggregate(_anchor_table(labels), "dawid_skene_semi")
    z = _anchor_table().query("judge == 'Z'").set_index("pair_id")["winner"]
    assert (semi.outcomes["winner"] == z.reindex(semi.outcomes.index)).all()  # the unlabelled 17 follow Z now
    rel = semi.meta["judge_reliability"]
    assert rel["Z"]["accuracy"] > 0.9 > 0.1 > rel["X"]["accuracy"]
    assert "3 labelled pairs" in rel["Z"]["source"]


def test_semi_without_labels_is_dawid_skene_order():
    table = judge_pairs(make_pairs(120, seed=4), [SimJudgeSpec("gpt-4o", noise=0.4), SimJudgeSpec("claude-3-haiku", noise=1.0, position_bias=0.3),
                                                  SimJudgeSpec("llama-3-8b", noise=1.2)], order="both", seed=4).drop(columns="truth")
    a, b = aggregate(table, "dawid_skene_semi"), aggregate(table, "dawid_skene_order")
    assert a.outcomes["winner"].tolist() == b.outcomes["winner"].tolist()
    assert a.outcomes["p_a"].tolist() == b.outcomes["p_a"].tolist()
    assert not a.outcomes["labelled"].any()


def _contract_table() -> pd.DataFrame:
    rows = []
    for pid, verdicts in {"p": "a", "q": "b", "r": "tie"}.items():
        for judge in ("A", "B", "C"):
            for order in ("ab", "ba"):
                rows.append({"pair_id": pid, "judge": judge, "order": order, "winner": verdicts})
    for judge in ("A", "B", "C"):  # every call on f failed
        rows += [{"pair_id": "f", "judge": judge, "order": o, "winner": None} for o in ("ab", "ba")]
    rows += [{"pair_id": "s", "judge": "A", "order": "ab", "winner": "a"}, {"pair_id": "s", "judge": "A", "order": "ba", "winner": "b"},
             {"pair_id": "s", "judge": "B", "order": "ab", "winner": None}]  # A splits, B fails, C absent
    return pd.DataFrame(rows)


@pytest.mark.parametrize("rule", NEW_RULES)
def test_new_rules_keep_the_outcome_contract(rule):
    out = aggregate(_contract_table(), rule).outcomes
    assert list(out.columns[:8]) == ["winner", "p_a", "n_verdicts", "n_failed", "consistent", "reason", "agreement", "n_judges"]
    assert "posterior_a" in out.columns
    assert out.loc["p", "winner"] == "a" and out.loc["q", "winner"] == "b"
    assert out.loc["r", "winner"] == "tie" and out.loc["r", "p_a"] == pytest.approx(0.5)  # ties are a value
    assert out.loc["f", "winner"] is None and out.loc["f", "p_a"] is None and out.loc["f", "reason"] == "no parsed verdict"
    assert out.loc["f", ["n_verdicts", "n_failed"]].tolist() == [0, 6]
    assert out.loc["s", ["n_verdicts", "n_failed"]].tolist() == [2, 1] and out.loc["s", "consistent"] is False
    assert out.loc["s", "winner"] in ("a", "b", "tie") and 0.0 <= out.loc["s", "p_a"] <= 1.0
    for p in out.index:
        assert out.loc[p, "winner"] in ("a", "b", "tie", None)
        assert out.loc[p, "p_a"] is None or 0.0 <= out.loc[p, "p_a"] <= 1.0
    quorum = Jury(["A", "B", "C"], aggregate=rule, quorum=2).aggregate_table(_contract_table())
    assert quorum.loc["s", "winner"] is None and quorum.loc["s", "reason"].startswith("below quorum: 1 judge")


@pytest.mark.parametrize("rule", NEW_RULES)
def test_new_rules_respect_same_family_exclusion(rule):
    t = _contract_table().assign(model_a="gpt-4o-mini", model_b="claude-3-haiku")
    t["judge"] = t["judge"].map({"A": "gpt-4o", "B": "claude-3-5-sonnet", "C": "llama-3-70b"})
    out = Jury(["gpt-4o", "claude-3-5-sonnet", "llama-3-70b"], aggregate=rule, same_family="exclude").aggregate_table(t)
    assert out.loc["p", "n_excluded_same_family"] == 4 and out.loc["p", "n_verdicts"] == 2 and out.loc["p", "winner"] == "a"
    assert out.loc["s", "winner"] is None and "same-family" in out.loc["s", "reason"]


POLL = [SimJudgeSpec("gpt-4o", noise=0.15), SimJudgeSpec("claude-3-haiku", noise=1.8, position_bias=0.3),
        SimJudgeSpec("llama-3-8b", noise=1.8, length_bias=0.5)]


def test_follow_best_follows_the_strongest_judge_and_lets_the_jury_settle_its_splits():
    pairs = make_pairs(400, seed=2)
    table = judge_pairs(pairs, POLL, order="both", seed=2).drop(columns="truth")
    res = aggregate(table, "follow_best")
    out, rel = res.outcomes, res.meta["judge_reliability"]
    assert [j for j, r in rel.items() if r["followed"]] == ["gpt-4o"]
    g = table[table["judge"] == "gpt-4o"]
    vote = g.groupby("pair_id")["winner"].agg(lambda w: w.iloc[0] if w.nunique() == 1 else "tie").reindex(out.index)
    decided = vote.isin(["a", "b"])
    assert out["followed"].tolist() == decided.tolist() and (~decided).sum() >= 5
    assert (out.loc[decided, "winner"] == vote[decided]).all()
    posterior = aggregate(table, "dawid_skene_order").outcomes["winner"]
    assert (out.loc[~decided, "winner"] == posterior[~decided]).all()
    truth = pairs.set_index("pair_id")["gap"].gt(0).map({True: "a", False: "b"}).reindex(out.index)
    single = (aggregate(g).outcomes["winner"].reindex(out.index) == truth).mean()
    assert (out["winner"] == truth).mean() >= single


def test_dawid_skene_order_models_position_bias_and_estimates_accuracy():
    judges = [SimJudgeSpec("gpt-4o", noise=0.5), SimJudgeSpec("claude-3-haiku", noise=0.8, position_bias=0.5),
              SimJudgeSpec("llama-3-8b", noise=0.8), SimJudgeSpec("mistral-7b", noise=1.0)]
    pairs = make_pairs(1000, seed=6)
    table = judge_pairs(pairs, judges, order="both", seed=6)
    truth = table.pop("truth")
    rel = aggregate(table, "dawid_skene_order").meta["judge_reliability"]
    gap = {j: rel[j]["accuracy_first"] - rel[j]["accuracy_second"] for j in rel}
    assert gap["claude-3-haiku"] == pytest.approx(0.5, abs=0.08)  # picks the first shown answer half the time
    for j in ("gpt-4o", "llama-3-8b", "mistral-7b"):
        assert abs(gap[j]) < 0.08, (j, gap[j])
    measured = (table["winner"] == truth).groupby(table["judge"]).mean()
    for j in rel:
        assert rel[j]["accuracy"] == pytest.approx(measured[j], abs=0.04), (j, rel[j], measured[j])


@needs_data
def test_a_split_adds_no_evidence_under_the_position_model():
    from prefjudge.aggregation import ds
    from prefjudge.aggregation.jury import normalize
    from prefjudge.aggregation.votes import collapse, encode

    table = normalize(jd.without_gold(jd.load_style("CoT")))
    enc = encode(table)
    keep = np.ones(enc.n_rows, dtype=bool)
    fit = ds.fit_order_ds(enc, keep)
    votes = collapse(enc, keep)
    for judge in range(enc.n_judges):
        own = ds.judge_posterior(fit, judge, enc.n_pairs)
        split = votes.pair[(votes.judge == judge) & (votes.counts[:, 0] == 1) & (votes.counts[:, 1] == 1)]
        assert len(split) > 0
        assert np.allclose(own[split], 0.5, atol=1e-12)


@needs_data
def test_reliability_table_puts_the_estimate_beside_measured_agreement():
    table = jd.load_style("Vanilla")
    res = aggregate(jd.without_gold(table), "dawid_skene_order")
    rel = reliability_table(res, table).set_index("judge")
    assert list(rel.columns) == ["estimated_accuracy", "weight", "source", "human_agreement", "n_labelled", "difference"]
    assert rel.loc["GPT-4", "human_agreement"] == pytest.approx(0.955) and (rel["n_labelled"] == 200).all()
    assert rel["estimated_accuracy"].idxmax() == "GPT-4"
    assert (rel["difference"].abs() < 0.07).all(), rel
    assert reliability_table(res.outcomes, table).equals(rel.reset_index())  # from the outcomes' attrs too
    assert reliability_table(res).set_index("judge")["human_agreement"].isna().all()  # the blind table has no labels
    plain = reliability_table(aggregate(table, "majority"))
    assert plain["estimated_accuracy"].isna().all() and plain["human_agreement"].notna().all()
