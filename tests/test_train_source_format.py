"""The TinyLlama DPO step renders its prompts exactly as seed 002's ``format_prompt`` (the system block is
there even when the system prompt is empty), in training and in a curated export alike."""

from __future__ import annotations

from prefjudge.formatting.chat_templates import render_prompt
from prefjudge.recipes.loading import BUILTIN_DIR, load_recipe
from prefjudge.train import data as D
from prefjudge.train.config import DataConfig, config_from_dict


def seed_format_prompt(example: dict) -> dict:
    """Seed 002, verbatim (``format_prompt`` of the DPO section)."""
    system = "<|system|>\n" + example["system"] + "</s>\n"
    prompt = "<|user|>\n" + example["input"] + "</s>\n<|assistant|>\n"
    chosen = example["chosen"] + "</s>\n"
    rejected = example["rejected"] + "</s>\n"
    return {"prompt": system + prompt, "chosen": chosen, "rejected": rejected}


def test_tinyllama_dpo_prompts_match_the_seed_with_and_without_a_system_prompt():
    step = next(s for s in load_recipe("tinyllama_sft_dpo").steps if s.id == "dpo")
    cfg = config_from_dict(step.config)
    raw = D.read_rows(DataConfig(path=str(BUILTIN_DIR / "data" / "distilabel_orca_sample.jsonl")))
    kept = [r for r in raw if r["status"] != "tie" and r["chosen_score"] >= 8 and not r["in_gsm8k_train"]]
    assert any(not r["system"] for r in kept) and any(r["system"] for r in kept)  # both cases are in the sample
    turns = D.map_rows(raw, cfg.data.loader, cfg.data.filters).turns
    trained = D.format_rows(turns, cfg.data.format, template=cfg.data.chat_template)
    exported = D.format_rows(turns, cfg.data.format, template=cfg.data.chat_template, end_of_turn=True)
    for source, train_row, export_row in zip(kept, trained, exported):
        seed = seed_format_prompt(source)
        assert train_row["prompt"] == export_row["prompt"] == seed["prompt"]
        # answers: bare for training (TRL appends the eos token "</s>"), "</s>" spelled out in an export;
        # the seed's trailing "\n" after "</s>" is the one difference (a doubled end of turn otherwise)
        assert train_row["chosen"] + "</s>\n" == export_row["chosen"] + "\n" == seed["chosen"]
        assert export_row["rejected"] + "\n" == seed["rejected"]


def test_the_template_alone():
    empty = render_prompt("zephyr_system", [{"role": "user", "content": "Q"}])
    assert empty == "<|system|>\n</s>\n<|user|>\nQ</s>\n<|assistant|>\n"
    given = [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}]
    assert render_prompt("tinyllama_dpo", given) == render_prompt("zephyr", given) == "<|system|>\nS</s>\n<|user|>\nQ</s>\n<|assistant|>\n"
    assert render_prompt("zephyr", [{"role": "user", "content": "Q"}]) == "<|user|>\nQ</s>\n<|assistant|>\n"  # SFT unchanged
