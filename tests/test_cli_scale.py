"""`prefjudge rank` at scale: --shard, --max-calls, --stream-dir, over real HTTP to the simulator."""

from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

from prefjudge.cli import app
from prefjudge.judging.store import Store
from prefjudge.testing import SimJudge, SimServer, make_demo_pairs


def _write(tmp_path, world, n=12):
    path = tmp_path / "pairs.jsonl"
    rows = [{k: v for k, v in p.items() if not k.startswith("quality")} for p in make_demo_pairs(n, seed=3, world=world)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_shards_split_the_pairs_and_their_merged_stores_equal_the_whole_run(tmp_path, sim_world):
    pairs = _write(tmp_path, sim_world)
    runner = CliRunner()
    with SimServer(judges=[SimJudge(name="gpt-sim")], world=sim_world) as server:
        base = ["rank", str(pairs), "--judge", "gpt-sim", "--base-url", server.base_url, "--order", "both"]
        for i in range(3):
            res = runner.invoke(app, [*base, "--shard", f"{i}/3", "--store", str(tmp_path / f"s{i}.db"),
                                      "--out", str(tmp_path / f"r{i}.parquet")], env={"OPENAI_API_KEY": "x"})
            assert res.exit_code == 0, res.output
        sizes = [len(pd.read_parquet(tmp_path / f"r{i}.parquet")) for i in range(3)]
        assert sum(sizes) == 12 and all(sizes)
        res = runner.invoke(app, ["store", "merge", *[str(tmp_path / f"s{i}.db") for i in range(3)], "-o", str(tmp_path / "all.db")])
        assert res.exit_code == 0 and "24 calls" in res.output, res.output
        server.clear_log()
        res = runner.invoke(app, [*base, "--store", str(tmp_path / "all.db"), "--out", str(tmp_path / "all.parquet")],
                            env={"OPENAI_API_KEY": "x"})
        assert res.exit_code == 0, res.output
        assert server.count_ok() == 0, "the merged shard stores answer the whole run"
    bad = runner.invoke(app, [*base, "--shard", "one-of-three"])
    assert bad.exit_code == 2 and "--shard must be i/n" in bad.output


def test_max_calls_stops_and_a_rerun_with_a_higher_limit_makes_only_the_rest(tmp_path, sim_world):
    pairs = _write(tmp_path, sim_world, n=10)
    runner = CliRunner()
    with SimServer(judges=[SimJudge(name="gpt-sim")], world=sim_world) as server:
        base = ["rank", str(pairs), "--judge", "gpt-sim", "--base-url", server.base_url, "--order", "both",
                "--store", str(tmp_path / "s.db"), "--out", str(tmp_path / "r.parquet")]
        res = runner.invoke(app, [*base, "--max-calls", "7"], env={"OPENAI_API_KEY": "x"})
        assert res.exit_code == 0, res.output
        assert "13 call(s) not made" in res.output and "budget" in res.output
        assert server.count_ok() == 7
        res = runner.invoke(app, [*base, "--max-calls", "100"], env={"OPENAI_API_KEY": "x"})
        assert res.exit_code == 0 and "not made" not in res.output, res.output
        assert server.count_ok() == 20, "the rerun made only the 13 missing calls"
    assert Store(tmp_path / "s.db").count() == 20


def test_stream_dir_writes_parquet_parts_and_the_outcomes(tmp_path, sim_world):
    pairs = _write(tmp_path, sim_world, n=6)
    with SimServer(judges=[SimJudge(name="gpt-sim")], world=sim_world) as server:
        res = CliRunner().invoke(app, ["rank", str(pairs), "--judge", "gpt-sim", "--base-url", server.base_url,
                                       "--stream-dir", str(tmp_path / "parts"), "--out", str(tmp_path / "r.parquet")],
                                 env={"OPENAI_API_KEY": "x"})
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "parts").glob("judgments-*.parquet")) == ["judgments-00000.parquet"]
    assert len(pd.read_parquet(tmp_path / "r.parquet")) == 6
