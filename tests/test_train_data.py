"""Source mappings, formatting for TRL, over-length filtering, the LLM Twin dataset build."""

from __future__ import annotations

import json
import re

import pytest

from prefjudge.errors import InputError
from prefjudge.recipes.llm_twin import build_llm_twin_dataset, clean_text, parse_triples, read_articles
from prefjudge.recipes.loading import BUILTIN_DIR
from prefjudge.train import data as D
from prefjudge.train.config import DataConfig
from prefjudge.train.sources import llm_twin_reject_reason

SAMPLES = BUILTIN_DIR / "data"


def rows_of(name: str) -> list[dict]:
    return D.read_rows(DataConfig(path=str(SAMPLES / name)))


def test_orca_standard_chatml_matches_the_seed():
    rows = [{"system": "Be brief.", "question": "2+2?", "chatgpt": "4", "llama2-13b-chat": "5"},
            {"system": "", "question": "Hi", "chosen": "Hello", "rejected": "Go"}]  # Hub spelling
    out = D.format_rows(D.map_rows(rows, "orca_dpo_pairs").turns, "standard", template="chatml")
    assert out[0] == {"prompt": "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
                                "<|im_start|>assistant\n", "chosen": "4", "rejected": "5"}
    assert out[1]["prompt"] == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert (out[1]["chosen"], out[1]["rejected"]) == ("Hello", "Go")


def test_distilabel_filters_and_zephyr_prompt():
    raw = rows_of("distilabel_orca_sample.jsonl")
    mapped = D.map_rows(raw, "distilabel_orca", {})
    keep = [r for r in raw if r["status"] != "tie" and r["chosen_score"] >= 8 and not r["in_gsm8k_train"]]
    assert len(mapped.turns) == len(keep) and 0 < len(keep) < len(raw)
    assert sum(mapped.dropped.values()) == len(raw) - len(keep)
    assert mapped.dropped["status is tie"] == sum(r["status"] == "tie" for r in raw)
    first = D.format_rows(mapped.turns[:1], "standard", template="zephyr")[0]
    k = keep[0]
    system = f"<|system|>\n{k['system']}</s>\n" if k["system"] else ""
    assert first["prompt"] == system + f"<|user|>\n{k['input']}</s>\n<|assistant|>\n"  # seed 002's format_prompt
    loose = D.map_rows(raw, "distilabel_orca", {"drop_ties": False, "min_chosen_score": None,
                                                 "drop_gsm8k_train": False})
    assert len(loose.turns) == len(raw)


def test_alpaca_prompt_and_llm_twin_filters():
    raw = rows_of("llmtwin_dpo_sample.jsonl")
    out = D.format_rows(D.map_rows(raw, "llm_twin").turns, "standard", template="alpaca")
    assert out[0]["prompt"] == ("Below is an instruction that describes a task. Write a response that "
                                "appropriately completes the request.\n\n### Instruction:\n"
                                f"{raw[0]['prompt']}\n\n### Response:\n")
    rows = [{"prompt": "p", "chosen": "short.", "rejected": "r"},
            {"prompt": "p", "chosen": "lower case start " + "x" * 100 + ".", "rejected": "r"},
            {"prompt": "p", "chosen": "A good answer " + "y" * 100 + "!", "rejected": "r"}]
    mapped = D.map_rows(rows, "llm_twin", {"apply_seed_filters": True})
    assert len(mapped.turns) == 1 and sum(mapped.dropped.values()) == 2


def test_conversational_and_sft_formats():
    pref = D.format_rows(D.map_rows(rows_of("stack_exchange_paired_sample.jsonl"), "stack_exchange_paired").turns,
                         "conversational")
    assert pref[0]["prompt"][0]["role"] == "user" and pref[0]["chosen"][0]["role"] == "assistant"
    sft_rows = rows_of("ultrachat_sample.jsonl")
    text = D.format_rows(D.map_rows(sft_rows, "ultrachat").turns, "standard", template="zephyr")
    m = sft_rows[0]["messages"]
    assert text[0]["text"].startswith(f"<|user|>\n{m[0]['content']}</s>\n<|assistant|>\n{m[1]['content']}</s>\n")
    conv = D.format_rows(D.map_rows(sft_rows, "ultrachat").turns, "conversational")
    assert conv[0] == {"messages": m}


def test_column_mapping_and_errors_name_row_and_field(tmp_path):
    cfg = DataConfig(path=str(SAMPLES / "stack_exchange_paired_sample.jsonl"),
                     columns={"prompt": "question", "chosen": "response_j", "rejected": "response_k"})
    rows = D.read_rows(cfg)
    assert D.map_rows(rows, "preference").turns[0].chosen == rows[0]["response_j"]
    with pytest.raises(InputError, match=r"row 0, field 'answer'"):
        D.read_rows(DataConfig(path=cfg.path, columns={"chosen": "answer"}))
    with pytest.raises(InputError, match=r"row 1, field 'question'"):
        D.map_rows([{"question": "q", "chatgpt": "a", "llama2-13b-chat": "b"},
                    {"chatgpt": "a", "llama2-13b-chat": "b"}], "orca_dpo_pairs")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "p"}\n{not json\n')
    with pytest.raises(InputError, match="row 1"):
        D.read_rows(DataConfig(path=str(bad)))
    with pytest.raises(InputError, match="unknown loader"):
        D.map_rows([], "nope")


def test_shuffle_cap_and_split_are_seeded():
    cfg = DataConfig(path=str(SAMPLES / "orca_dpo_pairs_sample.jsonl"), shuffle_seed=3, max_rows=10)
    a, b = D.read_rows(cfg), D.read_rows(cfg)
    assert a == b and len(a) == 10 and a != rows_of("orca_dpo_pairs_sample.jsonl")[:10]
    train, test = D.split_rows(list(range(20)), 0.25, seed=0)
    assert len(test) == 5 and sorted(train + test) == list(range(20))
    assert D.split_rows(list(range(20)), 0.25, seed=0) == (train, test)
    assert D.split_rows(list(range(20)), 0.0, seed=0) == (list(range(20)), [])


def test_drop_too_long_counts_rows(tmp_path):
    from transformers import AutoTokenizer

    from prefjudge.train.tiny_model import build_tiny_model

    tok = AutoTokenizer.from_pretrained(build_tiny_model(tmp_path / "tiny"))
    short = {"prompt": "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", "chosen": "Hello.", "rejected": "Go."}
    long_answer = dict(short, rejected="word " * 300)
    long_prompt = dict(short, prompt="<|im_start|>user\n" + "question " * 80 + "<|im_end|>\n<|im_start|>assistant\n")
    kept, dropped = D.drop_too_long([short, long_answer, long_prompt, short], tok, max_length=128)
    assert (len(kept), dropped) == (3, 1)
    kept, dropped = D.drop_too_long([short, long_answer, long_prompt], tok, max_length=1024, max_prompt_length=40)
    assert (kept, dropped) == ([short, long_answer], 1)
    conv = D.format_rows(D.map_rows([{"prompt": "Hi", "chosen": "a " * 200, "rejected": "b"}], "preference").turns,
                         "conversational")
    assert D.drop_too_long(conv, tok, max_length=64)[1] == 1


def test_reads_a_curated_export_folder(tmp_path):
    datasets = pytest.importorskip("datasets")
    from prefjudge.curate.export import export

    ds = datasets.Dataset.from_list([{"prompt": "Q?", "chosen": "Yes.", "rejected": "No.", "system": ""}] * 3)
    folder = export(ds, tmp_path / "export", format="jsonl")
    rows = D.read_rows(DataConfig(path=str(folder)))
    assert len(rows) == 3 and D.map_rows(rows, "preference").turns[0].chosen == "Yes."


def test_llm_twin_build_keeps_verbatim_excerpts(tmp_path):
    out = build_llm_twin_dataset(SAMPLES / "llm_twin_articles.json", tmp_path / "twin.jsonl",
                                 {"kind": "extractive", "seed": 0}, min_chunk_chars=1000, max_chunk_chars=2000)
    rows = [json.loads(line) for line in (tmp_path / "twin.jsonl").read_text().splitlines()]
    assert out["triples"] == 5 * out["chunks"] and out["kept"] == len(rows) > 0
    assert out["kept"] + sum(out["dropped"].values()) == out["triples"]
    cleaned = " ".join(clean_text(a) for a in read_articles(SAMPLES / "llm_twin_articles.json"))
    for r in rows:
        assert r["chosen"] in cleaned  # extracted = verbatim excerpt
        assert llm_twin_reject_reason(r["chosen"]) is None
        assert not re.search(r"[^\w\s.,!?']", r["chosen"])


def test_parse_triples_rejects_bad_replies():
    assert parse_triples('{"preference_triples": [{"instruction": "i", "generated_answer": "g", '
                         '"extracted_answer": "e"}]}') == [("i", "g", "e")]
    with pytest.raises(InputError, match="preference_triples"):
        parse_triples("Sure! Here are five triples:")
    with pytest.raises(InputError):
        parse_triples('{"triples": []}')


def test_prerendered_prompts_are_used_verbatim():
    rows = [{"prompt": "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", "chosen": "Yo<|im_end|>",
             "rejected": "No<|im_end|>"}]
    out = D.format_rows(D.map_rows(rows, "preference").turns, "standard", template="none")
    assert out == rows


def test_training_uses_the_curation_mapping_for_shared_sources():
    from prefjudge.errors import InputError
    from prefjudge.train.data import map_rows

    hh = [{"chosen": "\n\nHuman: Hi?\n\nAssistant: Hello there.", "rejected": "\n\nHuman: Hi?\n\nAssistant: Go away."}]
    turns = map_rows(hh, "hh_rlhf").turns
    assert turns[0].prompt[-1] == {"role": "user", "content": "Hi?"}
    assert (turns[0].chosen, turns[0].rejected) == ("Hello there.", "Go away.")
    se = [{"question": "q1", "response_j": "good", "response_k": "bad"}, {"question": "q2", "response_j": "x"}]
    with pytest.raises(InputError, match=r"row 1, field 'response_k'"):
        map_rows(se, "stack_exchange_paired")
