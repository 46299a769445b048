"""The tiny local model builder: loads offline, right tokens and templates, caching."""

from __future__ import annotations

import json

import pytest

from prefjudge.errors import InputError
from prefjudge.train.tiny_model import MARKER, build_tiny_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tm") / "tiny")


def test_loads_offline_with_auto_classes(tiny, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny)
    tok = AutoTokenizer.from_pretrained(tiny)
    assert model.config.model_type == "llama"
    assert model.config.vocab_size == len(tok)
    assert 100_000 < model.num_parameters() < 400_000
    ids = tok("The judge prefers the answer.", return_tensors="pt")
    with torch.no_grad():
        logits = model(**ids).logits
    assert logits.shape == (1, ids["input_ids"].shape[1], len(tok))


def test_tokens_and_chatml_template(tiny):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny)
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|pad|>"
    assert tok.pad_token_id != tok.eos_token_id
    assert len(tok.encode("A", add_special_tokens=False)) == 1
    assert len(tok.encode("B", add_special_tokens=False)) == 1
    assert tok.encode("A") != tok.encode("B")
    text = tok.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False,
                                   add_generation_prompt=True)
    assert text == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    ids = tok.encode(text, add_special_tokens=False)
    assert ids.count(tok.convert_tokens_to_ids("<|im_start|>")) == 2
    assert tok.decode(ids) == text  # byte-level BPE round-trips


@pytest.mark.parametrize("template,expected,eos", [
    ("zephyr", "<|system|>\nS</s>\n<|user|>\nQ</s>\n<|assistant|>\n", "</s>"),
    ("alpaca", "S\n\n### Instruction:\nQ\n\n### Response:\n", "</s>"),
])
def test_other_templates(tmp_path, template, expected, eos):
    from transformers import AutoTokenizer

    path = build_tiny_model(tmp_path / template, chat_template=template, hidden_size=32, num_heads=2)
    tok = AutoTokenizer.from_pretrained(path)
    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}]
    assert tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True) == expected
    assert tok.eos_token == eos


def test_cache_reuses_and_rebuilds_on_new_arguments(tmp_path):
    path = tmp_path / "m"
    build_tiny_model(path, hidden_size=32, num_heads=2)
    weights = path / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    assert build_tiny_model(path, hidden_size=32, num_heads=2) == path
    assert weights.stat().st_mtime_ns == stamp  # not rewritten
    build_tiny_model(path, hidden_size=32, num_heads=2, seed=1)
    assert json.loads((path / MARKER).read_text())["seed"] == 1
    assert weights.stat().st_mtime_ns != stamp
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs left


def test_seed_changes_weights_and_same_seed_reproduces(tmp_path):
    from safetensors.torch import load_file

    a = load_file(build_tiny_model(tmp_path / "a", hidden_size=32, num_heads=2) / "model.safetensors")
    b = load_file(build_tiny_model(tmp_path / "b", hidden_size=32, num_heads=2) / "model.safetensors")
    c = load_file(build_tiny_model(tmp_path / "c", hidden_size=32, num_heads=2, seed=3) / "model.safetensors")
    key = "model.layers.0.self_attn.q_proj.weight"
    assert (a[key] == b[key]).all()
    assert not (a[key] == c[key]).all()


def test_other_arch_and_gqa(tmp_path):
    from transformers import AutoConfig

    path = build_tiny_model(tmp_path / "q", arch="qwen2", num_heads=4, num_kv_heads=2)
    cfg = AutoConfig.from_pretrained(path)
    assert cfg.model_type == "qwen2" and cfg.num_key_value_heads == 2


def test_bad_arguments_name_the_field(tmp_path):
    with pytest.raises(InputError, match="arch"):
        build_tiny_model(tmp_path / "x", arch="gpt9")
    with pytest.raises(InputError, match="size"):
        build_tiny_model(tmp_path / "x", size="huge")
    with pytest.raises(InputError, match="num_heads"):
        build_tiny_model(tmp_path / "x", hidden_size=30, num_heads=4)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="not built by build_tiny_model"):
        build_tiny_model(foreign)
    assert (foreign / "notes.txt").exists()


def test_bench_size_is_20_to_50m_parameters(tmp_path):
    path = build_tiny_model(tmp_path / "bench", size="bench")
    n = json.loads((path / MARKER).read_text())["n_parameters"]
    assert 20_000_000 <= n <= 50_000_000
