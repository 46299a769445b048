"""Reward models: tiny local models whose scores follow a known rule, as raters in ``rate``, as pairwise
scorers (sigmoid of the reward difference), and a PairRM-style model reading both answers at once."""

from __future__ import annotations

import math

import pandas as pd
import pytest

import prefjudge as pj
from prefjudge.backends.reward import JointPairRM, PairwiseRewardModel, reward_judgments
from prefjudge.errors import ConfigError
from prefjudge.testing import SimJudge, SimServer, SimWorld
from prefjudge.testing.tiny_reward import GOOD, build_tiny_reward_model, pointwise_reward
from prefjudge.types import JUDGMENT_COLUMNS, Pair

TEXTS = ["A plain answer.", f"A {GOOD} answer.", f"{GOOD} {GOOD} {GOOD} yes", f"ends with {GOOD}",
         "a long answer without the marker " * 8 + GOOD]


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("rm")
    return build_tiny_reward_model(root / "point"), build_tiny_reward_model(root / "pair", kind="pairwise")


def _rule(rm: pj.RewardModel, prompt: str, response: str) -> float:
    """The known rule, from the tokens the model reads."""
    _, tok = rm._model.load()
    ids = tok(rm.input_text(prompt, response), add_special_tokens=False)["input_ids"]
    good = tok.convert_tokens_to_ids(GOOD)
    return pointwise_reward(ids.count(good), len(ids), ids[-1] == good)


def test_tiny_reward_model_scores_follow_its_rule(paths):
    rm = pj.RewardModel(paths[0], name="tiny-rm", batch_size=2)
    scores = rm.score(["Why?"] * len(TEXTS), TEXTS)
    assert scores == pytest.approx([_rule(rm, "Why?", t) for t in TEXTS], abs=1e-4)
    assert scores[0] == pytest.approx(0.0, abs=1e-6) and scores[2] > scores[1] > scores[0]
    assert scores == pytest.approx(pj.RewardModel(paths[0], batch_size=5).score(["Why?"] * 5, TEXTS), abs=1e-5)  # padding
    # the chat template is applied: the model reads the ChatML turns, not the bare texts
    assert rm.input_text("Why?", "x").startswith("<|im_start|>")
    assert build_tiny_reward_model(paths[0]) == paths[0]  # built once, reused


def test_prefer_is_the_sigmoid_of_the_reward_difference(paths):
    rm = pj.RewardModel(paths[0], name="tiny-rm")
    pair = Pair(id="p", prompt="Why?", response_a=TEXTS[0], response_b=TEXTS[2], model_a="m1", model_b="m2")
    a, b = rm.score(["Why?", "Why?"], [TEXTS[0], TEXTS[2]])
    assert rm.prefer(pair) == pytest.approx(1 / (1 + math.exp(-(a - b)))) and rm.prefer(pair) < 0.5
    rows = rm.judgments([pair, pair.model_copy(update={"id": "q", "response_a": TEXTS[2], "response_b": TEXTS[0]})])
    assert [set(r) for r in rows] == [set(JUDGMENT_COLUMNS) | {"cached"}] * 2
    assert [(r["order"], r["winner"], r["judge"]) for r in rows] == [("ab", "b", "tiny-rm"), ("ab", "a", "tiny-rm")]
    assert rows[0]["p_a"] == pytest.approx(1 - rows[1]["p_a"]) and rows[0]["raw"].startswith("reward_a=")
    out = pj.aggregate(pd.DataFrame(rows), aggregate="mean")  # judgments rows any aggregator reads
    assert out.outcomes.loc["q", "winner"] == "a" and out.outcomes.loc["p", "p_a"] == pytest.approx(rows[0]["p_a"])


def test_pairwise_reward_model_reads_both_answers_in_one_pass(paths):
    prm = JointPairRM(paths[1], name="tiny-pairrm")
    assert isinstance(prm, PairwiseRewardModel)
    cases = [(f"x {GOOD}", "y"), ("y", f"x {GOOD}"), (f"{GOOD} {GOOD}", GOOD), ("long text " * 30, f"{GOOD} short"),
             (GOOD, GOOD)]
    pairs = [Pair(id=str(i), prompt="Q?", response_a=a, response_b=b) for i, (a, b) in enumerate(cases)]
    p = prm.compare(pairs)
    assert [x > 0.5 for x in p[:4]] == [True, False, True, False]
    assert p[4] == pytest.approx(0.5, abs=1e-3)  # as many markers on both sides
    _, tok = prm._model.load()
    for pair, pa in zip(pairs, p):  # logit ~ 10 x (markers in a - markers in b) / tokens
        n = len(tok(prm.input_text(pair))["input_ids"])
        want = 10 * (pair.response_a.count(GOOD) - pair.response_b.count(GOOD)) / n
        assert math.log(pa / (1 - pa)) == pytest.approx(want, abs=0.05)
    both = JointPairRM(paths[1], both_orders=True).compare(pairs)
    assert both[0] == pytest.approx(1 - both[1], abs=1e-3)
    rows = reward_judgments(prm, pairs)
    assert [r["winner"] for r in rows[:4]] == ["a", "b", "a", "b"] and rows[0]["raw"].startswith("logit_ab=")


def test_reward_model_in_rate(paths, tmp_path):
    rm = pj.RewardModel(paths[0], name="tiny-rm")
    rows = [{"prompt": "Why?", "response": t, "model": f"m{k}"} for k, t in enumerate(TEXTS)]
    res = pj.rate(rows, rm, progress=False)
    assert res.ratings["kind"].eq("reward").all() and res.meta["judges"][0]["kind"] == "reward"
    assert res.ratings["score"].tolist() == pytest.approx([_rule(rm, "Why?", t) for t in TEXTS], abs=1e-4)
    assert res.meta["score"] == "mean over judges" and res.ratings["raw"].str.startswith("reward=").all()
    prefs = pj.to_preferences(res)
    assert prefs[0]["chosen"] == TEXTS[2] and prefs[0]["rejected"] == TEXTS[0]
    # next to an LLM judge: different scales, so the per-answer score is the mean of z-scores
    world = SimWorld()
    for k, t in enumerate(TEXTS):
        world.register(t, quality=float(k))
    with SimServer(judges=[SimJudge(name="gpt-sim", noise=0.1)], world=world) as server:
        mixed = pj.rate(rows, [pj.Judge("gpt-sim", base_url=server.base_url, api_key="x"), rm],
                        store=tmp_path / "s.db", progress=False)
    assert set(mixed.ratings["kind"]) == {"llm", "reward"} and "z-scores" in mixed.meta["score"]
    assert abs(mixed.scores["score"].astype(float).mean()) < 1e-9
    audit = mixed.audit().to_dict()
    assert audit["judges"]["tiny-rm"]["kind"] == "reward" and audit["agreement"]["krippendorff_alpha"]["n_judges"] == 1


def test_reward_model_failures(paths, monkeypatch):
    with pytest.raises(ConfigError, match="cannot load local model"):
        pj.rate([{"prompt": "Q", "response": "A"}], pj.RewardModel("/no/such/rm"), progress=False)
    rm = pj.RewardModel(paths[0], name="tiny-rm")

    def broken(*args, **kwargs):
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr(rm, "score", broken)
    res = pj.rate([{"prompt": "Q", "response": "A"}, {"prompt": "Q", "response": "B"}], rm, progress=False)
    assert res.ratings["score"].isna().all() and res.ratings["error"].str.contains("out of memory").all()
    rows = rm.judgments([Pair(id="p", prompt="Q", response_a="A", response_b="B")])
    assert rows[0]["winner"] is None and "out of memory" in rows[0]["error"]


def test_reward_model_sits_in_a_jury_beside_llm_judges(paths, tmp_path):
    rm = pj.RewardModel(paths[0], name="tiny-rm")
    pairs = [{"id": f"p{i}", "prompt": "Which is better?", "response_a": a, "response_b": b}
             for i, (a, b) in enumerate([(f"A {GOOD} answer.", "A plain answer."), ("A plain answer.", f"{GOOD} {GOOD} yes"),
                                         (f"ends with {GOOD}", "nothing here")])]
    alone = pj.rank_pairs(pairs, rm, progress=False)
    assert alone.outcomes.loc["p0", "winner"] == "a" and alone.outcomes.loc["p1", "winner"] == "b"
    assert set(alone.judgments["order"]) == {"ab"} and alone.judgments["p_a"].notna().all()
    world = SimWorld()
    with SimServer(judges=[SimJudge(name="gpt-sim", noise=0.3)], world=world) as server:
        llm = pj.Judge("gpt-sim", base_url=server.base_url, api_key="x")
        mixed = pj.rank_pairs(pairs, [llm, rm], order="both", aggregate="mean", store=tmp_path / "s.db", progress=False)
        assert server.count_ok() == 6, "the LLM judge's calls only; the reward model runs locally"
    assert set(mixed.judgments["judge"]) == {"gpt-sim", "tiny-rm"}
    assert (mixed.judgments["judge"] == "tiny-rm").sum() == 3
    assert [m.get("kind") for m in mixed.meta["judges"]] == [None, "reward_model"]
    assert mixed.outcomes["winner"].notna().all()
    with pytest.raises(ConfigError, match="reward models as jurors"):
        pj.rank_pairs(pairs, [llm, rm], out=tmp_path / "o", progress=False)


def test_a_jury_object_holding_a_reward_model_keeps_its_settings(paths, tmp_path):
    """``pj.Jury([llm, rm], aggregate=..., quorum=...)``: the reward model is a juror like any other,
    and the Jury's rule and quorum decide (the same outcomes as the list with ``aggregate=``)."""
    rm = pj.RewardModel(paths[0], name="tiny-rm")
    pairs = [{"id": f"p{i}", "prompt": "Which is better?", "response_a": a, "response_b": b}
             for i, (a, b) in enumerate([(f"A {GOOD} answer.", "A plain answer."), ("A plain answer.", f"{GOOD} {GOOD} yes")])]
    with SimServer(judges=[SimJudge(name="gpt-sim", noise=0.3)], world=SimWorld()) as server:
        llm = pj.Judge("gpt-sim", base_url=server.base_url, api_key="x")
        listed = pj.rank_pairs(pairs, [llm, rm], aggregate="mean", store=tmp_path / "s.db", progress=False)
        jury = pj.rank_pairs(pairs, pj.Jury([llm, rm], aggregate="mean"), store=tmp_path / "s.db", progress=False)
        assert jury.meta["aggregate"] == "mean" and set(jury.judgments["judge"]) == {"gpt-sim", "tiny-rm"}
        pd.testing.assert_frame_equal(jury.outcomes, listed.outcomes)
        # quorum 3 of 2 jurors cannot be met: the Jury's own check; quorum 2 needs both verdicts
        with pytest.raises(ConfigError, match="quorum"):
            pj.Jury([llm, rm], quorum=3)
        strict = pj.rank_pairs(pairs, pj.Jury([llm, rm], aggregate="mean", quorum=2), store=tmp_path / "s.db",
                               progress=False)
        assert strict.outcomes["winner"].notna().all() and strict.meta["aggregate"] == "mean"
        # rank_responses keeps the Jury's rule too (each round through the same scorer path)
        cands = [{"prompt": "Which is better?", "response": r} for r in ("A plain answer.", f"A {GOOD} answer.",
                                                                         f"{GOOD} {GOOD} yes")]
        ranked = pj.rank_responses(cands, pj.Jury([llm, rm], aggregate="mean"), strategy="round_robin",
                                   store=tmp_path / "s.db", progress=False)
        assert ranked.meta["aggregate"] == "mean"
        assert set(ranked.judgments["judge"]) == {"gpt-sim", "tiny-rm"}
