"""Over-long rows: truncated as the source recipes' TRL did (``data.too_long: truncate``) or dropped,
counted either way; the source recipes truncate by default."""

from __future__ import annotations

import pytest

from prefjudge.recipes.loading import load_recipe
from prefjudge.train import data as D
from prefjudge.train.config import config_from_dict

SHORT = {"prompt": "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", "chosen": "Hello.", "rejected": "Go."}


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    from transformers import AutoTokenizer

    from prefjudge.train.tiny_model import build_tiny_model

    return AutoTokenizer.from_pretrained(build_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny"))


def n_tokens(tok, text: str) -> int:
    return len(tok(text, add_special_tokens=False)["input_ids"])


def test_truncate_keeps_the_prompt_end_and_leaves_the_answer_cut_to_trl(tok):
    question = " ".join(f"part{i} of the question" for i in range(60))
    long_prompt = dict(SHORT, prompt=f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n",
                       chosen="word " * 30)
    long_answer = dict(SHORT, rejected="word " * 300)
    rows = [SHORT, long_prompt, long_answer]
    kept, report = D.fit_lengths(rows, tok, max_length=256, max_prompt_length=64, too_long="truncate")
    assert len(kept) == 3 and kept[0] == SHORT and kept[2] == long_answer  # TRL cuts long_answer at max_length
    cut = kept[1]["prompt"]
    assert long_prompt["prompt"].endswith(cut) and cut.endswith("<|im_start|>assistant\n")  # old TRL's keep_end
    assert n_tokens(tok, cut) <= 65 < n_tokens(tok, long_prompt["prompt"])
    assert kept[1]["chosen"] == long_prompt["chosen"]
    assert report["mode"] == "truncate" and report["over_limit"] == 2 and report["truncated"] == 2
    assert report["prompt_truncated"] == 1 and report["answer_truncated"] == 1 and report["dropped"] == 0
    # the same rows dropped: the previous behaviour, still available
    kept, report = D.fit_lengths(rows, tok, max_length=256, max_prompt_length=64, too_long="drop")
    assert kept == [SHORT] and report["dropped"] == 2 and report["truncated"] == 0
    assert report["dropped_reasons"] == {"prompt over max_prompt_length": 1, "longer than max_length": 1}


def test_a_prompt_that_fills_max_length_is_dropped_and_a_fitting_pair_is_left_alone(tok):
    huge = dict(SHORT, prompt="<|im_start|>user\n" + "question " * 200 + "<|im_end|>\n<|im_start|>assistant\n")
    kept, report = D.fit_lengths([huge], tok, max_length=128, too_long="truncate")  # no max_prompt_length (TRL 1.16)
    assert kept == [] and report["dropped_reasons"] == {"prompt fills max_length (no room for the answer)": 1}
    # the seeds' TRL cut a prompt only when the pair did not fit max_length
    long_prompt_fits = dict(SHORT, prompt="<|im_start|>user\n" + "question " * 50 + "<|im_end|>\n<|im_start|>assistant\n")
    kept, report = D.fit_lengths([long_prompt_fits], tok, max_length=1024, max_prompt_length=16, too_long="truncate")
    assert kept == [long_prompt_fits] and report["over_limit"] == 0


def test_sft_and_conversational_rows(tok):
    sft = [{"text": "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n" + "word " * 300 + "<|im_end|>\n"}]
    kept, report = D.fit_lengths(sft, tok, max_length=128, too_long="truncate")
    assert kept == sft and report["truncated"] == report["answer_truncated"] == 1  # SFTTrainer cuts at max_length
    conv = D.format_rows(D.map_rows([{"prompt": "question " * 100, "chosen": "a " * 200, "rejected": "b"}],
                                    "preference").turns, "conversational")
    kept, report = D.fit_lengths(conv, tok, max_length=128, max_prompt_length=32, too_long="truncate")
    assert kept == [] and "conversational prompt over max_prompt_length (cannot be cut as text)" in report["dropped_reasons"]


def test_the_source_recipes_truncate_and_the_pipeline_recipe_drops():
    for name in ("neuralhermes", "tinyllama_sft_dpo", "llm_twin", "qwen25_stack_exchange"):
        for step in load_recipe(name).steps:
            if step.kind in ("sft", "dpo"):
                assert config_from_dict(step.config).data.too_long == "truncate", (name, step.id)
    pipeline = [s for s in load_recipe("curate_judge_train").steps if s.kind == "dpo"]
    assert config_from_dict(pipeline[0].config).data.too_long == "drop"
    assert config_from_dict({"model": {"tiny": {}}, "data": {"path": "x.jsonl"}}).data.too_long == "drop"  # the default stays


def test_dry_run_shows_the_mode():
    from prefjudge.recipes.runner import run_recipe

    plan = run_recipe("neuralhermes", dry_run=True, echo=lambda _: None)
    assert plan["steps"][0]["training"]["too_long"] == "truncate" and plan["steps"][0]["data"]["too_long"] == "truncate"
