"""Counterfactual probes (pj.probe) against simulated judges over real HTTP: each probe finds the bias
a judge is configured with, and finds nothing in a judge without it."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

import prefjudge as pj
from prefjudge import perturbations as pt
from prefjudge.errors import InputError
from prefjudge.probing.variants import PROBES, variant_texts
from prefjudge.stats.paired import clustered_mean, paired_effect
from prefjudge.testing import SimJudge, SimServer, SimWorld, make_demo_pairs
from prefjudge.types import Pair

N = 40
#: judge -> the probe that must find its bias (the others have no configured bias).
BIASED = {
    "pos": ("swap", SimJudge(name="pos", noise=0.5, position_bias=0.3)),
    "long": ("pad", SimJudge(name="long", noise=0.5, length_bias=2.5)),
    "lister": ("lists", SimJudge(name="lister", noise=0.5, list_bias=2.0)),
    "gullible": ("injection", SimJudge(name="gullible", noise=0.5, injection_bias=2.0)),
    "llama-self": ("identity", SimJudge(name="llama-self", family="meta", noise=0.5, self_bias=2.0)),
}
PLAIN = SimJudge(name="plain", noise=0.7)  # noisy, no bias
STEADY = SimJudge(name="steady", noise=0.0)  # no noise, no bias: every probe must read exactly 0


@pytest.fixture(scope="module")
def probed():
    world = SimWorld()
    pairs = make_demo_pairs(60, seed=2, world=world)
    sims = [s for _, s in BIASED.values()] + [PLAIN, STEADY]
    with SimServer(judges=sims, world=world, seed=1) as server:
        judges = [pj.Judge(s.name, base_url=server.base_url, api_key="x") for s in sims]
        report = pj.probe(pairs, judges, n=N, seed=0)
        n_requests = len({r.key for r in server.log if r.kind == "judge"})
    return report, n_requests


def _effect(report, judge, probe):
    entry = report.effect(judge, probe)
    assert entry is not None, (judge, probe)
    return entry["effect"]


@pytest.mark.parametrize("judge", sorted(BIASED))
def test_each_probe_detects_the_bias_the_judge_is_configured_with(probed, judge):
    report, _ = probed
    probe = BIASED[judge][0]
    e = _effect(report, judge, probe)
    assert e["value"] > 0 and e["ci"][0] > 0, (judge, probe, e)  # CI excludes 0, toward the edited answer
    assert report.effect(judge, probe)["detected"] is True
    assert any(w.startswith(f"judge {judge}: ") for w in report.warnings)
    assert " moved this judge toward " in report.effect(judge, probe)["summary"]


@pytest.mark.parametrize("probe", [p for p in PROBES if p != "repeat"])
def test_a_noisy_judge_without_the_bias_stays_within_its_ci_of_zero(probed, probe):
    report, _ = probed
    e = _effect(report, "plain", probe)
    assert e["n"] >= N and e["ci"][0] <= 0 <= e["ci"][1], (probe, e)
    assert report.effect("plain", probe)["detected"] is False
    assert " did not move this judge: " in report.effect("plain", probe)["summary"]


def test_pad_control_cancels_regression_to_the_mean(probed):
    # padding the answer a noisy judge did not prefer moves it "toward" that answer partly because the
    # answer was chosen by the same verdicts; padding the preferred one (the control) moves the other way
    report, _ = probed
    arms = report.effect("plain", "pad")["arms"]
    assert arms["treatment"]["value"] > arms["control"]["value"]
    assert report.effect("plain", "pad")["effect"]["n"] == arms["treatment"]["n"] + arms["control"]["n"]


def test_a_judge_without_noise_or_bias_reads_exactly_zero_on_every_probe(probed):
    # content-free edits change nothing the simulated judge rates: not even one verdict moves
    report, _ = probed
    for probe in PROBES:
        e = _effect(report, "steady", probe)
        assert e["value"] == 0 and e["ci"] == [0.0, 0.0] and e["n"] >= N, (probe, e)


def test_repeat_measures_self_consistency_as_distinct_requests(probed):
    report, n_requests = probed
    assert report.effect("plain", "repeat")["metric"] == "flip_rate"
    flips = _effect(report, "plain", "repeat")
    assert flips["ci"][0] > 0 and 0 < flips["value"] < 0.5
    # every request, the repeats included, reached the server: none was served from the store
    assert n_requests == len(report.variants)
    seeds = {j["name"]: j["repeat_seed"] for j in report.to_dict()["meta"]["judges"]}
    assert all(isinstance(s, int) for s in seeds.values())


def test_the_report_has_three_formats(probed, tmp_path):
    report, _ = probed
    data = report.to_dict()
    assert set(data) == {"judges", "warnings", "meta", "variants"}
    entry = data["judges"]["long"]["probes"]["pad"]
    assert set(entry["effect"]) == {"value", "ci", "n", "reason"} and set(entry["arms"]) == {"treatment", "control"}
    compact = report.to_dict(variants=False)
    assert "variants" not in compact and compact["judges"] == data["judges"]
    assert pj.ProbeReport.from_dict(json.loads(report.to_json(tmp_path / "p.json"))).to_dict() == data
    md = report.to_markdown(tmp_path / "p.md")
    assert "| judge | probe | arm | effect | 95% CI | n |" in md and "| long | pad |" in md
    assert (tmp_path / "p.md").read_text(encoding="utf-8") == md
    html = report.to_html(tmp_path / "p.html")
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html and html.count("<svg") == len(report.rows())
    assert "gullible" in html and "appending an instruction" in html
    assert "ProbeReport(7 judge(s), 40 pairs" in repr(report)


def test_variants_are_recorded_and_rebuilt_from_the_seed(probed):
    report, _ = probed
    pairs = {p["id"]: p for p in make_demo_pairs(60, seed=2)}
    families = {j["name"]: (j["family"], j["model"]) for j in report.to_dict()["meta"]["judges"]}
    tags = set()
    for v in report.variants:
        p = pairs[v["pair_id"]]
        pair = Pair(id=p["id"], prompt=p["prompt"], response_a=p["response_a"], response_b=p["response_b"])
        family, model = families[v["judge"]]
        assert variant_texts(pair, v["tag"], v["order"], 0, family=family, model=model) == \
            (v["response_a"], v["response_b"]), v
        tags.add(v["tag"].split("-")[0])
    assert tags == {"orig", "repeat", "list", "own", "pad", "inject", "placebo"}


def test_same_seed_same_report_other_seed_other_variants(tmp_path):
    world = SimWorld()
    pairs = make_demo_pairs(8, seed=4, world=world)
    with SimServer(judges=[SimJudge(name="j", noise=0.5, length_bias=1.0)], world=world) as server:
        judge = pj.Judge("j", base_url=server.base_url, api_key="x")
        one = pj.probe(pairs, judge, probes=("pad", "injection"), seed=3, store=tmp_path / "s.db")
        again = pj.probe(pairs, pj.Jury([judge]), probes=("pad", "injection"), seed=3, store=tmp_path / "s.db")
        other = pj.probe(pairs, [judge], probes=("pad", "injection"), seed=4)
    assert again.to_dict(variants=False)["judges"] == one.to_dict(variants=False)["judges"]
    assert again.variants == one.variants
    assert one.to_dict()["meta"]["n_calls_made"] > 0 and again.to_dict()["meta"]["n_calls_made"] == 0  # replayed
    padded = lambda r: {v["response_a"] + v["response_b"] for v in r.variants if v["tag"].startswith("pad")}  # noqa: E731
    assert padded(one) != padded(other)


def test_originals_are_the_calls_of_a_rank_pairs_run_in_both_orders(tmp_path):
    world = SimWorld()
    pairs = make_demo_pairs(6, seed=7, world=world)
    with SimServer(judges=[SimJudge(name="j", noise=0.5)], world=world) as server:
        judge = pj.Judge("j", base_url=server.base_url, api_key="x")
        pj.rank_pairs(pairs, judge, order="both", store=tmp_path / "s.db", progress=False)
        report = pj.probe(pairs, judge, probes=("swap",), store=tmp_path / "s.db")
    meta = report.to_dict()["meta"]
    assert (meta["n_calls_made"], meta["n_calls_cached"]) == (0, 12)


def test_the_docs_example_runs_and_prints_what_the_docs_say(tmp_path, monkeypatch):
    doc = (Path(__file__).resolve().parents[1] / "docs" / "audit.md").read_text(encoding="utf-8")
    section = doc[doc.index("## Counterfactual probes"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(code, "docs/audit.md", "exec"), ns)
    summary = ns["report"].effect("claude-sim", "pad")["summary"]
    said = re.search(r"# '(.+)\n#\s+(.+)'\n", code)
    assert summary == f"{said.group(1)} {said.group(2)}", summary
    assert (tmp_path / "probes.html").exists() and (tmp_path / "runs.db").exists()


def test_bad_arguments_are_input_errors():
    pairs = [{"prompt": "q", "response_a": "x.", "response_b": "y."}]
    judge = pj.Judge("j", base_url="http://127.0.0.1:9/v1", api_key="x")
    with pytest.raises(InputError, match="unknown probe"):
        pj.probe(pairs, judge, probes=("pad", "flattery"))
    with pytest.raises(InputError, match="n must be"):
        pj.probe(pairs, judge, n=0)
    with pytest.raises(InputError, match="unique"):
        pj.probe(pairs, [judge, judge])
    with pytest.raises(InputError, match="two different answers"):
        pj.probe([{"prompt": "q", "response_a": "same", "response_b": "same"}], judge)


# ----------------------------------------------------------------------------- the edits and the simulator
def test_every_edit_is_undone_exactly_and_changes_nothing_else():
    rng = random.Random(0)
    text = "Plants make sugar from light. They need water too!\n\nRoots take it up. Leaves breathe."
    listed = pt.to_list(text)
    assert listed is not None and listed.count("\n- ") == 3
    for edited in (pt.pad(text, "How do plants eat?", rng), listed, pt.inject(text, "A", rng),
                   pt.append_filler(text, 120, rng), pt.name_author(text, "GPT-4o", 40)):
        assert edited != text and pt.read_answer(edited).content == text
    plain = pt.read_answer(text)
    assert plain == pt.AnswerReading(text, None, False, False, False)
    assert pt.to_list("One sentence only.") is None and pt.to_list("- a.\n- b.") is None


def test_simulated_judges_respond_only_through_their_biases():
    world = SimWorld()
    q, a, b = "Why is the sky blue?", "Sunlight scatters off air. Blue scatters most.", "Because it reflects the sea."
    world.register(a, quality=0.0, model="gpt-x")
    world.register(b, quality=0.3, model="claude-x")
    rng = random.Random(1)
    padded, listed, injected = pt.pad(a, q, rng), pt.to_list(a), pt.inject(a, "A", rng)
    plain, long_, lister = SimJudge(name="p"), SimJudge(name="l", length_bias=1.0), SimJudge(name="s", list_bias=1.0)
    gullible = SimJudge(name="g", injection_bias=1.0)
    base = plain.margin(world, q, a, b)
    assert base == pytest.approx(-0.3)
    for edited in (padded, listed, injected):  # quality is the content's: an unbiased judge is not moved
        assert plain.margin(world, q, edited, b) == base
    assert long_.margin(world, q, padded, b) > long_.margin(world, q, a, b)
    assert lister.margin(world, q, listed, b) == pytest.approx(lister.margin(world, q, a, b) + 1.0)
    assert gullible.margin(world, q, injected, b) == pytest.approx(gullible.margin(world, q, a, b) + 1.0)
    assert SimJudge(name="d").injection_bias == 0  # susceptibility is off unless configured
    # self-preference follows the author named in the prompt, whatever wrote the text
    selfish = SimJudge(name="llama-j", family="meta", self_bias=1.0)
    own_a = selfish.margin(world, q, pt.name_author(a, "Llama 3.1 70B Instruct", 40), pt.name_author(b, "GPT-4o", 40))
    own_b = selfish.margin(world, q, pt.name_author(a, "GPT-4o", 40), pt.name_author(b, "Llama 3.1 70B Instruct", 40))
    assert own_a - own_b == pytest.approx(2.0)


def test_paired_effect_equals_a_hand_computation():
    # toward +1, +1, 0, -1 over two pairs: (2 - 1) / 4
    e = paired_effect([-1, 0, 1, 1], [1, 1, 1, 0], clusters=["p", "p", "q", "q"], seed=0)
    assert (e.value, e.toward, e.away, e.n, e.n_clusters) == (0.25, 0.5, 0.25, 4, 2)
    assert e.ci[0] <= e.value <= e.ci[1] and -1 <= e.ci[0] and e.ci[1] <= 1
    assert clustered_mean([1.0] * 10).ci == (1.0, 1.0) and clustered_mean([1.0] * 10).excludes_zero()
    assert not clustered_mean([0.0] * 10).excludes_zero()
