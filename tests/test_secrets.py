"""Keys and URL credentials never reach the store, the judgments, the meta, the logs or a repr."""

from __future__ import annotations

import json
import logging

import pytest

import prefjudge as pj
from prefjudge.testing.scripted import RawReply, ScriptedServer

KEY = "sk-live-SECRETKEY-0123456789abcdef"
ENV_KEY = "envkey-SECRET-9876543210"
URL_PASSWORD = "urlpw-SECRET-55"
PAIRS = [{"id": f"p{i}", "prompt": "Capital of France?", "response_a": "Paris.", "response_b": f"Lyon {i}."}
         for i in range(3)]


def test_redact_text():
    from prefjudge.secrets import redact, redact_url

    assert redact_url("https://user:pass@host.example/v1") == "https://***@host.example/v1"
    assert redact_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    assert redact_url("https://host/v1?api-key=abc123&x=1") == "https://host/v1?api-key=***&x=1"
    assert redact_url(None) is None
    text = (f"Incorrect API key provided: {KEY}. headers={{'Authorization': 'Bearer tok-abcdefgh123'}} "
            "api-key: azure-key-999 url=https://bob:hunter2@h/v1 x-api-key=anthropic-777")
    out = redact(text)
    for secret in (KEY, "tok-abcdefgh123", "azure-key-999", "hunter2", "anthropic-777"):
        assert secret not in out, (secret, out)
    assert "Incorrect API key provided" in out and "https://***@h/v1" in out
    assert redact("custom-secret-value in text", ["custom-secret-value"]) == "*** in text"
    assert redact("ordinary text, 42 tokens, finish_reason=stop") == "ordinary text, 42 tokens, finish_reason=stop"


def test_judge_repr_and_meta_hide_url_credentials(monkeypatch):
    from prefjudge.judging.rank_pairs import judge_meta

    judge = pj.Judge("m", base_url=f"http://user:{URL_PASSWORD}@127.0.0.1:9/v1", api_key=KEY)
    for text in (repr(judge), str(judge), json.dumps(judge_meta(judge))):
        assert URL_PASSWORD not in text and KEY not in text
        assert "127.0.0.1:9" in text


@pytest.mark.timeout(120)
def test_echoed_key_never_reaches_store_judgments_meta_logs_or_repr(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("PJ_TEST_SECRET_KEY", ENV_KEY)

    def reply(body):
        auth = server.headers[-1].get("Authorization", "")
        return RawReply({"error": {"message": f"Incorrect API key provided: {KEY} / {ENV_KEY}; got {auth}; "
                                              f"password {URL_PASSWORD}", "type": "invalid_request_error",
                                   "code": "invalid_api_key"}}, status=401)

    store = tmp_path / "s.db"
    with ScriptedServer(reply) as server:
        host = server.base_url.split("://", 1)[1]
        judges = [
            pj.Judge("m", base_url=server.base_url, api_key=KEY, name="plain-key", reask=False),
            pj.Judge("m", base_url=server.base_url, api_key_env="PJ_TEST_SECRET_KEY", name="env-key", reask=False),
            pj.Judge("m", base_url=f"http://user:{URL_PASSWORD}@{host}", api_key=KEY, name="url-creds", reask=False,
                     max_retries=0),
            pj.Judge("openai/m", backend="litellm", base_url=server.base_url, api_key=KEY, name="litellm", reask=False),
        ]
        result = pj.rank_pairs(PAIRS, judges=judges, order="fixed", store=store, progress=False)
        assert len(server.requests) == len(PAIRS) * len(judges)  # 401 is not retried
        basic = [h["Authorization"] for h in server.headers if h.get("Authorization", "").startswith("Basic ")]
        assert len(basic) == len(PAIRS)  # URL credentials went as a Basic header, not in the URL
    out = tmp_path / "j.jsonl"
    pj.write_judgments(result.judgments, out)
    errors = result.judgments["error"].tolist()
    assert all("AuthenticationError" in e for e in errors), errors
    assert any("Incorrect API key provided" in e for e in errors)
    places = {
        "store": b"".join(p.read_bytes() for p in tmp_path.glob("s.db*")).decode("latin-1"),
        "judgments": result.judgments.to_json(),
        "jsonl": out.read_text(),
        "meta": json.dumps(result.meta, default=str),
        "logs": caplog.text,
        "repr": " ".join(repr(j) + str(j) for j in judges),
    }
    assert "Incorrect API key provided" in places["store"]  # the failures were recorded, redacted
    for where, text in places.items():
        for secret in (KEY, ENV_KEY, URL_PASSWORD):
            assert secret not in text, (where, secret)
