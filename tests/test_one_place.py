"""Each small concept lives in one place: prompt text, content ids, sigmoid, strict config base, CLI fail.

Also: the dead code the re-layering issue listed stays gone, and the judge sees a pair's system
prompt once (over real HTTP to the scripted test server).
"""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
from typer.testing import CliRunner

import prefjudge as pj
from prefjudge.testing.scripted import ScriptedServer

# -- prompt_text ---------------------------------------------------------------------------------

def test_prompt_text_is_one_function_for_pairs_and_curation():
    from prefjudge.content import prompt_text
    from prefjudge.formatting import rows
    from prefjudge.types import Pair

    assert not hasattr(rows, "prompt_text")  # curation imports prefjudge.content's
    chat = [{"role": "system", "content": "S"}, {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Bye"}]
    pair = Pair(id="x", prompt=chat, response_a="a", response_b="b")
    assert pair.prompt_text() == prompt_text(chat) == "User: Hi\n\nAssistant: Hello\n\nUser: Bye"
    assert Pair(id="y", prompt=chat[:2], response_a="a", response_b="b").prompt_text() == "Hi"


def _judge_requests(pair: dict) -> list[dict]:
    with ScriptedServer(lambda body: "Fine.\n[[A]]") as server:
        pj.rank_pairs([pair], judges=[pj.Judge("j", base_url=server.base_url, api_key="x")], order="fixed")
        return list(server.requests)


def test_judge_shows_the_pairs_system_prompt_once():
    system = "Answer like a pirate, SYSTEM-MARK."
    pair = {"prompt": [{"role": "system", "content": system}, {"role": "user", "content": "Where is the gold?"}],
            "response_a": "Arr, buried.", "response_b": "No idea.", "system": system}
    (body,) = _judge_requests(pair)
    user = body["messages"][-1]["content"]
    assert user.count("SYSTEM-MARK") == 1
    assert "[System Prompt]\n" + system in user
    assert "[User Question]\nWhere is the gold?\n" in user


def test_judge_shows_a_system_message_of_the_prompt_as_the_system_prompt():
    pair = {"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}],
            "response_a": "4", "response_b": "four, I believe"}
    (body,) = _judge_requests(pair)
    user = body["messages"][-1]["content"]
    assert "[System Prompt]\nBe brief.\n\n[User Question]\n2+2?\n" in user
    assert "System: " not in user


# -- content_id ----------------------------------------------------------------------------------

def test_content_ids_are_unchanged_and_come_from_one_function():
    from prefjudge import content
    from prefjudge.formatting import rows
    from prefjudge.judging import pairs
    from prefjudge.judging.pairs import normalize_pairs

    assert not hasattr(rows, "content_id")
    assert pairs.content_id is content.content_id
    # pair ids seed the display orders (and so the stored requests): the same ids as before
    ps = normalize_pairs([
        {"prompt": "2+2?", "response_a": "4", "response_b": "5"},
        {"prompt": "Grüße?", "response_a": "Hallo", "response_b": "Tschüss", "system": "Sei nett"},
        {"prompt": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q", "name": "u"}],
         "response_a": "x", "response_b": "y"},
    ])
    assert [p.id for p in ps] == ["4f0f5898d3850194", "8f5eb28e0c38306b", "c03ec476c1e9a97a"]
    # curation ids (row ids, prompt ids) as before too
    assert content.content_id("2+2?", "4", "5") == "1858efc0c7c9221b"
    assert content.content_id("Grüße?", "Hallo", "Tschüss") == "c306e9491327f2b3"
    assert content.content_id([{"role": "user", "content": "Q"}], "x", "y") == "2197ea520a457a36"
    assert content.content_id("Q", None) == "cea55f704424ece5"


# -- sigmoid -------------------------------------------------------------------------------------

def test_one_stable_sigmoid_for_scalars_and_arrays():
    from prefjudge.mathutil import sigmoid

    assert sigmoid(0.0) == 0.5
    assert sigmoid(-1000.0) == 0.0 and sigmoid(1000.0) == 1.0  # no OverflowError
    assert sigmoid(2.0) == pytest.approx(1 / (1 + math.exp(-2.0)), rel=1e-15)
    x = np.array([-800.0, -3.0, 0.0, 3.0, 800.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = sigmoid(x)
    np.testing.assert_allclose(out, [0.0, 1 / (1 + math.exp(3)), 0.5, 1 / (1 + math.exp(-3)), 1.0], rtol=1e-14)


@pytest.mark.parametrize("module, local", [
    ("prefjudge.testing.sim", "sigmoid"),
    ("prefjudge.stats.lc", "_sigmoid"),
])
def test_no_private_sigmoid_copies(module, local):
    from prefjudge.mathutil import sigmoid

    got = getattr(importlib.import_module(module), local, sigmoid)
    assert got is sigmoid


# -- strict config base --------------------------------------------------------------------------

@pytest.mark.parametrize("module", ["prefjudge.curate.config", "prefjudge.train.config"])
def test_config_models_share_one_strict_base(module):
    from pydantic import BaseModel, ValidationError

    from prefjudge.config_base import StrictModel as Strict

    mod = importlib.import_module(module)
    assert not hasattr(mod, "_Strict")
    models = [v for v in vars(mod).values()
              if isinstance(v, type) and issubclass(v, BaseModel) and v.__module__ == module]
    assert models and all(issubclass(m, Strict) for m in models)
    with pytest.raises(ValidationError):
        models[0].model_validate({"surely_not_a_field": 1})


# -- CLI fail ------------------------------------------------------------------------------------

def test_one_cli_fail_helper(tmp_path):
    from prefjudge.cli import app
    from prefjudge.cli import train as train_cli

    assert not hasattr(train_cli, "_fail")
    result = CliRunner().invoke(app, ["train", "dpo", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2
    assert "error: " in result.output and "missing.yaml" in result.output


# -- dead code -----------------------------------------------------------------------------------

@pytest.mark.parametrize("module, name", [
    ("prefjudge.errors", "RetriesExhausted"),
    ("prefjudge.types", "PairOutcome"),
    ("prefjudge.aggregation.jury", "Aggregator"),
    ("prefjudge.aggregation.agreement", "pairwise_agreement"),
    ("prefjudge.stats.intervals", "wilson_arrays"),
    ("prefjudge.stats.bt", "win_probability"),
    ("prefjudge.curate.filters", "filter_from_config"),
    ("prefjudge.train.sources", "_first"),
    ("prefjudge.train.memory", "NO_BF16"),
    ("prefjudge.cli.common", "echo_err"),
])
def test_dead_code_is_gone(module, name):
    assert not hasattr(importlib.import_module(module), name)
