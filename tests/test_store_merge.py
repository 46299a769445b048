"""`prefjudge store merge`: the stores of a split run merge into one that equals the single run.

Over real loopback HTTP with the simulated judges; every store is a real SQLite file.
"""

from __future__ import annotations

import sqlite3

import pytest
from typer.testing import CliRunner

import prefjudge as pj
from prefjudge.cli import app
from prefjudge.errors import StoreError
from prefjudge.judging.store import Store
from prefjudge.judging.store_merge import merge_stores
from prefjudge.testing import SimJudge, SimServer, make_demo_pairs

SIMS = [SimJudge(name="gpt-sim", noise=1.0, position_bias=0.3), SimJudge(name="llama-sim", noise=1.5)]


def _judges(server):
    return [pj.Judge(s.name, base_url=server.base_url, api_key="x") for s in SIMS]


def test_two_halves_merged_replay_the_whole_run_without_a_call(tmp_path, sim_world):
    pairs = make_demo_pairs(24, seed=5, world=sim_world)
    with SimServer(judges=SIMS, world=sim_world) as server:
        whole = pj.rank_pairs(pairs, _judges(server), order="both", seed=1, store=tmp_path / "whole.db", progress=False)
        pj.rank_pairs(pairs[:10], _judges(server), order="both", seed=1, store=tmp_path / "s0.db", progress=False)
        pj.rank_pairs(pairs[10:], _judges(server), order="both", seed=1, store=tmp_path / "s1.db", progress=False)
        report = merge_stores([tmp_path / "s0.db", tmp_path / "s1.db"], tmp_path / "all.db")
        assert report.calls == Store(tmp_path / "whole.db").count() == 24 * 2 * 2
        assert report.added == {str(tmp_path / "s0.db"): 40, str(tmp_path / "s1.db"): 56}
        assert report.conflicts == [] and report.duplicates == 0
        server.clear_log()
        replay = pj.rank_pairs(pairs, _judges(server), order="both", seed=1, store=tmp_path / "all.db", progress=False)
        assert server.count_ok() == 0, "the merged store answers every call of the whole run"
    assert replay.meta["n_calls_made"] == 0
    assert replay.outcomes["winner"].tolist() == whole.outcomes["winner"].tolist()
    cols = ["pair_id", "judge", "order", "winner", "raw"]
    assert replay.judgments[cols].equals(whole.judgments[cols])


def test_same_answer_is_no_conflict_and_a_different_answer_is_reported_first_store_wins(tmp_path, sim_world):
    pairs = make_demo_pairs(4, seed=2, world=sim_world)
    with SimServer(judges=SIMS[:1], world=sim_world) as server:
        judge = pj.Judge("gpt-sim", base_url=server.base_url, api_key="x")
        pj.rank_pairs(pairs, judge, order="fixed", store=tmp_path / "a.db", progress=False)
        pj.rank_pairs(pairs, judge, order="fixed", store=tmp_path / "b.db", progress=False)
    key = next(Store(tmp_path / "b.db").rows())["key"]
    db = sqlite3.connect(tmp_path / "b.db")
    db.execute("UPDATE calls SET text = ? WHERE key = ?", ("[[B]] edited by hand", key))
    db.commit()
    db.close()
    report = merge_stores([tmp_path / "a.db", tmp_path / "b.db"], tmp_path / "all.db")
    assert report.calls == 4 and report.duplicates == 3
    assert [c.key for c in report.conflicts] == [key]
    assert report.conflicts[0].dropped == "[[B]] edited by hand" and report.conflicts[0].other == str(tmp_path / "b.db")
    assert Store(tmp_path / "all.db").row(key)["text"] == Store(tmp_path / "a.db").row(key)["text"]


def test_merge_refuses_a_missing_store_a_repeated_one_and_the_output_as_a_source(tmp_path):
    Store(tmp_path / "a.db").close()
    with pytest.raises(StoreError, match="no such store file"):
        merge_stores([tmp_path / "a.db", tmp_path / "nope.db"], tmp_path / "all.db")
    with pytest.raises(StoreError, match="given twice"):
        merge_stores([tmp_path / "a.db", tmp_path / "." / "a.db"], tmp_path / "all.db")
    with pytest.raises(StoreError, match="also a source"):
        merge_stores([tmp_path / "a.db"], tmp_path / "a.db")
    (tmp_path / "notes.db").write_text("not a store")
    with pytest.raises(StoreError, match="not a prefjudge store"):
        merge_stores([tmp_path / "notes.db"], tmp_path / "all.db")


def test_cli_store_merge_prints_the_summary_and_strict_fails_on_a_conflict(tmp_path, sim_world):
    pairs = make_demo_pairs(3, seed=4, world=sim_world)
    with SimServer(judges=SIMS[:1], world=sim_world) as server:
        judge = pj.Judge("gpt-sim", base_url=server.base_url, api_key="x")
        for name in ("a.db", "b.db"):
            pj.rank_pairs(pairs, judge, order="fixed", store=tmp_path / name, progress=False)
    runner = CliRunner()
    res = runner.invoke(app, ["store", "merge", str(tmp_path / "a.db"), str(tmp_path / "b.db"), "-o", str(tmp_path / "m.db")])
    assert res.exit_code == 0, res.output
    assert "3 calls in" in res.output and "3 duplicate(s)" in res.output and "0 conflict(s)" in res.output
    db = sqlite3.connect(tmp_path / "b.db")
    db.execute("UPDATE calls SET text = 'changed'")
    db.commit()
    db.close()
    res = runner.invoke(app, ["store", "merge", str(tmp_path / "a.db"), str(tmp_path / "b.db"), "-o", str(tmp_path / "n.db"), "--strict"])
    assert res.exit_code == 1 and "3 conflict(s)" in res.output
    res = runner.invoke(app, ["store", "merge", str(tmp_path / "missing.db"), "-o", str(tmp_path / "x.db")])
    assert res.exit_code == 2 and "no such store file" in res.output
