"""The local transformers backend on a tiny model built here (no download)."""

from __future__ import annotations

import pytest

import prefjudge as pj

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from prefjudge.testing import build_tiny_model

    return str(build_tiny_model(tmp_path_factory.mktemp("tiny") / "judge"))


PAIRS = [{"prompt": f"Question {i}?", "response_a": f"First answer {i}.", "response_b": f"Second answer number {i}."} for i in range(6)]


def test_logprob_mode_gives_soft_preferences(tiny_model):
    judge = pj.Judge(tiny_model, backend="transformers", template="pairwise_logprob", name="tiny")
    result = pj.rank_pairs(PAIRS, judges=[judge], order="both", seed=0)
    j = result.judgments
    assert len(j) == 12 and j["error"].isna().all()
    assert j["p_a"].between(0.0, 1.0).all()
    # both orders of the same pair: p_a is the complement-mapped P(first), so a/b stay consistent in meaning
    assert ((j["p_a"] > 0.5) == (j["winner"] == "a")).all()
    assert j["prompt_tokens"].gt(0).all()


def test_verdict_mode_failures_are_typed_and_keep_the_raw_text(tiny_model):
    judge = pj.Judge(tiny_model, backend="transformers", max_tokens=6, name="tiny")
    result = pj.rank_pairs(PAIRS[:3], judges=[judge], order="fixed")
    j = result.judgments
    assert len(j) == 3
    for row in j.itertuples():
        assert isinstance(row.raw, str)  # generated text is kept, parsed or not
        if row.winner is None:
            assert isinstance(row.error, str) and row.error
        else:
            assert row.winner in ("a", "b", "tie")


def test_missing_local_model_stops_before_the_run_naming_the_path(tmp_path):
    """Issue 12: it used to fail every call (a failed verdict per pair); preflight refuses it first."""
    from prefjudge.errors import ConfigError

    missing = str(tmp_path / "nope")
    judge = pj.Judge(missing, backend="transformers", name="missing", max_retries=0)
    store = tmp_path / "store.db"
    with pytest.raises(ConfigError, match=rf"judge 'missing': cannot load local model '{missing}': no such folder"):
        pj.rank_pairs(PAIRS[:2], judges=[judge], order="fixed", store=str(store))
    assert not store.exists()  # stopped before the run began


def test_a_folder_that_is_not_a_model_is_refused_in_preflight(tmp_path, tiny_model):
    import shutil

    from prefjudge.backends.endpoint import Endpoint
    from prefjudge.errors import ConfigError

    broken = tmp_path / "no-weights"
    shutil.copytree(tiny_model, broken)
    for f in broken.glob("*.safetensors"):
        f.unlink()
    with pytest.raises(ConfigError, match=rf"cannot load local model '{broken}': the folder has no weights"):
        Endpoint(model=str(broken), backend="transformers").preflight()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no config.json; no tokenizer files"):
        Endpoint(model=str(tmp_path / "empty"), backend="transformers").preflight()
    with pytest.raises(ConfigError, match="cannot load local model 'nobody/not-cached'"):
        Endpoint(model="nobody/not-cached", backend="transformers").preflight()  # offline, not in the Hub cache
    Endpoint(model=tiny_model, backend="transformers").preflight()  # a real model passes


def test_answers_cut_at_max_tokens_finish_with_length(tiny_model):
    import asyncio

    from prefjudge.backends.base import CallParams
    from prefjudge.backends.endpoint import Endpoint
    from prefjudge.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(Endpoint(model=tiny_model, backend="transformers"))
    model, tok = backend._load()
    model.generation_config.eos_token_id = None  # a random tiny model: make sure nothing ends early
    messages = [{"role": "user", "content": "Question 1?"}]

    async def go():
        try:
            return await backend.complete(messages, CallParams(max_tokens=3))
        finally:
            await backend.aclose()

    done = asyncio.run(go())
    assert done.completion_tokens == 3 and done.finish_reason == "length"


def test_finish_reasons():
    from prefjudge.backends.transformers_backend import finish_reasons

    assert finish_reasons([[4, 5, 2], [4, 5, 6], [2, 0, 0]], {2}, 3) == ["stop", "length", "stop"]
    assert finish_reasons([[4, 5, 9]], {2, 9}, 8) == ["stop"]  # any end-of-sequence id (a list in generation_config)
