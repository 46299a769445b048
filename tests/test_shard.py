"""Deterministic shards: disjoint parts whose union is the whole run, with the same requests."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest

import prefjudge as pj
from prefjudge.errors import InputError
from prefjudge.judging.shard import in_shard, parse_shard, shard_index
from prefjudge.testing import SimGenerator, SimJudge, SimServer, make_demo_pairs, make_demo_prompts

SIMS = [SimJudge(name="gpt-sim"), SimJudge(name="llama-sim", position_bias=0.3)]


def _keys(path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {k for (k,) in db.execute("SELECT key FROM calls")}


def _calls(table: pd.DataFrame) -> list[tuple]:
    return sorted(zip(table["pair_id"], table["judge"], table["order"], table["winner"]))


def test_shard_index_is_stable_and_checked():
    assert shard_index("pair-1", 7) == int.from_bytes(__import__("hashlib").sha256(b"pair-1").digest()[:8], "big") % 7
    assert parse_shard("2/5") == (2, 5) and parse_shard([0, 1]) == (0, 1)
    for bad in ((3, 3), (-1, 2), (1,), "1-2", (1.0, 2), (True, 2), (0, 0)):
        with pytest.raises(InputError, match="shard"):
            parse_shard(bad)
    ids = [f"p{i}" for i in range(400)]
    parts = [[x for x in ids if in_shard(x, (i, 4))] for i in range(4)]
    assert sorted(sum(parts, [])) == sorted(ids) and all(60 < len(p) < 140 for p in parts)


@pytest.mark.parametrize("out", [False, True])
def test_shards_are_disjoint_and_their_union_is_the_full_run(tmp_path, sim_world, out):
    rows = [{k: v for k, v in p.items() if not k.startswith("quality")} for p in make_demo_pairs(30, seed=8, world=sim_world)]
    with SimServer(judges=SIMS, world=sim_world) as server:
        judges = [pj.Judge(s.name, base_url=server.base_url, api_key="x") for s in SIMS]
        full = pj.rank_pairs(rows, judges, order="random", seed=4, store=tmp_path / "full.db", progress=False)
        parts = [pj.rank_pairs(iter(rows), judges, order="random", seed=4, store=tmp_path / f"s{i}.db", shard=(i, 3),
                               progress=False, out=tmp_path / f"out{i}" if out else None) for i in range(3)]
    ids = [set(p.pairs["id"]) for p in parts]
    assert all(ids[i].isdisjoint(ids[j]) for i in range(3) for j in range(i + 1, 3))
    assert set().union(*ids) == set(full.pairs["id"]) and all(ids)
    assert [p.meta["shard"] for p in parts] == [[0, 3], [1, 3], [2, 3]] and "shard" not in full.meta
    # the same calls, the same display orders, the same verdicts, the same outcomes
    assert _calls(pd.concat([p.judgments for p in parts])) == _calls(full.judgments)
    union = pd.concat([p.to_pandas() for p in parts]).set_index("id").sort_index()
    whole = full.to_pandas().set_index("id").sort_index()
    assert union[["winner", "p_a", "n_verdicts", "consistent"]].equals(whole[["winner", "p_a", "n_verdicts", "consistent"]])
    # the same request hashes: the stores together hold exactly the full run's calls
    keys = [_keys(tmp_path / f"s{i}.db") for i in range(3)]
    assert sum(len(k) for k in keys) == len(_keys(tmp_path / "full.db")) and set().union(*keys) == _keys(tmp_path / "full.db")


def test_rank_responses_and_generate_shard_by_prompt(tmp_path, sim_world):
    gens = [SimGenerator(name="gpt-sim-writer"), SimGenerator(name="llama-sim-writer")]
    prompts = make_demo_prompts(8)
    with SimServer(judges=SIMS[:1], generators=gens, world=sim_world) as server:
        writers = [pj.Generator(g.name, base_url=server.base_url, api_key="x") for g in gens]
        judge = pj.Judge("gpt-sim", base_url=server.base_url, api_key="x")
        cands = pj.generate(prompts, writers, n=2, store=tmp_path / "g.db", progress=False)
        halves = [pj.generate(prompts, writers, n=2, store=tmp_path / "g.db", shard=(i, 2), progress=False) for i in range(2)]
        assert pd.concat(halves).sort_values(["prompt_id", "model", "sample"]).reset_index(drop=True)[["prompt_id", "response"]] \
            .equals(cands.sort_values(["prompt_id", "model", "sample"]).reset_index(drop=True)[["prompt_id", "response"]])
        assert halves[0].attrs["shard"] == [0, 2] and set(halves[0]["prompt_id"]).isdisjoint(halves[1]["prompt_id"])
        full = pj.rank_responses(cands, judge, store=tmp_path / "r.db", progress=False)
        made = server.count_ok()
        parts = [pj.rank_responses(cands, judge, store=tmp_path / "r.db", shard=(i, 2), progress=False) for i in range(2)]
        assert server.count_ok() == made  # every comparison of the shards was one of the full run's
    sel = pd.concat([p.selections for p in parts]).set_index("prompt_id").sort_index()
    assert sel.equals(full.selections.set_index("prompt_id").sort_index())
    assert sorted(sum((list(p.pairs["id"]) for p in parts), [])) == sorted(full.pairs["id"])
    assert parts[1].meta["shard"] == [1, 2]
