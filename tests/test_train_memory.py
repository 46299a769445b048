"""The memory estimator: model dims, component arithmetic, what changes with each setting."""

from __future__ import annotations

import pytest

from prefjudge.errors import ConfigError
from prefjudge.recipes.schema import deep_merge
from prefjudge.train.architectures import KNOWN, dims_for
from prefjudge.train.config import config_from_dict
from prefjudge.train.memory import GPUS, estimate_memory, lora_param_count, weight_bytes

BASE = {"model": {"name_or_path": "teknium/OpenHermes-2.5-Mistral-7B"}, "data": {"hub_id": "x"},
        "dpo": {"per_device_train_batch_size": 4, "max_length": 1536}}


def est(**patch):
    return estimate_memory(config_from_dict(deep_merge(BASE, patch)))


@pytest.mark.parametrize("name,billions", [
    ("mistral-7b", 7.24), ("tinyllama-1.1b", 1.10), ("llama-3.1-8b", 8.03), ("qwen2.5-7b", 7.62),
    ("qwen2.5-0.5b", 0.49),
])
def test_known_architectures_match_published_sizes(name, billions):
    assert KNOWN[name].n_params / 1e9 == pytest.approx(billions, abs=0.02)


def test_hub_ids_resolve_and_unknown_ones_fail():
    assert dims_for("mlabonne/TwinLlama-3.1-8B").vocab_size == 128256
    assert dims_for("Qwen/Qwen2.5-7B-Instruct").num_kv_heads == 4
    assert dims_for("TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T").num_layers == 22
    with pytest.raises(ConfigError, match="unknown model"):
        dims_for("someone/mystery-model")


def test_local_config_dims_count_the_real_parameters(tmp_path):
    from transformers import AutoModelForCausalLM

    from prefjudge.train.tiny_model import build_tiny_model

    path = build_tiny_model(tmp_path / "m", num_heads=4, num_kv_heads=2)
    dims = dims_for(str(path))
    assert dims.num_kv_heads == 2
    assert dims.n_params == AutoModelForCausalLM.from_pretrained(path).num_parameters()


def test_lora_count_matches_peft(tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from prefjudge.train.tiny_model import build_tiny_model

    path = build_tiny_model(tmp_path / "m", num_heads=4, num_kv_heads=2)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(path),
                           LoraConfig(r=8, target_modules=targets, task_type="CAUSAL_LM"))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert lora_param_count(dims_for(str(path)), 8, targets) == trainable


def test_components_add_up_and_fits_follow_total():
    e = est()
    assert e.total_gb == pytest.approx(sum(e.components_gb.values()), abs=0.02)
    assert e.fits == [g for g, cap in GPUS.items() if e.total_gb <= cap]
    assert set(e.fits) | set(e.does_not_fit) == set(GPUS)
    assert e.tokens_per_step == 2 * 4 * 1536  # chosen + rejected


def test_four_bit_weights_are_about_a_quarter_of_fp16():
    dims = KNOWN["mistral-7b"]
    q = weight_bytes(dims, True, True, "bfloat16")
    full = weight_bytes(dims, False, True, "bfloat16")
    assert 0.25 < q / full < 0.32
    assert weight_bytes(dims, True, False, "bfloat16") > q  # double quant saves the fp32 absmax


def test_settings_move_the_estimate_the_right_way():
    base = est()
    assert est(quantization={"mode": "none"}).components_gb["weights"] > 3 * base.components_gb["weights"]
    assert est(dpo={"gradient_checkpointing": False}).components_gb["activations"] > 5 * base.components_gb["activations"]
    double = est(dpo={"per_device_train_batch_size": 8}).components_gb["activations"]
    assert double == pytest.approx(2 * base.components_gb["activations"], rel=0.01)
    separate = est(dpo={"reference": "separate"})
    assert separate.components_gb["reference_model"] == base.components_gb["weights"]
    assert est(dpo={"reference": "separate", "precompute_ref_log_probs": True}).components_gb["reference_model"] == 0
    assert est(dpo={"optim": "adamw_8bit"}).components_gb["optimizer"] == pytest.approx(
        base.components_gb["optimizer"] / 4, rel=0.01)
    assert base.components_gb["reference_model"] == 0


def test_sft_counts_one_sequence_per_row():
    cfg = config_from_dict(deep_merge(BASE, {"sft": {"per_device_train_batch_size": 4, "max_length": 1536}}))
    assert estimate_memory(cfg, method="sft").tokens_per_step == 4 * 1536


def test_cpu_mode_has_no_cuda_context():
    cfg = config_from_dict(deep_merge(BASE, {"lora": {"dropout": 0.0}}))
    gpu, cpu = estimate_memory(cfg), estimate_memory(cfg, device="cpu")

    def subtotal(e):
        return sum(v for k, v in e.components_gb.items() if k != "overhead")

    assert cpu.components_gb["overhead"] == pytest.approx(0.10 * subtotal(cpu), abs=0.002)
    assert gpu.components_gb["overhead"] == pytest.approx(0.10 * subtotal(gpu) + 0.5, abs=0.002)
    assert cpu.components_gb["activations"] == pytest.approx(2 * gpu.components_gb["activations"], rel=0.01)


GEMMA_2_9B = {"architectures": ["Gemma2ForCausalLM"], "hidden_size": 3584, "intermediate_size": 14336,
              "num_hidden_layers": 42, "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 256,
              "vocab_size": 256000, "tie_word_embeddings": True}


def test_gemma_resolves_offline_from_the_table_saying_why():
    dims = dims_for("google/gemma-2-9b-it")  # HF_HUB_OFFLINE: the Hub is not read
    assert dims.name == "gemma-2-9b" and dims.n_params / 1e9 == pytest.approx(9.24, abs=0.01)
    assert "table" in dims.source and "could not be read" in dims.source
    e = estimate_memory(config_from_dict(deep_merge(BASE, {"model": {"name_or_path": "google/gemma-2-9b-it"}})))
    assert e.n_params == dims.n_params and any("could not be read" in a for a in e.assumptions)


def test_a_local_config_json_is_read(tmp_path):
    import json

    (tmp_path / "config.json").write_text(json.dumps(GEMMA_2_9B))
    dims = dims_for(str(tmp_path))
    assert dims.q_dim == 16 * 256 and dims.kv_dim == 8 * 256 and dims.source == f"config.json at {tmp_path / 'config.json'}"
    assert dims.n_params == KNOWN["gemma-2-9b"].n_params


def test_the_hub_config_is_used_when_it_can_be_read(monkeypatch):
    from prefjudge.train import architectures

    seen = []

    def fake_hub(repo_id):
        seen.append(repo_id)
        return {**GEMMA_2_9B, "num_hidden_layers": 10}

    monkeypatch.setattr(architectures, "hub_config", fake_hub)
    dims = dims_for("someone/new-model")
    assert seen == ["someone/new-model"] and dims.num_layers == 10 and "from the Hub" in dims.source
    with pytest.raises(ConfigError, match="unknown model"):
        dims_for("someone/new-model", hub=False)
    monkeypatch.setattr(architectures, "hub_config", lambda repo_id: (_ for _ in ()).throw(OSError("gated repo")))
    fallback = dims_for("mistralai/Mistral-7B-v0.1")
    assert fallback.name == "mistral-7b" and "OSError: gated repo" in fallback.source
    with pytest.raises(ConfigError, match=r"someone/mystery.*gated repo.*--hidden-size"):
        dims_for("someone/mystery")


def test_dimensions_by_hand():
    from prefjudge.train.architectures import dims_with_overrides

    d = dims_with_overrides(None, "x/y", hidden_size=4096, num_layers=32, params=KNOWN["mistral-7b"].n_params,
                            num_kv_heads=8)
    assert d.intermediate_size == 14336 and "solved from" in d.source and "vocab 32000" in d.source
    over = dims_with_overrides(KNOWN["mistral-7b"], "m", num_layers=16)
    assert over.num_layers == 16 and over.hidden_size == 4096 and over.source.startswith("command line over")
    with pytest.raises(ConfigError, match="--intermediate-size or --params"):
        dims_with_overrides(None, "x/y", hidden_size=4096, num_layers=32)
    with pytest.raises(ConfigError, match="give --hidden-size"):
        dims_with_overrides(None, "x/y", num_layers=32, params=1e9)
    with pytest.raises(ConfigError, match="smaller than"):
        dims_with_overrides(None, "x/y", hidden_size=4096, num_layers=32, params=1e6)


def test_reference_free_trainers_have_no_reference_pass():
    orpo = est(trainer="orpo")
    assert orpo.components_gb["reference_model"] == 0
    assert any("reference-free" in a for a in orpo.assumptions)
    assert any("adapter disabled" in a for a in est().assumptions)
