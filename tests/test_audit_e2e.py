"""End to end over loopback HTTP: a simulated jury with known injected biases, judged by rank_pairs
through a Jury, then audited. Each injected bias is detected; the unbiased control judge is not
flagged; the learned jury is at least as accurate as the best single judge against the latent truth.
"""

from __future__ import annotations

import pytest

import prefjudge as pj
from prefjudge.aggregation.jury import Jury, aggregate
from prefjudge.audit import audit
from prefjudge.testing import SimGenerator, SimJudge, SimServer, SimWorld, make_demo_pairs

SIM_JUDGES = [
    SimJudge(name="gpt-sim", noise=0.5, position_bias=0.3),        # position bias
    SimJudge(name="claude-sim", noise=0.5, length_bias=1.5),       # prefers longer answers
    SimJudge(name="llama-sim", noise=0.5, self_bias=1.5),          # prefers its own family (meta)
    SimJudge(name="mistral-sim", noise=0.5, list_bias=1.5),        # prefers answers with a list
    SimJudge(name="qwen-sim", noise=0.5),                          # control: nothing injected
]
# Writers of equal quality but different length and list habits, from three families: length and
# lists say nothing about quality here, so an unbiased judge prefers the longer answer half the time.
WRITERS = [
    SimGenerator(name="gpt-sim-writer", length_words=(40, 120), list_prob=0.3),
    SimGenerator(name="claude-sim-writer", length_words=(60, 160), list_prob=0.5),
    SimGenerator(name="llama-sim-writer", length_words=(15, 70), list_prob=0.1),
]
N_PAIRS = 240


def excludes(entry, value):
    return entry["value"] is not None and not entry["ci"][0] <= value <= entry["ci"][1]


@pytest.fixture(scope="module")
def run():
    world = SimWorld()
    pairs = make_demo_pairs(N_PAIRS, seed=21, world=world, models=WRITERS)
    with SimServer(judges=SIM_JUDGES, world=world, seed=3) as server:
        judges = [pj.Judge(j.name, base_url=server.base_url, api_key="x") for j in SIM_JUDGES]
        jury = Jury(judges, aggregate="dawid_skene")
        result = pj.rank_pairs(pairs, judges=jury, order="both", seed=0, progress=False)
    truth = {p["id"]: "a" if p["quality_a"] > p["quality_b"] else "b" for p in pairs}
    return result, truth, audit(result).to_dict()


def test_the_jury_went_through_rank_pairs(run):
    result, _, report = run
    assert len(result.judgments) == N_PAIRS * len(SIM_JUDGES) * 2
    assert result.meta["aggregate"] == "dawid_skene" and "agreement" in result.outcomes.columns
    assert report["meta"]["kind"] == "rank_result" and report["jury"]["rule"] == "dawid_skene"


@pytest.mark.parametrize("judge,stat,no_bias", [
    ("gpt-sim", "p_first", 0.5), ("claude-sim", "p_longer", 0.5), ("claude-sim", "length_slope", 0.0),
    ("llama-sim", "self_preference", 0.0), ("mistral-sim", "p_lists", 0.5),
])
def test_each_injected_bias_is_detected(run, judge, stat, no_bias):
    e = run[2]["judges"][judge][stat]
    assert excludes(e, no_bias) and e["value"] > no_bias, e


def test_nothing_is_flagged_where_nothing_was_injected(run):
    report = run[2]
    control = report["judges"]["qwen-sim"]
    for stat in ("p_first", "p_longer", "p_lists"):
        assert not excludes(control[stat], 0.5), (stat, control[stat])
    assert not excludes(control["length_slope"], 0.0)
    assert control["self_preference"]["value"] is None  # no generator of its family
    # An answer with a list is also longer in the simulator, so length and list biases show in each
    # other's statistic; position is independent of both.
    for judge, stats in {"gpt-sim": ("p_longer", "p_lists"), "claude-sim": ("p_first",),
                         "mistral-sim": ("p_first",), "llama-sim": ("p_first",)}.items():
        for stat in stats:
            assert not excludes(report["judges"][judge][stat], 0.5), (judge, stat, report["judges"][judge][stat])
    assert not any(w.startswith("judge qwen-sim") for w in report["warnings"])


def test_jury_accuracy_against_the_latent_truth(run, record_property):
    result, truth, _ = run

    def accuracy(outcomes):
        return float(sum(outcomes["winner"].get(p) == t for p, t in truth.items()) / len(truth))

    single = {j.name: accuracy(aggregate(result.judgments[result.judgments["judge"] == j.name]).outcomes) for j in SIM_JUDGES}
    jury = {"dawid_skene": accuracy(result.outcomes), "majority": accuracy(aggregate(result.judgments).outcomes),
            "weighted": accuracy(aggregate(result.judgments, "weighted").outcomes)}
    record_property("single_judge_accuracy", single)
    record_property("jury_accuracy", jury)
    print(f"single={single} jury={jury}")
    assert jury["dawid_skene"] >= max(single.values()), (single, jury)
