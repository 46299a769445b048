"""The simulator's batch routes through the official clients: OpenAI's Batch API and Anthropic's Message Batches."""

from __future__ import annotations

import json

import anthropic
import openai
import pytest

from prefjudge.judging.templates import load_template
from prefjudge.testing import SimJudge, SimServer, make_demo_pairs
from prefjudge.testing.batch_api import BatchSimConfig


def _messages(pairs):
    template = load_template("pairwise")
    return [template.render(question=p["prompt"], first=p["response_a"], second=p["response_b"], system=None)
            for p in pairs]


def _jsonl(items):
    return ("\n".join(json.dumps(i) for i in items) + "\n").encode()


def _openai_lines(pairs):
    return [{"custom_id": f"req-{i}", "method": "POST", "url": "/v1/chat/completions",
             "body": {"model": "sim-j", "messages": m, "temperature": 0.0, "max_tokens": 64}}
            for i, m in enumerate(_messages(pairs))]


def test_openai_batch_lifecycle(sim_world):
    pairs = make_demo_pairs(3, seed=1, world=sim_world)
    with SimServer(judges=[SimJudge(name="sim-j")], world=sim_world, batch=BatchSimConfig(polls_to_end=3)) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
        upload = client.files.create(file=("in.jsonl", _jsonl(_openai_lines(pairs))), purpose="batch")
        batch = client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                      completion_window="24h", metadata={"tag": "t1"})
        assert batch.status == "validating" and batch.metadata == {"tag": "t1"}
        statuses = [client.batches.retrieve(batch.id).status for _ in range(3)]
        assert statuses == ["in_progress", "in_progress", "completed"]
        done = client.batches.retrieve(batch.id)
        assert done.request_counts.total == 3 and done.request_counts.completed == 3 and done.error_file_id is None
        lines = [json.loads(x) for x in client.files.content(done.output_file_id).text.splitlines()]
        assert [x["custom_id"] for x in lines] == ["req-0", "req-1", "req-2"]
        assert all(x["response"]["status_code"] == 200 and x["error"] is None for x in lines)
        assert lines[0]["response"]["body"]["choices"][0]["message"]["content"].rstrip().endswith(("[[A]]", "[[B]]", "[[C]]"))
        # answered like live requests: in the request log, and per custom_id in the batch log
        assert server.count_ok() == 3
        assert [e.event for e in server.batches.events if e.custom_id == "req-1"] == ["submitted", "succeeded"]
        assert [b.id for b in client.batches.list(limit=10)] == [batch.id]
        with pytest.raises(openai.NotFoundError):
            client.batches.retrieve("batch_nope")


def test_openai_cancel_failure_and_invalid_input(sim_world):
    pairs = make_demo_pairs(2, seed=1, world=sim_world)
    with SimServer(judges=[SimJudge(name="sim-j")], world=sim_world, batch=BatchSimConfig(hold=True)) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
        upload = client.files.create(file=("in.jsonl", _jsonl(_openai_lines(pairs))), purpose="batch")
        batch = client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h")
        assert client.batches.retrieve(batch.id).status == "in_progress"  # held
        assert client.batches.cancel(batch.id).status == "cancelling"
        cancelled = client.batches.retrieve(batch.id)
        assert cancelled.status == "cancelled" and cancelled.output_file_id is None
        errors = [json.loads(x) for x in client.files.content(cancelled.error_file_id).text.splitlines()]
        assert {e["error"]["code"] for e in errors} == {"batch_cancelled"} and len(errors) == 2
        assert server.count_ok() == 0
        bad = client.files.create(file=("bad.jsonl", b'{"custom_id": "a"}\nnot json\n'), purpose="batch")
        failed = client.batches.create(input_file_id=bad.id, endpoint="/v1/chat/completions", completion_window="24h")
        assert failed.status == "failed" and [e.line for e in failed.errors.data] == [1, 2]
        with pytest.raises(openai.BadRequestError):
            client.batches.create(input_file_id=upload.id, endpoint="/v1/embeddings", completion_window="24h")


def test_per_request_errors_in_the_error_file(sim_world):
    pairs = make_demo_pairs(3, seed=1, world=sim_world)
    config = BatchSimConfig(polls_to_end=1, fail_custom_ids=["req-1"], error_status=429)
    with SimServer(judges=[SimJudge(name="sim-j")], world=sim_world, batch=config) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
        upload = client.files.create(file=("in.jsonl", _jsonl(_openai_lines(pairs))), purpose="batch")
        batch = client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h")
        done = client.batches.retrieve(batch.id)
        assert done.status == "completed" and (done.request_counts.completed, done.request_counts.failed) == (2, 1)
        (error,) = [json.loads(x) for x in client.files.content(done.error_file_id).text.splitlines()]
    assert error["custom_id"] == "req-1" and error["response"]["status_code"] == 429


def test_anthropic_message_batch_lifecycle(sim_world):
    pairs = make_demo_pairs(3, seed=1, world=sim_world)
    requests = [{"custom_id": f"req-{i}", "params": {"model": "sim-j", "max_tokens": 64, "system": "Be fair.",
                                                     "messages": [m for m in msgs if m["role"] != "system"]}}
                for i, msgs in enumerate(_messages(pairs))]
    with SimServer(judges=[SimJudge(name="sim-j")], world=sim_world,
                   batch=BatchSimConfig(polls_to_end=10, seconds_to_end=0.0)) as server:
        client = anthropic.Anthropic(base_url=server.base_url.removesuffix("/v1"), api_key="x", max_retries=0)
        batch = client.messages.batches.create(requests=requests)
        assert batch.processing_status == "in_progress" and batch.request_counts.processing == 3
        ended = client.messages.batches.retrieve(batch.id)  # seconds_to_end=0: the first retrieve ends it
        assert ended.processing_status == "ended" and ended.request_counts.succeeded == 3 and ended.results_url
        results = list(client.messages.batches.results(batch.id))  # the SDK's own JSONL decoder
        assert [r.custom_id for r in results] == ["req-0", "req-1", "req-2"]
        assert all(r.result.type == "succeeded" and r.result.message.content[0].text for r in results)
        with pytest.raises(anthropic.BadRequestError):
            client.messages.batches.create(requests=[{"custom_id": "a" * 65, "params": requests[0]["params"]}])
        with pytest.raises(anthropic.BadRequestError):
            client.messages.batches.create(requests=[{"custom_id": "s", "params": {
                **requests[0]["params"], "messages": [{"role": "system", "content": "x"}]}}])
        with pytest.raises(anthropic.NotFoundError):
            client.messages.batches.retrieve("msgbatch_nope")


def test_anthropic_cancel_and_errors(sim_world):
    pairs = make_demo_pairs(2, seed=1, world=sim_world)
    requests = [{"custom_id": f"req-{i}", "params": {"model": "sim-j", "max_tokens": 64,
                                                     "messages": [m for m in msgs if m["role"] != "system"]}}
                for i, msgs in enumerate(_messages(pairs))]
    config = BatchSimConfig(polls_to_end=1, fail_custom_ids=["req-0"], error_status=529)
    with SimServer(judges=[SimJudge(name="sim-j")], world=sim_world, batch=config) as server:
        client = anthropic.Anthropic(base_url=server.base_url.removesuffix("/v1"), api_key="x", max_retries=0)
        done = client.messages.batches.create(requests=requests)
        results = {r.custom_id: r.result for r in client.messages.batches.results(done.id)}
        assert results["req-0"].type == "errored" and results["req-0"].error.error.type == "overloaded_error"
        assert results["req-1"].type == "succeeded"
        server.batches.configure(hold=True)
        held = client.messages.batches.create(requests=requests)
        assert client.messages.batches.cancel(held.id).processing_status == "canceling"
        ended = client.messages.batches.retrieve(held.id)
        assert ended.processing_status == "ended" and ended.request_counts.canceled == 2
        assert {r.result.type for r in client.messages.batches.results(held.id)} == {"canceled"}
