"""The judging call path against malformed replies, odd Retry-After values, unusable completions,
endpoint-aware caching, edited templates and extra_headers/extra_body/extra_query.

Every judging test goes over real HTTP to a scripted server on 127.0.0.1; stores are SQLite files.
"""

from __future__ import annotations

import email.utils
import json
import math
import sqlite3
import time
from types import SimpleNamespace

import httpx
import pytest

import prefjudge as pj
from prefjudge.errors import ConfigError, PermanentBackendError, TransientBackendError
from prefjudge.testing.scripted import RawReply, ScriptedServer

PAIR = {"id": "p1", "prompt": "Capital of France?", "response_a": "Paris.", "response_b": "Lyon."}


def completion_body(content="[[A]]", *, usage=None, finish_reason="stop", logprobs=None, choices=None) -> dict:
    choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}
    if logprobs is not None:
        choice["logprobs"] = logprobs
    return {"id": "c1", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [choice] if choices is None else choices,
            "usage": {"prompt_tokens": 10, "completion_tokens": 2} if usage is None else usage}


def _lp(token="A"):
    return {"content": [{"token": token, "logprob": -0.1,
                         "top_logprobs": [{"token": "A", "logprob": -0.1}, {"token": "B", "logprob": -2.4}]}]}


def rank_one(server, *, store=None, judge_kw=None, pairs=None):
    kw = {"base_url": server.base_url, "api_key": "x", "max_retries": 0, "reask": False, **(judge_kw or {})}
    judge = pj.Judge(kw.pop("model", "m"), **kw)
    return pj.rank_pairs(pairs or [PAIR], judges=[judge], order="fixed", store=store, progress=False)


# -- 1. malformed 200 replies ----------------------------------------------------------------------
MALFORMED = {
    "content_int": (RawReply(completion_body(content=5)), "content"),
    "content_parts_bad": (RawReply(completion_body(content=[{"type": "text", "text": 3}])), "content"),
    "logprobs_no_token": (RawReply(completion_body(content="A", logprobs={"content": [{"logprob": -0.1}]})), "token"),
    "logprobs_str": (RawReply(completion_body(content="A", logprobs="n/a")), "logprobs"),
    "choices_empty": (RawReply(completion_body(choices=[])), "choices"),
    "not_json": (RawReply("<html>bad gateway</html>"), "not JSON"),
    "json_array": (RawReply([1, 2, 3]), "JSON object"),
    "message_missing": (RawReply(completion_body(choices=[{"index": 0}])), "message"),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_reply_is_a_typed_failure_for_that_call(case):
    reply, field = MALFORMED[case]
    with ScriptedServer(lambda body: reply) as server:
        result = rank_one(server, judge_kw={"template": "pairwise_logprob"} if "logprobs" in case else None)
    row = result.judgments.iloc[0]
    assert row["winner"] is None
    assert "PermanentBackendError" in row["error"] and field in row["error"], row["error"]


HARMLESS = {
    "content_parts": RawReply(completion_body(content=[{"type": "text", "text": "The first is right. "},
                                                       {"type": "text", "text": "[[A]]"}])),
    "prompt_tokens_float": RawReply(completion_body(usage={"prompt_tokens": 10.5, "completion_tokens": 2})),
    "usage_list": RawReply(completion_body(usage=[1, 2])),
    "finish_reason_int": RawReply(completion_body(finish_reason=1)),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", sorted(HARMLESS))
def test_harmless_oddities_are_read_or_dropped(case):
    with ScriptedServer(lambda body: HARMLESS[case]) as server:
        result = rank_one(server)
    row = result.judgments.iloc[0]
    assert row["winner"] == "a" and row["error"] is None
    if case in ("prompt_tokens_float", "usage_list"):
        assert row["prompt_tokens"] is None or math.isnan(row["prompt_tokens"])  # dropped, not 10.5
    if case == "content_parts":
        assert row["raw"] == "The first is right. [[A]]"


def test_one_reader_for_the_openai_and_litellm_backends():
    from prefjudge.backends.openai_backend import completion_from_json, completion_from_response

    good = completion_body(content=[{"type": "text", "text": "[[B]]"}], logprobs=_lp())
    assert completion_from_response(SimpleNamespace(model_dump=lambda: good)) == completion_from_json(good)
    assert completion_from_json(good).text == "[[B]]"
    for bad, field in [(completion_body(content=5), "content"), ({"choices": []}, "choices"), ([1], "JSON object")]:
        with pytest.raises(PermanentBackendError, match=field):
            completion_from_json(bad)
        with pytest.raises(PermanentBackendError, match=field):
            completion_from_response(SimpleNamespace(model_dump=lambda bad=bad: bad))


@pytest.mark.timeout(120)
def test_litellm_backend_types_malformed_replies():
    """litellm reads the body itself first: what it cannot read (here also content parts, which its
    Message type rejects) is a permanent failure of that call, not retried, never a crash."""
    replies = {"p1": RawReply(completion_body(content="[[B]]")),
               "p2": RawReply(completion_body(content=5)),
               "p3": RawReply(completion_body(content=[{"type": "text", "text": "[[B]]"}])),
               "p4": RawReply([1, 2])}
    pairs = [{**PAIR, "id": pid, "response_b": f"Lyon {pid}."} for pid in replies]

    def reply(body):
        return replies["p" + body["messages"][-1]["content"].split("Lyon p", 1)[1][0]]

    with ScriptedServer(reply) as server:
        judge = pj.Judge("openai/m", backend="litellm", base_url=server.base_url, api_key="x", max_retries=3,
                         retry_wait_s=0.01, reask=False)
        result = pj.rank_pairs(pairs, judges=[judge], order="fixed", progress=False)
        assert len(server.requests) == len(pairs)  # nothing retried
    j = result.judgments.set_index("pair_id")
    assert j.loc["p1", "winner"] == "b"
    for pid in ("p2", "p3", "p4"):
        assert j.loc[pid, "winner"] is None and "PermanentBackendError" in j.loc[pid, "error"], j.loc[pid, "error"]


@pytest.mark.timeout(60)
def test_unexpected_backend_exception_becomes_a_logged_typed_failure(caplog):
    from prefjudge.backends import Backend, register_backend

    class BuggyBackend(Backend):
        async def complete(self, messages, params):
            raise ValueError("bad float in reply")

    register_backend("buggy-test", BuggyBackend)
    judge = pj.Judge("m", backend="buggy-test", max_retries=3, reask=False)
    result = pj.rank_pairs([PAIR, {**PAIR, "id": "p2"}], judges=[judge], order="fixed", progress=False)
    errors = result.judgments["error"].tolist()
    assert all("PermanentBackendError" in e and "ValueError: bad float in reply" in e and "after 1 attempt" in e
               for e in errors), errors
    assert "bad float in reply" in caplog.text


@pytest.mark.timeout(60)
def test_cancelled_error_still_propagates():
    import asyncio

    from prefjudge.backends import Backend, register_backend
    from prefjudge.judging.engine import Engine
    from prefjudge.judging.store import Store

    class Cancelling(Backend):
        async def complete(self, messages, params):
            raise asyncio.CancelledError

    register_backend("cancelling-test", Cancelling)
    judge = pj.Judge("m", backend="cancelling-test")

    async def go():
        engine = Engine(Store(None))
        await engine.complete(judge, [{"role": "user", "content": "hi"}], engine.params(judge))

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(go())


# -- 2. Retry-After and retry waits -------------------------------------------------------------------
def test_retry_after_is_parsed_per_rfc_9110_and_clamped():
    from prefjudge.backends.errors_map import MAX_RETRY_AFTER_S, retry_after_seconds

    def ra(**h):
        return retry_after_seconds(httpx.Headers({k.replace("_", "-"): v for k, v in h.items()}))

    assert ra(retry_after="2") == 2.0
    assert ra(retry_after="0") == 0.0
    for bad in ("nan", "inf", "-inf", "soon", ""):
        assert ra(retry_after=bad) is None, bad
    assert ra(retry_after="-5") == 0.0
    assert ra(retry_after="100000") == MAX_RETRY_AFTER_S
    assert ra(retry_after_ms="nan", retry_after="1") == 1.0
    assert ra(retry_after_ms="1500") == 1.5
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 20.0 <= ra(retry_after=future) <= 31.0
    assert ra(retry_after=email.utils.formatdate(time.time() - 3600, usegmt=True)) == 0.0
    assert ra(retry_after=email.utils.formatdate(time.time() + 86400, usegmt=True)) == MAX_RETRY_AFTER_S
    assert retry_after_seconds(None) is None


def test_retry_waits_are_finite_and_capped():
    from prefjudge.backends.errors_map import MAX_RETRY_AFTER_S, MAX_RETRY_WAIT_S
    from prefjudge.judging.engine import retry_wait

    plain = TransientBackendError("x")
    for n in range(1, 12):
        w = retry_wait(plain, n, MAX_RETRY_WAIT_S, rng=lambda: 1.0)
        assert 0.0 < w <= MAX_RETRY_WAIT_S
    assert retry_wait(plain, 1, 0.5, rng=lambda: 0.0) == 0.5
    assert retry_wait(plain, 3, 0.5, rng=lambda: 0.0) == 2.0
    for odd, expected in [(math.nan, None), (math.inf, None), (-1.0, 0.0), (1e9, MAX_RETRY_AFTER_S), (3.0, 3.0)]:
        w = retry_wait(TransientBackendError("x", retry_after=odd), 1, 0.5, rng=lambda: 0.0)
        assert math.isfinite(w)
        assert w == (0.5 if expected is None else expected), odd


@pytest.mark.parametrize("field,value", [("retry_wait_s", 45.0), ("retry_wait_s", math.inf), ("retry_wait_s", math.nan),
                                         ("timeout", math.inf), ("timeout", math.nan), ("temperature", math.nan)])
def test_judge_rejects_non_finite_or_too_long_waits(field, value):
    with pytest.raises(ValueError, match=field):
        pj.Judge("m", **{field: value})


@pytest.mark.timeout(60)
@pytest.mark.parametrize("header", ["nan", "inf", "-3"])
def test_run_survives_odd_retry_after(header):
    replies = iter([RawReply({"error": {"message": "slow down"}}, status=429, headers={"Retry-After": header})])

    def reply(body):
        return next(replies, "[[A]]")

    with ScriptedServer(reply) as server:
        result = rank_one(server, judge_kw={"max_retries": 2, "retry_wait_s": 0.01})
        n = len(server.requests)
    assert result.judgments.iloc[0]["winner"] == "a"
    assert n == 2


# -- 3. unusable completions are failures, not finished calls -----------------------------------------
UNUSABLE = {
    "null_content": (RawReply(completion_body(content=None)), None),
    "blank_content": (RawReply(completion_body(content="  \n")), None),
    "length_empty": (RawReply(completion_body(content="", finish_reason="length")), None),
    "logprob_null": (RawReply(completion_body(content=None)), "pairwise_logprob"),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", sorted(UNUSABLE))
def test_unusable_completion_is_not_stored_and_a_rerun_calls_again(tmp_path, case):
    bad, template = UNUSABLE[case]
    kw = {"template": template} if template else {}
    store = tmp_path / "s.db"
    with ScriptedServer(lambda body: bad) as server:
        first = rank_one(server, store=store, judge_kw=kw)
    row = first.judgments.iloc[0]
    assert row["winner"] is None and "PermanentBackendError" in row["error"] and "usable" in row["error"]
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM failures").fetchone()[0] == 1
    good = RawReply(completion_body(content="A", logprobs=_lp())) if template else "[[A]]"
    with ScriptedServer(lambda body: good) as server:
        second = rank_one(server, store=store, judge_kw=kw)
        assert len(server.requests) == 1
    assert second.judgments.iloc[0]["winner"] == "a"


@pytest.mark.timeout(60)
def test_logprobs_without_text_are_usable_in_logprob_mode(tmp_path):
    with ScriptedServer(lambda body: RawReply(completion_body(content=None, logprobs=_lp()))) as server:
        result = rank_one(server, store=tmp_path / "s.db", judge_kw={"template": "pairwise_logprob"})
    row = result.judgments.iloc[0]
    assert row["winner"] == "a" and row["p_a"] > 0.5


@pytest.mark.timeout(60)
def test_an_old_store_row_with_empty_text_is_called_again(tmp_path):
    from prefjudge.judging.engine import Engine
    from prefjudge.judging.pairs import normalize_pairs
    from prefjudge.judging.store import Store
    from prefjudge.types import Completion

    store = tmp_path / "s.db"
    with ScriptedServer(lambda body: "[[B]]") as server:
        judge = pj.Judge("m", base_url=server.base_url, api_key="x", reask=False)
        pair = normalize_pairs([PAIR])[0]
        with Store(store) as st:
            engine = Engine(st)
            key, req = engine.request(judge, judge.render(pair, "ab"), engine.params(judge), "judge")
            st.put(key, kind="judge", backend="openai", model="m", request_json=req, completion=Completion(text=""),
                   latency_s=0.1, cost_usd=None)
        result = pj.rank_pairs([PAIR], judges=[judge], order="fixed", store=store, progress=False)
        assert len(server.requests) == 1
    assert result.judgments.iloc[0]["winner"] == "b"


# -- 4. the cache key covers the endpoint ---------------------------------------------------------------
@pytest.mark.timeout(60)
def test_same_model_on_another_server_is_called_not_replayed(tmp_path):
    store = tmp_path / "s.db"
    with ScriptedServer(lambda body: "[[A]]") as one, ScriptedServer(lambda body: "[[B]]") as two:
        first = rank_one(one, store=store)
        second = rank_one(two, store=store)
        assert len(two.requests) == 1
        again = rank_one(two, store=store)
        assert len(two.requests) == 1  # the second server's own verdict is replayed
    assert first.judgments.iloc[0]["winner"] == "a"
    assert second.judgments.iloc[0]["winner"] == "b" and again.judgments.iloc[0]["winner"] == "b"
    assert again.meta["n_calls_cached"] == 1


def test_key_is_unchanged_for_hosted_apis_and_ignores_url_credentials():
    from prefjudge.judging.engine import Engine
    from prefjudge.judging.store import Store, request_hash

    messages = [{"role": "user", "content": "hi"}]
    judge = pj.Judge("gpt-4o-mini", api_key="k", params={"seed": 1})
    engine = Engine(Store(None))
    params = engine.params(judge)
    key, _ = engine.request(judge, messages, params, "judge")
    prefix = json.dumps({"backend": "openai", "model": "gpt-4o-mini", "params": params.model_dump(mode="json"),
                         "template": judge.load_template().sha256, "kind": "judge"}, sort_keys=True)
    old = request_hash('{"call":' + prefix + ',"messages":' + json.dumps(messages, separators=(",", ":")) + "}")
    assert key == old
    plain = pj.Judge("m", base_url="http://127.0.0.1:9/v1")
    creds = pj.Judge("m", base_url="http://user:pw-SECRET-1@127.0.0.1:9/v1")
    other = pj.Judge("m", base_url="http://127.0.0.1:10/v1")
    k_plain, _ = engine.request(plain, messages, engine.params(plain), "judge")
    k_creds, req = engine.request(creds, messages, engine.params(creds), "judge")
    k_other, _ = engine.request(other, messages, engine.params(other), "judge")
    assert k_plain == k_creds != k_other and k_plain != key
    assert "pw-SECRET-1" not in req


# -- 5. templates ---------------------------------------------------------------------------------------
TEMPLATE = "=== user ===\n{{question}}\nA: {{answer_a}}\nB: {{answer_b}}\n%s\n"


def test_edited_template_file_is_read_again(tmp_path):
    from prefjudge.judging.templates import load_template

    path = tmp_path / "t.txt"
    path.write_text(TEMPLATE % "Say [[A]] or [[B]].")
    first = load_template(str(path))
    path.write_text(TEMPLATE % "Now answer with [[A]] or [[B]] only, please.")
    second = load_template(str(path))
    assert "only, please" in second.user and second.sha256 != first.sha256
    assert load_template(str(path)) is second  # unchanged file: cached


def test_non_utf8_template_is_a_config_error_naming_the_path(tmp_path):
    from prefjudge.judging.templates import load_template

    path = tmp_path / "latin1.txt"
    path.write_bytes((TEMPLATE % "Réponse: [[A]] ou [[B]]").encode("latin-1"))
    with pytest.raises(ConfigError, match="latin1.txt"):
        load_template(str(path))


# -- 6. extra_headers / extra_body / extra_query -----------------------------------------------------------
HEADER_SECRET = "hdr-SECRET-value-42"
EXTRA = {"seed": 7, "extra_headers": {"X-Team-Token": HEADER_SECRET}, "extra_body": {"top_k": 3},
         "extra_query": {"api-version": "2024-01"}}


@pytest.mark.timeout(60)
def test_openai_backend_applies_extra_headers_body_and_query(tmp_path):
    store = tmp_path / "s.db"
    with ScriptedServer(lambda body: "[[A]]") as server:
        result = rank_one(server, store=store, judge_kw={"params": EXTRA})
        body, query = server.requests[0], server.queries[0]
        headers = {k.lower(): v for k, v in server.headers[0].items()}
    assert result.judgments.iloc[0]["winner"] == "a"
    assert body["top_k"] == 3 and body["seed"] == 7
    assert not {"extra_headers", "extra_body", "extra_query"} & set(body)
    assert headers.get("x-team-token") == HEADER_SECRET
    assert query.get("api-version") == "2024-01"
    assert HEADER_SECRET.encode() not in b"".join(p.read_bytes() for p in tmp_path.glob("s.db*"))


@pytest.mark.timeout(120)
def test_litellm_backend_applies_extra_headers_and_body():
    with ScriptedServer(lambda body: "[[A]]") as server:
        judge = pj.Judge("openai/m", backend="litellm", base_url=server.base_url, api_key="x", max_retries=0,
                         reask=False, params={k: v for k, v in EXTRA.items() if k != "extra_query"})
        result = pj.rank_pairs([PAIR], judges=[judge], order="fixed", progress=False)
        body = server.requests[0]
        headers = {k.lower(): v for k, v in server.headers[0].items()}
    assert result.judgments.iloc[0]["winner"] == "a"
    assert body["top_k"] == 3 and "extra_body" not in body and "extra_headers" not in body
    assert headers.get("x-team-token") == HEADER_SECRET


def test_litellm_backend_refuses_extra_query():
    """litellm has no query option: it would send extra_query as a body key, so it is refused."""
    judge = pj.Judge("openai/m", backend="litellm", base_url="http://127.0.0.1:9/v1", params={"extra_query": {"a": "1"}})
    with pytest.raises(ConfigError, match="extra_query"):
        pj.rank_pairs([PAIR], judges=[judge], order="fixed", progress=False)


def test_headers_stay_out_of_the_key_and_the_repr():
    from prefjudge.judging.engine import Engine
    from prefjudge.judging.store import Store

    messages = [{"role": "user", "content": "hi"}]

    def request(judge):  # one engine per run, and a run's judge names are unique
        engine = Engine(Store(None))
        return engine.request(judge, messages, engine.params(judge), "judge")

    with_h = pj.Judge("m", base_url="http://127.0.0.1:9/v1", params=EXTRA)
    without = pj.Judge("m", base_url="http://127.0.0.1:9/v1", params={k: v for k, v in EXTRA.items() if k != "extra_headers"})
    k1, req = request(with_h)
    assert k1 == request(without)[0] and HEADER_SECRET not in req
    for changed in ({"extra_body": {"top_k": 4}}, {"extra_query": {"api-version": "2025-01"}}, {"seed": 8}):
        assert request(pj.Judge("m", base_url="http://127.0.0.1:9/v1", params={**EXTRA, **changed}))[0] != k1
    assert HEADER_SECRET not in repr(with_h) and HEADER_SECRET not in str(with_h)
    assert "X-Team-Token" in repr(with_h)


def test_client_options_must_be_mappings():
    with pytest.raises(ValueError, match="extra_headers"):
        pj.Judge("m", params={"extra_headers": ["X-A: 1"]})
    with pytest.raises(ValueError, match="extra_body"):
        pj.Judge("m", params={"extra_body": "top_k=3"})


def test_setup_errors_fail_before_the_first_call(tmp_path, monkeypatch):
    """A missing api_key_env variable or an unknown backend is a ConfigError before any call (and no store is written)."""
    import prefjudge as pj
    from prefjudge.errors import ConfigError

    monkeypatch.delenv("PJ_TEST_MISSING_KEY", raising=False)
    pairs = [{"prompt": "q", "response_a": "x", "response_b": "y"}]
    store = tmp_path / "s.db"
    with pytest.raises(ConfigError, match="PJ_TEST_MISSING_KEY"):
        pj.rank_pairs(pairs, judges=[pj.Judge("m", base_url="http://127.0.0.1:9/v1", api_key_env="PJ_TEST_MISSING_KEY")],
                      store=store, progress=False)
    with pytest.raises(ConfigError, match="unknown backend 'nope'"):
        pj.rank_pairs(pairs, judges=[pj.Judge("m", backend="nope")], store=store, progress=False)
    with pytest.raises(ConfigError, match="PJ_TEST_MISSING_KEY"):
        pj.generate([{"prompt": "q"}], generators=[pj.Generator("g", base_url="http://127.0.0.1:9/v1",
                                                                 api_key_env="PJ_TEST_MISSING_KEY")], n=1)
    assert not store.exists()
