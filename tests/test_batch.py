"""Provider batch APIs (prefjudge.judging.batch) end to end over HTTP against the simulator's batch routes."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest
from _batch_helpers import MODEL, judge_through_engine, keys_for, make_judge, prefill_sync, requests_for

import prefjudge as pj
from prefjudge.backends.pricing import cost_usd
from prefjudge.errors import ConfigError, InputError
from prefjudge.judging.batch import BatchRequest, batch_provider, prefill
from prefjudge.judging.engine import Engine
from prefjudge.judging.pairs import normalize_pairs
from prefjudge.judging.store import Store
from prefjudge.testing import SimJudge, SimServer, make_demo_pairs
from prefjudge.testing.batch_api import BatchSimConfig

PROVIDERS = ["openai", "anthropic"]


def _pairs(n, world, seed=4, system_every=0):
    pairs = make_demo_pairs(n, seed=seed, world=world)
    if system_every:
        for i, p in enumerate(pairs):
            if i % system_every == 0:
                p["system"] = "You are a careful grader of answers."
    return normalize_pairs([{k: v for k, v in p.items() if not k.startswith("quality")} for p in pairs])


def _server(provider, world, **batch):
    return SimServer(judges=[SimJudge(name=MODEL[provider])], world=world, batch=BatchSimConfig(**batch))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_prefill_then_the_engine_finds_every_call_in_the_store(tmp_path, sim_world, provider):
    pairs = _pairs(6, sim_world, system_every=2)
    store = tmp_path / "prefs.db"
    with _server(provider, sim_world) as server:
        judge = make_judge(provider, server.base_url)
        summary, keys = prefill_sync(store, judge, pairs)
        assert summary.requested == summary.submitted == summary.succeeded == 12
        assert (summary.failed, summary.pending, summary.n_problems, summary.timed_out) == (0, 0, 0, False)
        assert len(summary.batch_ids) == 1 and summary.batches[0].provider == provider
        # every request went in the batch once, under its request hash
        assert server.batches.submitted() == Counter({k: 1 for k in keys})
        server.clear_log()
        outcomes = asyncio.run(judge_through_engine(store, judge, pairs))
        assert all(o.cached and o.error is None for o in outcomes)
        assert server.log == []  # nothing asked live
        assert str(summary).startswith("batch prefill: 12 request(s)")
        again, _ = prefill_sync(store, judge, pairs)  # a second prefill finds everything done
    assert (again.reused_from_store, again.submitted, again.batch_ids) == (12, 0, [])
    with Store(store) as st:
        assert st.count() == 12 and st.count("failures") == 0
        records = st.batch_records()
        assert [(r["batch_id"], r["provider"], r["collected"], r["n_requests"]) for r in records] == \
            [(summary.batch_ids[0], provider, 1, 12)]


def test_openai_batch_answers_equal_the_live_route(tmp_path, sim_world):
    """A batch line's body is the body the openai backend sends live: same request, same simulated answer."""
    pairs = _pairs(5, sim_world)
    with _server("openai", sim_world) as server:
        judge = make_judge("openai", server.base_url, priced=False)
        prefill_sync(tmp_path / "batch.db", judge, pairs)
        batched = asyncio.run(judge_through_engine(tmp_path / "batch.db", judge, pairs))
        live = asyncio.run(judge_through_engine(tmp_path / "live.db", judge, pairs))
    assert all(o.cached for o in batched) and not any(o.cached for o in live)
    assert [o.key for o in batched] == [o.key for o in live]
    assert [o.completion.text for o in batched] == [o.completion.text for o in live]
    assert all(o.cost_usd is None for o in batched)  # a self-hosted endpoint has no price


def test_rank_pairs_after_a_prefill_makes_no_call(tmp_path, sim_world):
    pairs = _pairs(5, sim_world)
    with _server("openai", sim_world) as server:
        judge = make_judge("openai", server.base_url, priced=False)
        prefill_sync(tmp_path / "s.db", judge, pairs)
        server.clear_log()
        result = pj.rank_pairs([p.model_dump() for p in pairs], judge, order="both", store=tmp_path / "s.db",
                               progress=False)
        assert server.log == []
    assert len(result.judgments) == 10 and result.judgments["winner"].notna().all()
    assert result.judgments["cached"].all()


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("factor", [0.5, 0.25])
def test_cost_is_recorded_at_the_batch_price(tmp_path, sim_world, provider, factor):
    pairs = _pairs(3, sim_world)
    with _server(provider, sim_world) as server:
        judge = make_judge(provider, server.base_url)
        summary, keys = prefill_sync(tmp_path / "s.db", judge, pairs, price_factor=factor)
    total = 0.0
    with Store(tmp_path / "s.db") as st:
        for key in keys:
            completion, info = st.get(key)
            listed = cost_usd(judge.model, completion.prompt_tokens, completion.completion_tokens)
            assert listed is not None and listed > 0
            assert info["cost_usd"] == pytest.approx(factor * listed)
            total += info["cost_usd"]
    assert summary.cost_usd == pytest.approx(total) and summary.price_factor == factor


@pytest.mark.parametrize("provider", PROVIDERS)
def test_permanent_per_request_errors_are_stored_as_failures(tmp_path, sim_world, provider):
    pairs = _pairs(4, sim_world)
    with _server(provider, sim_world) as server:
        judge = make_judge(provider, server.base_url)
        engine = Engine(Store(None))
        keys = keys_for(engine, requests_for(engine, judge, pairs))
        server.batches.configure(fail_custom_ids=keys[:2], error_status=400)
        summary, _ = prefill_sync(tmp_path / "s.db", judge, pairs)
        submitted = server.batches.submitted()
    assert summary.failed == 2 and summary.succeeded == 6 and summary.resubmitted == 0
    assert len(summary.errors) == 2
    assert all(submitted[k] == 1 for k in keys)  # a permanent error is not submitted again
    with Store(tmp_path / "s.db") as st:
        assert st.count() == 6 and st.count("failures") == 2
        assert st.get(keys[0]) is None and st.get(keys[2]) is not None
        failed = {row[0]: row[1] for row in st._db.execute("SELECT key, error FROM failures")}
    assert set(failed) == set(keys[:2]) and all("400" in e or "invalid_request" in e for e in failed.values())


def test_transient_errors_are_resubmitted_then_called_live(tmp_path, sim_world):
    pairs = _pairs(4, sim_world)
    with _server("openai", sim_world) as server:
        judge = make_judge("openai", server.base_url, priced=False)
        engine = Engine(Store(None))
        keys = keys_for(engine, requests_for(engine, judge, pairs))
        server.batches.configure(fail_custom_ids=keys[:2], error_status=500)
        summary, _ = prefill_sync(tmp_path / "s.db", judge, pairs, max_submissions=2)
        submitted = server.batches.submitted()
        server.clear_log()
        outcomes = asyncio.run(judge_through_engine(tmp_path / "s.db", judge, pairs))
        live = [r.key for r in server.log]
    assert [submitted[k] for k in keys] == [2, 2] + [1] * 6  # sent again once, then given up
    assert (summary.failed, summary.succeeded, summary.resubmitted, summary.submitted) == (2, 6, 2, 10)
    with Store(tmp_path / "s.db") as st:
        assert st.count("failures") == 4  # each failed attempt recorded
    # the engine makes exactly the two failed calls live; the six others are cache hits
    assert sum(not o.cached for o in outcomes) == 2 and len(live) == 2
    assert all(o.error is None for o in outcomes)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_expired_batch_resubmits_only_the_missing_requests(tmp_path, sim_world, provider):
    pairs = _pairs(5, sim_world)
    with _server(provider, sim_world, expire_batches=1, expire_answered=0.6) as server:
        judge = make_judge(provider, server.base_url)
        summary, keys = prefill_sync(tmp_path / "s.db", judge, pairs)
        events = server.batches.events
        submitted = server.batches.submitted()
    first, second = summary.batch_ids
    answered_first = {e.custom_id for e in events if e.batch_id == first and e.event == "succeeded"}
    expired = {e.custom_id for e in events if e.batch_id == first and e.event == "expired"}
    assert len(answered_first) == 6 and len(expired) == 4
    assert {e.custom_id for e in events if e.batch_id == second and e.event == "submitted"} == expired
    assert all(submitted[k] == (2 if k in expired else 1) for k in keys)
    assert (summary.submitted, summary.resubmitted, summary.succeeded, summary.failed) == (14, 4, 10, 0)
    with Store(tmp_path / "s.db") as st:
        assert st.count() == 10 and st.count("failures") == 0
        states = Counter(r["state"] for r in st.batch_requests(st.batch_records()[0]["id"]))
    assert states == Counter({"succeeded": 6, "expired": 4})


@pytest.mark.parametrize("provider", PROVIDERS)
def test_malformed_result_lines_are_reported_not_fatal(tmp_path, sim_world, provider):
    unknown = {"openai": {"custom_id": "not-a-request-of-this-batch", "error": None,
                          "response": {"status_code": 200, "body": {"choices": [{"message": {"content": "[[A]]"}}]}}},
               "anthropic": {"custom_id": "not-a-request-of-this-batch",
                             "result": {"type": "succeeded", "message": {"content": [{"type": "text", "text": "[[A]]"}]}}}}
    pairs = _pairs(3, sim_world)
    garbage = ["{this is not json", json.dumps(unknown[provider]), json.dumps(["no", "custom", "id"])]
    with _server(provider, sim_world, extra_output_lines=garbage) as server:
        judge = make_judge(provider, server.base_url)
        summary, keys = prefill_sync(tmp_path / "s.db", judge, pairs)
    assert summary.succeeded == 6 and summary.failed == 0 and summary.n_problems == 3
    text = " | ".join(summary.problems)
    assert "is not JSON" in text and "'not-a-request-of-this-batch'" in text and "custom_id" in text
    with Store(tmp_path / "s.db") as st:
        assert st.count() == 6 and all(st.get(k) is not None for k in keys)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_timeout_returns_and_the_next_call_collects_without_resubmitting(tmp_path, sim_world, provider):
    pairs = _pairs(3, sim_world)
    with _server(provider, sim_world, hold=True) as server:
        judge = make_judge(provider, server.base_url)
        first, keys = prefill_sync(tmp_path / "s.db", judge, pairs, timeout_s=0.0)
        assert first.timed_out and first.pending == 6 and first.succeeded == 0 and "TIMED OUT" in str(first)
        with Store(tmp_path / "s.db") as st:
            (record,) = st.batch_records(open_only=True)
            assert record["batch_id"] == first.batch_ids[0] and record["status"] != "submitting"
        server.batches.release()
        second, _ = prefill_sync(tmp_path / "s.db", judge, pairs)
        submitted = server.batches.submitted()
    assert (second.resumed_batches, second.submitted, second.awaited, second.succeeded) == (1, 0, 6, 6)
    assert second.batches[0].resumed and second.batch_ids == first.batch_ids
    assert submitted == Counter({k: 1 for k in keys})


def test_the_api_key_never_reaches_the_store_or_the_summary(tmp_path, sim_world):
    pairs = _pairs(2, sim_world)
    with _server("openai", sim_world) as server:
        judge = make_judge("openai", server.base_url)
        server.batches.configure(error_status=400, fail_rate=1.0)  # every request fails (a random share could be none)
        summary, _ = prefill_sync(tmp_path / "s.db", judge, pairs)
    assert "sk-test-key-123" not in summary.model_dump_json()
    assert summary.failed > 0  # errors were recorded, and none carries the key
    assert all(b"sk-test-key-123" not in f.read_bytes() for f in tmp_path.glob("s.db*"))


def test_what_a_provider_cannot_run_fails_before_any_submission(tmp_path, sim_world):
    pairs = _pairs(2, sim_world)
    with _server("anthropic", sim_world) as server:
        judge = make_judge("anthropic", server.base_url, mode="logprob")
        with pytest.raises(ConfigError, match="logprob"):
            prefill_sync(tmp_path / "s.db", judge, pairs)
        local = pj.Judge("tiny", backend="transformers", name="local")
        with pytest.raises(ConfigError, match="no batch API"):
            prefill_sync(tmp_path / "s.db", local, pairs)
        assert server.batches.events == []
    with pytest.raises(InputError, match="poll_interval_s"):
        asyncio.run(prefill(Engine(Store(None)), [], poll_interval_s=-1))


def test_provider_choice():
    assert batch_provider(pj.Judge("gpt-4o")) == "openai"
    assert batch_provider(pj.Judge("m", base_url="http://127.0.0.1:8000/v1")) == "openai"
    assert batch_provider(pj.Judge("anthropic/claude-haiku-4-5", backend="litellm")) == "anthropic"
    assert batch_provider(pj.Judge("claude-haiku-4-5", backend="litellm")) == "anthropic"
    assert batch_provider(pj.Judge("openai/gpt-4o", backend="litellm")) == "openai"
    assert batch_provider(pj.Judge("together_ai/m", backend="litellm", base_url="https://x.example/v1")) == "openai"
    with pytest.raises(ConfigError, match="together_ai"):
        batch_provider(pj.Judge("together_ai/m", backend="litellm"))


def test_an_explicit_provider_overrides_the_default(tmp_path, sim_world):
    """A plain openai-backend judge sent through Anthropic's format (an Anthropic-compatible gateway)."""
    pairs = _pairs(2, sim_world)
    with _server("anthropic", sim_world) as server:
        judge = pj.Judge(MODEL["anthropic"], base_url=server.base_url, api_key="x", name="j")

        async def run():
            with Store(tmp_path / "s.db") as st:
                engine = Engine(st)
                params = engine.params(judge)
                reqs = [BatchRequest(judge, judge.render(p, "ab"), params) for p in pairs]
                return await prefill(engine, reqs, provider={"j": "anthropic"}, poll_interval_s=0)

        summary = asyncio.run(run())
    assert summary.succeeded == 2 and summary.batches[0].provider == "anthropic"


def test_a_failed_batch_records_every_request_as_failed(tmp_path, sim_world):
    pairs = _pairs(2, sim_world)
    with _server("openai", sim_world, fail_batches=1) as server:
        judge = make_judge("openai", server.base_url)
        summary, keys = prefill_sync(tmp_path / "s.db", judge, pairs)
        submitted = server.batches.submitted()
    assert (summary.failed, summary.succeeded, summary.submitted, summary.resubmitted) == (4, 0, 4, 0)
    assert "simulated_failure" in summary.errors[0]
    assert submitted == Counter({k: 1 for k in keys})  # a batch that failed as a whole is not sent again
    with Store(tmp_path / "s.db") as st:
        assert st.count() == 0 and st.count("failures") == 4
        (record,) = st.batch_records()
    assert (record["status"], record["collected"]) == ("failed", 1)


def test_an_openai_batch_holds_one_model(tmp_path, sim_world):
    """OpenAI refuses a batch that mixes models (so does the simulator): two judges at one URL, two batches."""
    pairs = _pairs(3, sim_world)
    sims = [SimJudge(name="gpt-4o-mini"), SimJudge(name="gpt-4o")]
    with SimServer(judges=sims, world=sim_world) as server:
        judges = [pj.Judge(s.name, base_url=server.base_url, api_key="x") for s in sims]

        async def run():
            with Store(tmp_path / "s.db") as st:
                engine = Engine(st)
                reqs = [r for j in judges for r in requests_for(engine, j, pairs)]
                return await prefill(engine, reqs, poll_interval_s=0)

        summary = asyncio.run(run())
        models = {b.id: {body["model"] for _, body in b.requests} for b in server.batches.batches.values()}
    assert (summary.succeeded, summary.failed, len(summary.batch_ids)) == (12, 0, 2)
    assert sorted(map(sorted, models.values())) == [["gpt-4o"], ["gpt-4o-mini"]]
    assert summary.batches[0].endpoint == summary.batches[1].endpoint


def test_large_runs_are_split_by_count_and_by_bytes(tmp_path, sim_world, monkeypatch):
    from prefjudge.judging.batching.openai_api import OpenAIBatches

    pairs = _pairs(6, sim_world)
    with _server("openai", sim_world) as server:
        judge = make_judge("openai", server.base_url, priced=False)
        by_count, _ = prefill_sync(tmp_path / "a.db", judge, pairs, max_batch_requests=5)
        sizes = [len(server.batches.batches[b].requests) for b in by_count.batch_ids]
        assert sizes == [5, 5, 2] and by_count.succeeded == 12
        monkeypatch.setattr(OpenAIBatches, "max_bytes", 5000)  # a request line here is about 1.5-2.5 kB
        by_bytes, _ = prefill_sync(tmp_path / "b.db", judge, pairs)
        uploads = [server.batches.files[server.batches.batches[b].meta["input_file_id"]]["bytes"]
                   for b in by_bytes.batch_ids]
    assert by_bytes.succeeded == 12 and len(uploads) > 3 and max(uploads) <= 5000


@pytest.mark.parametrize("provider", PROVIDERS)
def test_rank_pairs_batch_true_submits_then_reads_every_call_from_the_store(tmp_path, sim_world, provider):
    pairs = [p.model_dump() for p in _pairs(4, sim_world)]
    with _server(provider, sim_world) as server:
        judge = make_judge(provider, server.base_url)
        result = pj.rank_pairs(pairs, judge, order="both", store=tmp_path / "s.db", progress=False,
                               batch={"poll_interval_s": 0.0, "timeout_s": 120.0})
        submitted = server.batches.submitted()
    assert sum(submitted.values()) == 8 and set(submitted.values()) == {1}, "every call went through a batch, once"
    assert result.judgments["cached"].all() and result.judgments["winner"].notna().all()
    assert result.meta["batch"]["succeeded"] == 8 and result.meta["batch"]["price_factor"] == 0.5
    assert result.meta["n_calls_made"] == 0, "no live call: the judged pass read every call from the store"


def test_rank_pairs_batch_still_running_raises_batch_pending_and_a_rerun_collects_it(tmp_path, sim_world):
    from prefjudge.errors import BatchPending

    pairs = [p.model_dump() for p in _pairs(3, sim_world)]
    with _server("openai", sim_world, hold=True) as server:
        judge = make_judge("openai", server.base_url)
        with pytest.raises(BatchPending, match="still in provider batches") as err:
            pj.rank_pairs(pairs, judge, order="both", store=tmp_path / "s.db", progress=False,
                          batch={"poll_interval_s": 0.0, "timeout_s": 0.0})
        assert err.value.summary.pending == 6
        server.batches.release()
        result = pj.rank_pairs(pairs, judge, order="both", store=tmp_path / "s.db", progress=False,
                               batch={"poll_interval_s": 0.0, "timeout_s": 120.0})
        submitted = server.batches.submitted()
    assert set(submitted.values()) == {1} and sum(submitted.values()) == 6, "nothing submitted twice"
    assert result.meta["batch"]["resumed_batches"] == 1 and result.judgments["cached"].all()


def test_rank_pairs_batch_refuses_out_and_budgets_before_any_call(tmp_path, sim_world):
    pairs = [p.model_dump() for p in _pairs(2, sim_world)]
    with _server("openai", sim_world) as server:
        judge = make_judge("openai", server.base_url)
        with pytest.raises(ConfigError, match="in memory"):
            pj.rank_pairs(pairs, judge, out=tmp_path / "o", batch=True, progress=False)
        with pytest.raises(ConfigError, match="not applied to provider batches"):
            pj.rank_pairs(pairs, judge, max_calls=3, batch=True, progress=False)
        with pytest.raises(InputError, match="batch"):
            pj.rank_pairs(pairs, judge, batch={"no_such_option": 1}, progress=False)
        assert sum(server.batches.submitted().values()) == 0
