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


def test_missing_local_model_is_a_failed_verdict_not_a_crash(tmp_path):
    judge = pj.Judge(str(tmp_path / "nope"), backend="transformers", name="missing", max_retries=0)
    result = pj.rank_pairs(PAIRS[:2], judges=[judge], order="fixed")
    assert result.judgments["winner"].isna().all()
    assert result.judgments["error"].str.contains("cannot load local model").all()
