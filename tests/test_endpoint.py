"""Endpoint: judges and generators hold one; a backend is built from it and sees nothing else."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

import prefjudge as pj
from prefjudge.backends import Backend, register_backend
from prefjudge.backends.endpoint import TRANSPORT_FIELDS, Endpoint, EndpointSettings
from prefjudge.types import Completion

SEEN: list = []


class RecordingBackend(Backend):
    """Answers [[A]] and records what it was built from and what each call carried."""

    def __init__(self, endpoint):
        super().__init__(endpoint)
        SEEN.append(("built", endpoint))

    async def complete(self, messages, params):
        SEEN.append(("call", messages, params))
        return Completion(text="[[A]]" if "[[A]]" in messages[-1]["content"] else "ok")


register_backend("recording-test", RecordingBackend)


def test_a_backend_is_built_from_an_endpoint_and_never_sees_the_judge(tmp_path):
    SEEN.clear()
    judge = pj.Judge("m-1", backend="recording-test", name="strict", template="pairwise", timeout=7.0)
    res = pj.rank_pairs([{"prompt": "q", "response_a": "x", "response_b": "y"}], judges=[judge], progress=False,
                        store=tmp_path / "s.db")
    assert res.outcomes["winner"].notna().all()
    built = [s[1] for s in SEEN if s[0] == "built"]
    assert len(built) == 1 and type(built[0]) is Endpoint
    endpoint = built[0]
    assert (endpoint.model, endpoint.backend, endpoint.timeout, endpoint.label) == ("m-1", "recording-test", 7.0, "strict")
    for judging_field in ("template", "mode", "reask", "name", "family", "temperature"):
        assert not hasattr(endpoint, judging_field), judging_field
    calls = [s for s in SEEN if s[0] == "call"]
    assert calls and all(isinstance(m, list) and all(set(x) == {"role", "content"} for x in m) for _, m, _ in calls)


def test_generators_are_not_judges_and_carry_the_same_endpoint_fields():
    gen = pj.Generator("llama-3.1-8b", base_url="http://127.0.0.1:8000/v1", api_key_env="PJ_X", rpm=60, temperature=0.7)
    assert not isinstance(gen, pj.Judge) and not isinstance(pj.Judge("m"), pj.Generator)
    assert gen.endpoint.model_dump() == Endpoint(model="llama-3.1-8b", base_url="http://127.0.0.1:8000/v1", api_key_env="PJ_X",
                                                 rpm=60).model_dump()
    assert gen.name == "llama-3.1-8b" and gen.family == "meta"
    with pytest.raises(ValidationError, match="template"):
        pj.Generator("m", template="pairwise")  # judging settings are not a generator's
    # the transport fields are declared once and shared
    for cls in (pj.Judge, pj.Generator, Endpoint):
        assert issubclass(cls, EndpointSettings)
        assert set(TRANSPORT_FIELDS) <= set(cls.model_fields)
    assert set(EndpointSettings.model_fields) == set(TRANSPORT_FIELDS)


def test_flat_judge_settings_still_make_a_judge_and_its_endpoint(monkeypatch):
    monkeypatch.setenv("PJ_TEST_ENDPOINT_KEY", "sk-endpoint-secret-123")
    judge = pj.Judge(**{"model": "qwen", "base_url": "http://user:pw-secret@127.0.0.1:8000/v1",
                        "api_key_env": "PJ_TEST_ENDPOINT_KEY", "params": {"extra_headers": {"X-Token": "hdr-secret-456"}}})
    e = judge.endpoint
    assert e.resolved_api_key() == judge.resolved_api_key() == "sk-endpoint-secret-123"
    assert e.where() == "http://127.0.0.1:8000/v1"
    assert {"sk-endpoint-secret-123", "pw-secret", "hdr-secret-456"} <= e.secrets()
    for text in (repr(e), repr(judge)):
        assert "pw-secret" not in text and "sk-endpoint" not in text and "hdr-secret" not in text
    # an update is seen by the endpoint (it is derived, never a stale copy)
    assert judge.model_copy(update={"base_url": "http://127.0.0.1:9/v1"}).endpoint.where() == "http://127.0.0.1:9/v1"


def test_endpoint_preflight_names_the_judge():
    with pytest.raises(pj.ConfigError, match="judge 'mine'.*PJ_TEST_UNSET_VAR"):
        pj.Judge("m", name="mine", api_key_env="PJ_TEST_UNSET_VAR").preflight()
    with pytest.raises(pj.ConfigError, match="unknown backend 'nope'"):
        pj.Generator("m", backend="nope").preflight()
