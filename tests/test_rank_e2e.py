"""rank_pairs end to end over real loopback HTTP against the simulated judge server."""

from __future__ import annotations

import asyncio
import json

import pandas as pd
import pytest

import prefjudge as pj
from prefjudge.judgments import normalize_judgments, read_judgments_file, write_judgments
from prefjudge.testing import SimJudge, SimServer

DISPLAY_TO_WINNER = {("ab", "first"): "a", ("ab", "second"): "b", ("ba", "first"): "b", ("ba", "second"): "a"}


def _judges(server, names, **kw):
    return [pj.Judge(n, base_url=server.base_url, api_key="x", **kw) for n in names]


@pytest.mark.parametrize("order", ["random", "both", "fixed"])
def test_winners_match_what_the_server_saw(order, sim_world, demo_pairs):
    sims = [SimJudge(name="gpt-sim", noise=1.0, tie_margin=0.2), SimJudge(name="llama-sim", noise=1.5, position_bias=0.3)]
    with SimServer(judges=sims, world=sim_world) as server:
        result = pj.rank_pairs(demo_pairs, judges=_judges(server, ["gpt-sim", "llama-sim"]), order=order, seed=1)
        log = [r for r in server.log if r.kind == "judge" and r.status == 200]
    j = result.judgments
    per_pair = {"random": 1, "both": 2, "fixed": 1}[order]
    assert len(j) == len(demo_pairs) * 2 * per_pair == len(log)
    seen = {(r.model, r.first, r.second): r for r in log}
    for row in j.itertuples():
        shown = (row.response_a, row.response_b) if row.order == "ab" else (row.response_b, row.response_a)
        rec = seen[(row.judge, *shown)]  # the server saw exactly this display order
        expected = "tie" if rec.verdict == "tie" else DISPLAY_TO_WINNER[(row.order, rec.verdict)]
        assert row.winner == expected
    if order == "fixed":
        assert set(j["order"]) == {"ab"}
    if order == "both":
        assert (j.groupby(["pair_id", "judge"])["order"].nunique() == 2).all()
        df = result.to_pandas()
        both = j.pivot_table(index=["pair_id", "judge"], columns="order", values="winner", aggfunc="first")
        same = (both["ab"] == both["ba"]).groupby(level="pair_id").all()
        assert df.set_index("id")["consistent"].astype(bool).to_dict() == same.to_dict()


def test_random_orders_are_recorded_reproducible_and_balanced(sim_world):
    from prefjudge.testing import make_demo_pairs

    pairs = make_demo_pairs(400, seed=5, world=sim_world)
    with SimServer(judges=[SimJudge(name="gpt-sim")], world=sim_world) as server:
        judges = _judges(server, ["gpt-sim"])
        r1 = pj.rank_pairs(pairs, judges=judges, order="random", seed=11)
        r2 = pj.rank_pairs(pairs, judges=judges, order="random", seed=11)
        r3 = pj.rank_pairs(pairs, judges=judges, order="random", seed=12)
    assert r1.judgments["order"].tolist() == r2.judgments["order"].tolist()
    assert r1.judgments["order"].tolist() != r3.judgments["order"].tolist()
    assert 0.42 < (r1.judgments["order"] == "ab").mean() < 0.58  # sd 0.025 at n=400


def test_soft_modes_and_per_pair_result_columns(sim_world, demo_pairs):
    sims = [SimJudge(name="gpt-sim", noise=0.8), SimJudge(name="claude-sim", noise=0.8)]
    with SimServer(judges=sims, world=sim_world) as server:
        judges = [pj.Judge("gpt-sim", base_url=server.base_url, api_key="x", template="pairwise_logprob"),
                  pj.Judge("claude-sim", base_url=server.base_url, api_key="x", template="pairwise_json")]
        result = pj.rank_pairs(demo_pairs, judges=judges, order="random", seed=0)
    j = result.judgments.set_index("judge")
    soft = j.loc["gpt-sim"]
    assert soft["p_a"].between(0, 1).all() and soft["p_a"].nunique() > 10
    assert ((soft["p_a"] > 0.5) == (soft["winner"] == "a")).all()
    assert j.loc["claude-sim", "winner"].isin(["a", "b", "tie"]).all()
    df = result.to_pandas()
    from prefjudge.types import RESULT_COLUMNS

    assert list(df.columns[: len(RESULT_COLUMNS)]) == list(RESULT_COLUMNS)
    decided = df[df["winner"].isin(["a", "b"])]
    assert (decided["chosen"] == decided.apply(lambda r: r["response_" + r["winner"]], axis=1)).all()
    assert df["n_verdicts"].eq(2).all() and df["n_failed"].eq(0).all()
    ds = result.to_dataset()
    assert ds.num_rows == len(demo_pairs)


def test_faults_every_pair_accounted_for(sim_world, demo_pairs):
    from prefjudge.testing import FaultPlan

    sims = [
        SimJudge(name="gpt-sim", faults=FaultPlan(rate_429=0.2, retry_after_s=0.01, rate_500=0.2, rate_garbled=0.2)),
        SimJudge(name="claude-sim", faults=FaultPlan(rate_hang=0.15, hang_s=2.0)),
        SimJudge(name="llama-sim", faults=FaultPlan(fail_first_n=10)),
    ]
    with SimServer(judges=sims, world=sim_world) as server:
        judges = [
            pj.Judge("gpt-sim", base_url=server.base_url, api_key="x", max_retries=4, retry_wait_s=0.01),
            pj.Judge("claude-sim", base_url=server.base_url, api_key="x", timeout=0.5, max_retries=3, retry_wait_s=0.01),
            pj.Judge("llama-sim", base_url=server.base_url, api_key="x", max_retries=2, retry_wait_s=0.01),
        ]
        result = pj.rank_pairs(demo_pairs, judges=judges, order="random", seed=0)
        statuses = pd.Series([str(r.status) for r in server.log]).value_counts().to_dict()
    j = result.judgments
    assert len(j) == 3 * len(demo_pairs)
    assert statuses.get("429", 0) > 0 and statuses.get("500", 0) > 0 and statuses.get("hang", 0) > 0
    by = j.groupby("judge")
    # transient faults were retried away; garbled answers were re-asked and mostly recovered
    assert by.get_group("gpt-sim")["winner"].notna().mean() > 0.9
    assert by.get_group("claude-sim")["winner"].notna().mean() > 0.95
    assert j.loc[j["raw"].fillna("").str.contains(r"\[re-ask\]"), "winner"].notna().any()
    # a judge whose every call fails gives typed failures, and the run goes on
    llama = by.get_group("llama-sim")
    assert llama["winner"].isna().all() and llama["error"].str.contains("after 3 attempt").all()
    failed = j[j["winner"].isna()]
    assert failed["error"].map(lambda e: isinstance(e, str) and len(e) > 0).all()
    assert failed["p_a"].isna().all()  # no sentinel values
    df = result.to_pandas()
    assert len(df) == len(demo_pairs) and (df["n_verdicts"] + df["n_failed"]).eq(3).all()


def test_notebook_style_running_loop(sim_world, demo_pairs):
    with SimServer(judges=[SimJudge(name="gpt-sim")], world=sim_world) as server:
        judges = _judges(server, ["gpt-sim"])

        async def inside_a_loop():
            sync = pj.rank_pairs(demo_pairs[:5], judges=judges)  # sync facade inside a running loop
            native = await pj.arank_pairs(demo_pairs[:5], judges=judges)
            return sync, native

        sync, native = asyncio.run(inside_a_loop())
    assert sync.to_pandas()["winner"].tolist() == native.to_pandas()["winner"].tolist()


def test_backends_litellm_and_secrets_stay_out(tmp_path, sim_world, demo_pairs):
    secret = "sk-SECRET-abc123"
    with SimServer(judges=[SimJudge(name="gpt-sim")], world=sim_world) as server:
        judges = [pj.Judge("openai/gpt-sim", backend="litellm", base_url=server.base_url, api_key=secret, name="via-litellm"),
                  pj.Judge("gpt-sim", base_url=server.base_url, api_key=secret, name="via-openai")]
        result = pj.rank_pairs(demo_pairs[:20], judges=judges, order="fixed", store=tmp_path / "s.db")
        models = {r.model for r in server.log}
    assert models == {"gpt-sim"}
    j = result.judgments.set_index(["pair_id", "judge"])["winner"].unstack()
    assert (j["via-litellm"] == j["via-openai"]).all()  # same server, same deterministic judge
    out = tmp_path / "j.jsonl"
    write_judgments(result.judgments, out)
    for path in (tmp_path / "s.db", out):
        assert secret.encode() not in path.read_bytes()
    assert secret not in json.dumps(result.meta)


def test_judgments_table_roundtrips(tmp_path, sim_world, demo_pairs):
    with SimServer(judges=[SimJudge(name="gpt-sim")], world=sim_world) as server:
        result = pj.rank_pairs(demo_pairs[:10], judges=_judges(server, ["gpt-sim"]), order="both")
    for suffix in ("jsonl", "parquet"):
        path = write_judgments(result.judgments, tmp_path / f"j.{suffix}")
        back = normalize_judgments(read_judgments_file(path))
        cols = ["pair_id", "judge", "judge_family", "order", "winner", "response_a", "model_a"]
        pd.testing.assert_frame_equal(back[cols], normalize_judgments(result.judgments)[cols])
    minimal = normalize_judgments([{"pair_id": 1, "judge": "claude-3-haiku", "winner": "a"}])
    assert minimal.loc[0, "judge_family"] == "anthropic" and minimal.loc[0, "order"] is None
    with pytest.raises(pj.InputError, match="row 1, field 'winner'"):
        normalize_judgments([{"pair_id": 1, "judge": "j", "winner": "a"}, {"pair_id": 2, "judge": "j", "winner": 2}])
    with pytest.raises(pj.InputError, match="required column"):
        normalize_judgments([{"pair_id": 1, "winner": "a"}])


def test_identical_responses_flagged_not_sent(sim_world):
    pairs = [{"prompt": "q", "response_a": "same text", "response_b": "same text"},
             {"prompt": "q", "response_a": "one text", "response_b": "another"}]
    with SimServer(judges=[SimJudge(name="gpt-sim")], world=sim_world) as server:
        result = pj.rank_pairs(pairs, judges=_judges(server, ["gpt-sim"]))
        assert len(server.log) == 1
    df = result.to_pandas()
    assert df.loc[0, "winner"] is None and "identical" in df.loc[0, "reason"]
    assert df.loc[1, "winner"] in ("a", "b", "tie")


def test_bad_input_fails_before_any_call(sim_world):
    with SimServer(judges=[SimJudge(name="gpt-sim")], world=sim_world) as server:
        good = {"prompt": "q", "response_a": "x", "response_b": "y"}
        with pytest.raises(pj.InputError, match="row 2, field 'response_a'"):
            pj.rank_pairs([good, good | {"id": "2"}, {"prompt": "q", "response_a": None, "response_b": "y"}],
                          judges=_judges(server, ["gpt-sim"]))
        with pytest.raises(pj.InputError, match="order"):
            pj.rank_pairs([good], judges=_judges(server, ["gpt-sim"]), order="sometimes")
        assert server.log == []
