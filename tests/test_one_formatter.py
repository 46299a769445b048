"""One formatter and one chat renderer for curation (export) and training.

The same preference row formatted by ``to_preferences`` + ``export`` and by the training data
pipeline gives the same prompt, and answers that differ only by the end-of-turn token TRL appends
itself; the system prompt is kept in every format; and there is one definition of each formatting
and rendering function in the package.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import prefjudge
import prefjudge.curate as pc
from prefjudge.errors import InputError
from prefjudge.formatting.chat_templates import eos_token, render_prompt
from prefjudge.train import data as D
from prefjudge.train.config import DataConfig

ROW = {"system": "Be brief.", "prompt": "2+2?", "chosen": "Four.", "rejected": "Five, I think."}
NAMED = ["chatml", "zephyr", "alpaca"]


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory):
    from transformers import AutoTokenizer

    from prefjudge.train.tiny_model import build_tiny_model

    root = tmp_path_factory.mktemp("tiny")
    return {f"tokenizer-{n}": AutoTokenizer.from_pretrained(build_tiny_model(root / n, chat_template=n))
            for n in ("chatml", "zephyr")}


def _template(name: str, tokenizers: dict):
    return tokenizers.get(name, name)


def _eos(name: str, tokenizers: dict) -> str:
    return tokenizers[name].eos_token if name in tokenizers else eos_token(name)


def _exported(tmp_path: Path, rows: list[dict], **kwargs) -> Path:
    return pc.export(pc.to_preferences(rows, **kwargs), tmp_path / "export", format="jsonl")


def _read_back(folder: Path) -> list[dict]:
    (data,) = (folder / "data").glob("*.jsonl")
    return [json.loads(line) for line in data.read_text().splitlines()]


def _training(rows: list[dict], template, fmt: str = "standard") -> list[dict]:
    turns = D.map_rows(rows, "preference").turns
    if hasattr(template, "apply_chat_template"):
        return D.format_rows(turns, fmt, tokenizer=template)
    return D.format_rows(turns, fmt, template=template)


def _trl_answer(answer: str, eos: str) -> str:
    """What TRL 1.16's DPOTrainer trains on in the standard format: the eos token appended unless there."""
    return answer if answer.endswith(eos) else answer + eos


@pytest.mark.parametrize("name", [*NAMED, "tokenizer-chatml", "tokenizer-zephyr"])
def test_curation_export_and_training_give_the_same_text(tmp_path, tokenizers, name):
    template, eos = _template(name, tokenizers), _eos(name, tokenizers)
    (curated,) = _read_back(_exported(tmp_path, [ROW], chat_template=template))
    (trained,) = _training([ROW], template)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}]
    # the prompt ends where the answer begins: the generation prompt is in it, the same text generation renders
    assert curated["prompt"] == trained["prompt"] == render_prompt(template, messages)
    assert "Be brief." in curated["prompt"]
    # the export spells the end-of-turn token out; training leaves it to TRL: the same text is trained on
    for key in ("chosen", "rejected"):
        assert curated[key] == ROW[key] + eos and trained[key] == ROW[key]
        assert _trl_answer(curated[key], eos) == _trl_answer(trained[key], eos) == ROW[key] + eos
    # an export made with the template, trained on as already rendered, is used verbatim
    (again,) = D.format_rows(D.map_rows(D.read_rows(DataConfig(path=str(tmp_path / "export"))), "preference").turns,
                             "standard", template="none")
    assert again == {k: curated[k] for k in ("prompt", "chosen", "rejected")}


@pytest.mark.parametrize("name", NAMED)
def test_a_plain_export_trained_with_a_template_keeps_its_system_prompt(tmp_path, name):
    # standard, no template: the system prompt is folded into the prompt text (TRL reads no system column)
    folder = _exported(tmp_path, [ROW])
    rows = D.read_rows(DataConfig(path=str(folder)))
    assert rows[0]["prompt"] == "Be brief.\n\n2+2?" and "system" not in rows[0]
    (trained,) = D.format_rows(D.map_rows(rows, "preference").turns, "standard", template=name)
    assert trained["prompt"].count("Be brief.") == 1
    # to keep it a system message for a template applied at training time, export conversational
    (conv,) = D.format_rows(D.map_rows(D.read_rows(DataConfig(path=str(_exported(tmp_path / "conv", [ROW], format="conversational")))),
                                       "preference").turns, "standard", template=name)
    (direct,) = _read_back(_exported(tmp_path / "direct", [ROW], chat_template=name))
    assert conv["prompt"] == direct["prompt"]


def test_conversational_rows_are_the_same_for_curation_and_training(tmp_path):
    (curated,) = _read_back(_exported(tmp_path, [ROW], format="conversational"))
    (trained,) = _training([ROW], None, fmt="conversational")
    assert curated["prompt"] == trained["prompt"] == [{"role": "system", "content": "Be brief."},
                                                      {"role": "user", "content": "2+2?"}]
    assert curated["chosen"] == trained["chosen"] == [{"role": "assistant", "content": "Four."}]


# -- the system prompt ---------------------------------------------------------------------------

INNER = [{"role": "system", "content": "INNER-SYSTEM"}, {"role": "user", "content": "Hi"}]


@pytest.mark.parametrize("system", [None, "OUTER-SYSTEM"])
@pytest.mark.parametrize("fmt, template", [("standard", None), ("conversational", None), *[("standard", n) for n in NAMED]])
def test_a_system_prompt_is_kept_in_every_format(system, fmt, template):
    row = {"prompt": INNER, "system": system, "chosen": "Hello.", "rejected": "Go."}
    curated = pc.to_preferences([row], format=fmt, chat_template=template)[0]
    trained = D.format_rows(D.map_rows([row], "preference").turns, fmt, template=template)[0]
    marks = ["INNER-SYSTEM"] + ([system] if system else [])
    for out in (curated, trained):
        text = json.dumps({k: out[k] for k in ("prompt", "system") if k in out})
        assert all(text.count(m) == 1 for m in marks), out
    if fmt == "conversational":
        assert trained["prompt"][0]["role"] == curated["prompt"][0]["role"] == "system"
        assert trained["prompt"] == curated["prompt"]
    if template is not None:
        assert trained["prompt"] == curated["prompt"]


def test_the_plain_standard_format_keeps_a_system_message_of_the_prompt():
    """It used to drop it: the prompt text leaves system messages out and no system column was written."""
    ps = pc.to_preferences([{"prompt": INNER, "chosen": "Hello.", "rejected": "Go."}])
    assert ps[0]["prompt"] == "INNER-SYSTEM\n\nHi" and "system" not in ps.column_names  # folded: TRL drops a system column
    turns = D.map_rows([{"prompt": INNER, "chosen": "Hello.", "rejected": "Go."}], "preference").turns
    assert D.format_rows(turns, "standard") == [{"prompt": "Hi", "chosen": "Hello.", "rejected": "Go.",
                                                 "system": "INNER-SYSTEM"}]


@pytest.mark.parametrize("empty", ["", None])
def test_an_empty_system_prompt_is_no_system_prompt(empty):
    rows = [dict(ROW, system=empty), dict(ROW, prompt="3+3?", system="Be kind.")]
    plain = pc.to_preferences(rows).dataset
    assert plain["prompt"] == ["2+2?", "Be kind.\n\n3+3?"] and "system" not in plain.column_names  # folded
    assert "system" not in pc.to_preferences(rows[:1]).column_names
    conv = pc.to_preferences(rows[:1], format="conversational")[0]
    assert conv["prompt"] == [{"role": "user", "content": "2+2?"}]
    for name in NAMED:
        curated = pc.to_preferences(rows[:1], chat_template=name)[0]["prompt"]
        trained = D.format_rows(D.map_rows(rows[:1], "preference").turns, "standard", template=name)[0]["prompt"]
        assert curated == trained == render_prompt(name, [{"role": "user", "content": "2+2?"}])
    # a parquet/csv cell without a value (NaN) is no system prompt either
    assert D.map_rows([dict(ROW, system=float("nan"))], "preference").turns[0].prompt == [
        {"role": "user", "content": "2+2?"}]


# -- the split -----------------------------------------------------------------------------------

def test_the_prompt_keeps_the_whole_generation_prompt_when_the_template_renders_it_differently():
    """A template whose generation prompt is not how it starts an answer turn (as reasoning models'
    templates do): the prompt is still the text the model sees when it answers, not a common prefix."""
    jinja = ("{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}{% if m['role'] == 'assistant' %}<end>{% endif %}"
             "{{ '\\n' }}{% endfor %}{% if add_generation_prompt %}[assistant] <think>{% endif %}")
    curated = pc.to_preferences([ROW], chat_template=jinja)[0]
    assert curated["prompt"] == "[system] Be brief.\n[user] 2+2?\n[assistant] <think>"
    assert (curated["chosen"], curated["rejected"]) == ("Four.<end>", "Five, I think.<end>")


def test_a_template_that_hides_the_answer_is_an_error_naming_row_and_field():
    jinja = "{% for m in messages %}{% if m['role'] != 'assistant' %}{{ m['content'] }}\n{% endif %}{% endfor %}"
    with pytest.raises(InputError, match=r"row r1, field 'chat_template'"):
        pc.to_preferences([dict(ROW, id="r1")], chat_template=jinja)


def test_over_long_check_counts_an_answer_that_already_ends_with_eos_once(tokenizers):
    tok = tokenizers["tokenizer-chatml"]
    prompt = render_prompt(tok, [{"role": "user", "content": "Hi"}])
    bare = {"prompt": prompt, "chosen": "Hello.", "rejected": "Go."}
    ended = {"prompt": prompt, "chosen": "Hello." + tok.eos_token, "rejected": "Go." + tok.eos_token}
    assert D._lengths([ended], tok) == D._lengths([bare], tok)


# -- one copy ------------------------------------------------------------------------------------

ROOT = Path(prefjudge.__file__).resolve().parent
#: Each formatting / chat-rendering function and the one module that defines it.
ONE_DEFINITION = {
    "format_rows": "formatting/trl.py",
    "render_standard": "formatting/trl.py",
    "prompt_messages": "formatting/trl.py",
    "end_of_turn_text": "formatting/trl.py",
    "render_prompt": "formatting/chat_templates.py",
    "renderer": "formatting/chat_templates.py",
}
#: Copies that used to exist (name -> where): now aliases of the one implementation, or gone.
GONE = {"template_renderer": "train/data.py", "_render": "train/generation.py", "_jinja_renderer": "formatting/trl.py",
        "_common_prefix": "formatting/trl.py", "_prompt": "train/sources.py"}
#: Where a tokenizer's chat template may be applied: the renderer, and the two local-model backends
#: (backends may import only core modules, see tests/test_layers.py): the transformers judge renders a
#: judge's prompt, the reward model the conversation it scores, with the reward model's own template;
#: neither renders training data.
APPLY_CHAT_TEMPLATE = {"formatting/chat_templates.py", "backends/transformers_backend.py", "backends/reward.py"}


def _functions() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                out.setdefault(node.name, []).append(path.relative_to(ROOT).as_posix())
    return out


def test_one_definition_of_each_formatting_and_rendering_function():
    defs = _functions()
    assert {name: defs.get(name) for name in ONE_DEFINITION} == {name: [where] for name, where in ONE_DEFINITION.items()}
    assert [name for name, where in GONE.items() if where in defs.get(name, [])] == []
    # the old names still work, through the one implementation
    from prefjudge.formatting import chat_templates, trl

    assert D.format_rows is trl.format_rows and D.template_renderer is chat_templates.renderer


def test_chat_templates_are_applied_in_one_place():
    calls = set()
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("apply_chat_template", "from_string"):
                calls.add(path.relative_to(ROOT).as_posix())
    assert calls <= APPLY_CHAT_TEMPLATE, calls - APPLY_CHAT_TEMPLATE
    assert "formatting/chat_templates.py" in calls
