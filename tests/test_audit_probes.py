"""pj.audit(result, probes=...) puts the counterfactual probes beside the observational statistics in
every format, and the warnings say whether the probe moved the judge; a jury's label-free accuracy
estimates sit beside the measured agreement with the human labels. Over real HTTP to the simulator."""

from __future__ import annotations

import pytest

import prefjudge as pj
from prefjudge.testing import SimJudge, SimServer, SimWorld, make_demo_pairs

SIMS = [SimJudge(name="long", noise=0.5, length_bias=2.5), SimJudge(name="plain", noise=0.4)]


@pytest.fixture(scope="module")
def judged():
    world = SimWorld()
    pairs = make_demo_pairs(60, seed=2, world=world)
    with SimServer(judges=SIMS, world=world, seed=1) as server:
        judges = [pj.Judge(s.name, base_url=server.base_url, api_key="x") for s in SIMS]
        probes = pj.probe(pairs, judges, probes=("pad", "swap"), n=40, seed=0)
        result = pj.rank_pairs(pairs, judges, order="both", seed=0, progress=False)
    return result, probes


def test_probe_effects_sit_beside_each_judge_and_the_warnings_quote_them(judged):
    result, probes = judged
    without = pj.audit(result).to_dict()
    rep = pj.audit(result, probes=probes)
    d = rep.to_dict()
    assert "probes" not in without["judges"]["long"]
    assert set(d["judges"]["long"]["probes"]) == {"pad", "swap"}
    assert d["judges"]["long"]["probes"]["pad"]["detected"] is True
    assert d["judges"]["plain"]["probes"]["pad"]["detected"] is False
    assert d["meta"]["probes"]["judges_not_in_audit"] == []
    long_warnings = [w for w in rep.warnings if w.startswith("judge long")]
    # the observational length warning now says that padding moved this judge
    assert any("preferred the longer answer" in w and "Counterfactual check (pad probe)" in w
               and "moved this judge toward" in w for w in long_warnings), long_warnings
    assert not any("plain" in w and "pad probe" in w for w in rep.warnings), rep.warnings
    md = rep.to_markdown()
    assert "## Counterfactual probes" in md and "| long | pad |" in md
    assert "## Counterfactual probes" not in pj.audit(result).to_markdown()
    html = rep.to_html()
    assert 'id="probes"' in html and "Counterfactual probes" in html
    # the dict form of the report is accepted too
    assert pj.audit(result, probes=probes.to_dict()).to_dict()["judges"]["long"]["probes"] == d["judges"]["long"]["probes"]


def test_bad_probes_argument_is_an_input_error(judged):
    result, _ = judged
    from prefjudge.errors import InputError

    with pytest.raises(InputError, match="probes"):
        pj.audit(result, probes={"no": "judges"})


def test_a_jury_estimate_of_each_judges_accuracy_sits_beside_its_measured_agreement(judged):
    result, _ = judged
    table = result.judgments.copy()
    # human labels on the first 40 pairs (here: the plain judge's verdict shown in order ab)
    ref = table[(table["judge"] == "plain") & (table["order"] == "ab")].set_index("pair_id")["winner"]
    labelled = list(ref.index[:40])
    table["human"] = [ref[p] if p in labelled else None for p in table["pair_id"]]
    d = pj.audit(table, aggregate="dawid_skene_order").to_dict()
    check = {r["judge"]: r for r in d["jury"]["reliability_check"]}
    assert set(check) == {"long", "plain"}
    for r in check.values():
        assert 0 <= r["estimated_accuracy"] <= 1
    # the measured agreement is the audit's own human_agreement, over the labelled pairs' calls
    for name, r in check.items():
        assert r["n_labelled"] == 80
        assert r["human_agreement"] == pytest.approx(d["judges"][name]["human_agreement"]["value"])
    assert "measured agreement with the human labels" in pj.audit(table, aggregate="dawid_skene_order").to_markdown()
    assert pj.audit(table, aggregate="majority").to_dict()["jury"]["reliability_check"] is None
