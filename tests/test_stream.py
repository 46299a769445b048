"""Streaming judging: lazy inputs of every kind, a bounded window of calls, iter_judgments, out= parquet
parts and the lazy result (over real HTTP to the simulated server)."""

from __future__ import annotations

import asyncio
import json

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import prefjudge as pj
from prefjudge.errors import InputError
from prefjudge.result import FolderRankResult, RankResult
from prefjudge.testing import SimJudge, SimServer, make_demo_pairs

SIMS = [SimJudge(name="gpt-sim"), SimJudge(name="llama-sim")]


def _rows(world, n=24, seed=5):
    return [{k: v for k, v in p.items() if not k.startswith("quality")} for p in make_demo_pairs(n, seed=seed, world=world)]


def _judges(server, **kw):
    return [pj.Judge(s.name, base_url=server.base_url, api_key="x", **kw) for s in SIMS]


def _calls(result) -> list[tuple]:
    t = result.judgments
    return sorted(zip(t["pair_id"], t["judge"], t["order"], t["winner"]))


def _inputs(rows, tmp_path):
    import datasets

    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    parquet = tmp_path / "pairs.parquet"
    pd.DataFrame(rows).to_parquet(parquet)
    ds = datasets.Dataset.from_list(rows)
    return {"list": lambda: rows, "generator": lambda: (r for r in rows), "dataframe": lambda: pd.DataFrame(rows),
            "dataset": lambda: ds, "iterable_dataset": ds.to_iterable_dataset, "jsonl": lambda: str(jsonl),
            "parquet": lambda: parquet}


def test_every_kind_of_input_streams_to_the_same_judgments(tmp_path, sim_world):
    rows = _rows(sim_world)
    store = tmp_path / "s.db"
    with SimServer(judges=SIMS, world=sim_world) as server:
        judges = _judges(server)
        reference = pj.rank_pairs(rows, judges, order="both", store=store, progress=False)
        made = server.count_ok()
        for kind, data in _inputs(rows, tmp_path).items():
            for out in (None, tmp_path / f"out-{kind}"):
                res = pj.rank_pairs(data(), judges, order="both", store=store, progress=False, out=out)
                assert _calls(res) == _calls(reference), (kind, out)
                assert list(res.to_pandas()["id"]) == [r["id"] for r in rows], (kind, out)
        again = sorted((j.pair_id, j.judge, j.order, j.winner) for j in
                       pj.iter_judgments(str(tmp_path / "pairs.jsonl"), judges, order="both", store=store))
        assert again == _calls(reference)
        assert server.count_ok() == made  # every later run read the store


def test_streamed_rows_are_checked_row_by_row(tmp_path):
    good = {"prompt": "q", "response_a": "x", "response_b": "y"}
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(good) + "\n" + json.dumps({"prompt": "q", "response_a": "x"}) + "\n", encoding="utf-8")
    judge = pj.Judge("gpt-sim", base_url="http://127.0.0.1:9/v1", api_key="x")
    with pytest.raises(InputError, match=r"row 1, field 'response_b': is missing"):
        pj.rank_pairs(str(bad), judge, progress=False)  # checked before any call: the connection is never tried
    with pytest.raises(InputError, match=r"line 2 is not valid JSON"):
        bad.write_text(json.dumps(good) + "\n{oops\n", encoding="utf-8")
        pj.rank_pairs(bad, judge, progress=False)
    with pytest.raises(InputError, match=r"no such file"):
        pj.rank_pairs(str(tmp_path / "missing.parquet"), judge, progress=False)
    with pytest.raises(InputError, match=r"not the string"):
        pj.rank_pairs("pairs.csv", judge, progress=False)


def test_duplicate_ids_are_found_while_streaming(tmp_path, sim_world):
    rows = _rows(sim_world, n=10)
    rows[7] = {**rows[7], "id": rows[2]["id"]}
    with SimServer(judges=SIMS, world=sim_world) as server:
        with pytest.raises(InputError, match=rf"row 7, field 'id': duplicate id '{rows[2]['id']}' \(also row 2\)"):
            pj.rank_pairs((r for r in rows), _judges(server)[:1], store=tmp_path / "s.db", out=tmp_path / "o",
                          progress=False, max_in_flight=1)
        assert 0 < server.count_ok() <= 8  # the rows before the bad one were judged and stored: a rerun reads them


def test_id_set_is_exact_and_grows():
    from prefjudge.judging.pairs import IdSet

    s = IdSet(capacity=4)
    for i in range(5000):
        assert s.add(f"id-{i}", i) is None
    assert len(s) == 5000
    assert [s.add(f"id-{i}", 9999) for i in (0, 1234, 4999)] == [0, 1234, 4999]


def test_calls_in_flight_are_bounded_by_the_window(sim_world):
    rows = _rows(sim_world, n=60)
    window = 3
    leads = []
    with SimServer(judges=[SimJudge(name="gpt-sim", latency_s=0.005)], world=sim_world) as server:
        def lazy():
            for i, r in enumerate(rows):
                leads.append(i - server.count_ok())  # rows taken before this one minus calls answered
                yield r

        judge = pj.Judge("gpt-sim", base_url=server.base_url, api_key="x", max_concurrency=16)
        got = list(pj.iter_judgments(lazy(), judge, order="fixed", max_in_flight=window))
    assert len(got) == 60 and all(isinstance(j, pj.Judgment) for j in got)
    assert max(leads) <= window  # never more than the window ahead of the answers (gather-everything: 59)


def test_iter_judgments_async_and_early_stop(tmp_path, sim_world):
    rows = _rows(sim_world, n=30)
    with SimServer(judges=SIMS, world=sim_world) as server:
        judges = _judges(server)

        async def collect():
            return [j async for j in pj.aiter_judgments(rows, judges, order="random", seed=3, store=tmp_path / "a.db")]

        got = asyncio.run(collect())
        assert len(got) == 60 and {j.judge for j in got} == {"gpt-sim", "llama-sim"}
        ref = pj.rank_pairs(rows, judges, order="random", seed=3, store=tmp_path / "a.db", progress=False)
        assert sorted((j.pair_id, j.judge, j.order, j.winner) for j in got) == _calls(ref)
        it = pj.iter_judgments(rows, judges, store=tmp_path / "b.db", max_in_flight=2)
        first = [next(it) for _ in range(3)]
        it.close()  # stops the thread and cancels what is in flight
        assert len(first) == 3 and server.count_ok() < 60 + 60 + 60


def test_out_folder_and_lazy_result_equal_the_in_memory_result(tmp_path, sim_world, monkeypatch):
    import prefjudge.judging.stream as stream

    monkeypatch.setattr(stream, "ROWS_PER_FILE", 7)
    rows = _rows(sim_world, n=20)
    rows[3] = {**rows[3], "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": rows[3]["prompt"]}]}
    rows[4] = {**rows[4], "response_b": rows[4]["response_a"]}  # identical: not judged
    rows = [{**r, "source": i if i % 2 else f"s{i}", "tags": ["x"] * (i % 3)} for i, r in enumerate(rows)]
    with SimServer(judges=SIMS, world=sim_world) as server:
        judges = _judges(server)
        mem = pj.rank_pairs(rows, judges, order="both", store=tmp_path / "s.db", aggregate="dawid_skene", progress=False)
        lazy = pj.rank_pairs(iter(rows), judges, order="both", store=tmp_path / "s.db", aggregate="dawid_skene",
                             progress=False, out=tmp_path / "out")
    assert isinstance(lazy, FolderRankResult) and not lazy._tables  # nothing read yet
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names[:6] == [f"judgments-{i:05d}.parquet" for i in range(6)] and "outcomes-00000.parquet" in names
    assert "meta.json" in names and "pairs-00002.parquet" in names
    assert repr(lazy).startswith("FolderRankResult(") and not lazy._tables
    assert lazy.meta["n_judgments"] == len(mem.judgments) == 19 * 2 * 2 and lazy.meta["n_calls_cached"] == 76
    assert_frame_equal(lazy.judgments.drop(columns="cached"), mem.judgments.drop(columns="cached"))
    assert_frame_equal(lazy.pairs, mem.pairs)
    assert_frame_equal(lazy.outcomes, mem.outcomes)
    assert_frame_equal(lazy.to_pandas(), mem.to_pandas())
    assert lazy.outcomes.attrs["rule"] == "dawid_skene"
    again = RankResult.from_folder(tmp_path / "out")
    assert_frame_equal(again.to_pandas(), mem.to_pandas()) and len(again) == 20
    assert len(lazy.not_judged) == 0 and list(lazy.not_judged.columns) == ["pair_id", "judge", "order", "kind", "reason"]
    assert pj.audit(lazy).to_dict() == pj.audit(mem).to_dict()


@pytest.mark.parametrize("aggregate", ["majority", "mean", "weighted"])
def test_outcomes_of_a_folder_are_aggregated_from_the_parts_in_chunks(tmp_path, sim_world, monkeypatch, aggregate):
    """Local rules aggregate a chunk of whole pairs at a time (here 5 judgments): the same outcomes."""
    import prefjudge.judging.stream as stream

    monkeypatch.setattr(stream, "AGGREGATE_ROWS", 5)
    monkeypatch.setattr(stream, "ROWS_PER_FILE", 4)
    rows = _rows(sim_world, n=15)
    sims = [*SIMS, SimJudge(name="qwen-sim")]
    with SimServer(judges=sims, world=sim_world) as server:
        judges = [pj.Judge(s.name, base_url=server.base_url, api_key="x") for s in sims]
        kw = dict(order="both", store=tmp_path / "s.db", aggregate=aggregate, progress=False)
        mem = pj.rank_pairs(rows, judges, **kw)
        lazy = pj.rank_pairs(rows, judges, out=tmp_path / "out", **kw)
    n_parts = len(list((tmp_path / "out").glob("outcomes-*.parquet")))
    assert n_parts == (1 if aggregate == "weighted" else 15)  # weighted estimates reliabilities: one pass
    assert_frame_equal(lazy.outcomes, mem.outcomes)
    assert_frame_equal(lazy.to_pandas(), mem.to_pandas())


def test_out_folder_keeps_other_files_and_replaces_its_own(tmp_path, sim_world):
    rows = _rows(sim_world, n=6)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "judgments-00099.parquet").write_text("stale part of an earlier run")
    with SimServer(judges=SIMS, world=sim_world) as server:
        res = pj.rank_pairs(rows, _judges(server)[:1], out=out, progress=False)
    assert (out / "notes.txt").read_text() == "mine" and not (out / "judgments-00099.parquet").exists()
    assert len(res.judgments) == 6
    with pytest.raises(InputError, match="is a file"):
        pj.rank_pairs(rows, _judges(server)[:1], out=out / "notes.txt", progress=False)


def test_window_argument_is_checked():
    with pytest.raises(InputError, match="max_in_flight"):
        pj.rank_pairs([{"prompt": "q", "response_a": "a", "response_b": "b"}], pj.Judge("m"), max_in_flight=0)


def test_progress_reports_rate_eta_failures_and_spend():
    from prefjudge.judging.progress import ProgressBar

    now = [0.0]
    bar = ProgressBar(100, "judging", enabled=False, clock=lambda: now[0])
    now[0] = 10.0
    for i in range(20):
        bar.advance(failed=i < 2, cost=0.01)
    st = bar.stats()
    assert st["rate"] == pytest.approx(2.0) and st["eta_s"] == pytest.approx(40.0) and st["failed"] == 2
    assert st["spent_usd"] == pytest.approx(0.2) and st["projected_usd"] == pytest.approx(1.0)
    assert "2.0/s" in bar.line() and "ETA 0:00:40" in bar.line() and "spent $0.20 (projected $1.00)" in bar.line()
    bar.add_total(100)
    assert bar.stats()["projected_usd"] == pytest.approx(2.0)
    unknown = ProgressBar(None, "judging", enabled=False, clock=lambda: now[0])
    unknown.advance()
    assert unknown.stats()["eta_s"] is None and unknown.stats()["spent_usd"] is None


def test_rank_responses_and_generate_read_files_and_generators(tmp_path, sim_world):
    from prefjudge.testing import SimGenerator, make_demo_prompts

    gens = [SimGenerator(name="gpt-sim-writer"), SimGenerator(name="llama-sim-writer")]
    prompts = make_demo_prompts(4)
    (tmp_path / "prompts.jsonl").write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts), encoding="utf-8")
    with SimServer(judges=SIMS[:1], generators=gens, world=sim_world) as server:
        writers = [pj.Generator(g.name, base_url=server.base_url, api_key="x") for g in gens]
        judge = pj.Judge("gpt-sim", base_url=server.base_url, api_key="x")
        cands = pj.generate(prompts, writers, n=2, store=tmp_path / "s.db", progress=False)
        for source in (tmp_path / "prompts.jsonl", (p for p in prompts), pd.DataFrame({"prompt": prompts})):
            again = pj.generate(source, writers, n=2, store=tmp_path / "s.db", progress=False)
            assert again["response"].tolist() == cands["response"].tolist()
        cands.to_parquet(tmp_path / "cands.parquet")
        ref = pj.rank_responses(cands, judge, store=tmp_path / "s.db", progress=False)
        made = server.count_ok()
        for source in (tmp_path / "cands.parquet", (r for r in cands.to_dict("records"))):
            res = pj.rank_responses(source, judge, store=tmp_path / "s.db", progress=False)
            assert res.selections.equals(ref.selections)
        assert server.count_ok() == made
