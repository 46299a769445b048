"""Evaluation loads models with the device/dtype policy of training and merging (bf16 or 4-bit on a GPU,
float32 on the CPU), decided by a pure function: tested here without a GPU."""

from __future__ import annotations

import pytest

from prefjudge.errors import ConfigError
from prefjudge.train import runtime
from prefjudge.train.runtime import InferencePlan, plan_inference


def test_gpu_gets_bf16_or_4bit_like_training():
    assert plan_inference(True) == InferencePlan("cuda", "bfloat16", False, None)
    assert plan_inference(True, bf16_supported=False).dtype == "float16"  # a T4
    four = plan_inference(True, quantization="4bit")
    assert four.load_in_4bit and four.compute_dtype == "bfloat16" and four.device == "cuda"
    assert plan_inference(True, device="cpu").device == "cpu"


def test_cpu_gets_float32():
    plan = plan_inference(False)
    assert (plan.device, plan.dtype, plan.load_in_4bit, plan.notes) == ("cpu", "float32", False, ())
    assert plan_inference(False, quantization="4bit").notes  # said, not silently changed
    with pytest.raises(ConfigError, match="field 'device'"):
        plan_inference(False, device="cuda")
    with pytest.raises(ConfigError, match="field 'quantization'"):
        plan_inference(True, quantization="8bit")


def test_load_kwargs_follow_the_plan():
    import torch

    cpu = plan_inference(False).load_kwargs()
    assert cpu == {"dtype": torch.float32, "device_map": "cpu"}
    gpu = plan_inference(True, quantization="4bit").load_kwargs()
    q = gpu["quantization_config"]
    assert gpu["device_map"] == {"": 0} and gpu["dtype"] == torch.bfloat16
    assert q.load_in_4bit and q.bnb_4bit_quant_type == "nf4" and q.bnb_4bit_compute_dtype == torch.bfloat16


def test_generate_answers_loads_with_the_plan(monkeypatch):
    from prefjudge.train import generation

    asked, loaded = [], []
    gpu_plan = plan_inference(True)

    def fake_plan(device, quantization):
        asked.append((device, quantization))
        return gpu_plan

    class Stop(Exception):
        pass

    def fake_load(path, plan):
        loaded.append(plan)
        raise Stop

    monkeypatch.setattr(generation, "current_inference_plan", fake_plan)
    monkeypatch.setattr(generation, "_load", fake_load)
    with pytest.raises(Stop):
        generation.generate_answers("some/model", ["Hi"], quantization="4bit")
    assert asked == [("auto", "4bit")] and loaded == [gpu_plan]


def test_evaluate_uses_the_policy_for_both_models(monkeypatch, tmp_path):
    """evaluate() asks the policy once and hands the same plan to both models' generation."""
    from prefjudge.recipes import evaluation
    from prefjudge.testing.jury import simulated_jury

    asked, calls = [], []

    def fake_plan(device="auto", quantization="none"):
        asked.append((device, quantization))
        return plan_inference(True, device=device, quantization=quantization)  # as on a GPU machine

    def fake_generate(model_path, prompts, **kwargs):
        calls.append((model_path, kwargs["plan"], kwargs["batch_size"]))
        return [("I explain it carefully, step by step." if model_path == "trained" else "No.") for _ in prompts]

    monkeypatch.setattr(runtime, "current_inference_plan", fake_plan)
    monkeypatch.setattr(evaluation, "generate_answers", fake_generate)
    with simulated_jury("prefjudge.train.scores:sample_style_score") as judges:
        result = evaluation.evaluate("trained", "base", ["Explain rain.", "Explain snow."], judges,
                                     quantization="4bit", batch_size=16, store=str(tmp_path / "s.db"))
    assert asked == [("auto", "4bit")]
    assert [c[0] for c in calls] == ["trained", "base"] and all(c[1].load_in_4bit and c[2] == 16 for c in calls)
    assert result.inference["device"] == "cuda" and result.inference["load_in_4bit"] is True
    assert result.n_prompts == 2


def test_sampled_evaluation_draws_the_same_numbers_for_both_models(tmp_path):
    """temperature > 0: ``samples`` answers per prompt, seeded; the same model on both sides gives
    the same samples (common random numbers), another seed other samples; greedy is refused for
    several samples."""
    from prefjudge.errors import InputError
    from prefjudge.recipes import evaluation
    from prefjudge.testing import simulated_jury
    from prefjudge.train.generation import generate_answers
    from prefjudge.train.tiny_model import build_tiny_model

    model = str(build_tiny_model(tmp_path / "tiny"))
    prompts = ["Explain rain.", "Explain snow."]
    one = generate_answers(model, prompts * 2, max_new_tokens=6, temperature=1.0, seed=3)
    assert one == generate_answers(model, prompts * 2, max_new_tokens=6, temperature=1.0, seed=3)
    assert one != generate_answers(model, prompts * 2, max_new_tokens=6, temperature=1.0, seed=4)
    greedy = generate_answers(model, prompts * 2, max_new_tokens=6)
    assert greedy[:2] == greedy[2:]  # greedy repeats itself; sampling does not have to
    with simulated_jury("prefjudge.train.scores:explanation_score") as judges:
        result = evaluation.evaluate(model, model, prompts, judges, max_new_tokens=6, temperature=1.0, samples=3,
                                     store=str(tmp_path / "s.db"), update_card=False)
        with pytest.raises(InputError, match="samples"):
            evaluation.evaluate(model, model, prompts, judges, samples=2)
    assert result.decoding == {"temperature": 1.0, "samples": 3, "seed": 0}
    assert len(result.answers) == 6 and result.win_rate["n"] == 6
    # the same weights with the same draws: every pair is identical, so every outcome is a tie
    assert all(a["trained"] == a["base"] for a in result.answers) and result.outcomes["tie"] == 6
    assert len({a["trained"] for a in result.answers}) > 2  # three samples per prompt, not one repeated
