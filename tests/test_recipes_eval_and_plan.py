"""The recipe eval step and ``prefjudge eval`` pass device, quantization and batch size to ``evaluate``;
the dry-run plan shows each training step's trainer and the loss types it really runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from prefjudge.errors import ConfigError
from prefjudge.recipes.loading import BUILTIN_DIR
from prefjudge.recipes.runner import run_eval, run_recipe
from prefjudge.recipes.schema import EvalStep


@pytest.fixture
def captured(monkeypatch):
    """``evaluate`` replaced by a stand-in that records its arguments (no model is loaded)."""
    import prefjudge.recipes.evaluation as evaluation

    calls: list[dict] = []

    def fake(trained, base, prompts, judges, **kwargs):
        calls.append({"trained": trained, "base": base, "prompts": prompts, **kwargs})
        rate = {"value": 0.5, "ci": [0.0, 1.0], "n": len(prompts), "reason": None}
        return evaluation.EvalResult(trained=trained, base=base, n_prompts=len(prompts), win_rate=rate, lc_win_rate=rate,
                                     outcomes={"a": 0, "b": 0, "tie": len(prompts)}, mean_length={}, judges=["j"],
                                     answers=[])

    monkeypatch.setattr(evaluation, "evaluate", fake)
    return calls


def test_eval_step_passes_device_quantization_and_batch_size(captured, tmp_path):
    step = EvalStep(id="eval", kind="eval", trained="t", base="b", prompts=str(BUILTIN_DIR / "data" / "eval_prompts.jsonl"),
                    max_prompts=3, device="cpu", quantization="4bit", batch_size=2,
                    jury={"judges_file": str(BUILTIN_DIR / "judges.yaml")})
    summary = run_eval(step, "t", "b", tmp_path, BUILTIN_DIR)
    assert captured[0]["device"] == "cpu" and captured[0]["quantization"] == "4bit" and captured[0]["batch_size"] == 2
    assert summary["n_prompts"] == 3
    defaults = EvalStep(id="e", kind="eval", trained="t", base="b", prompts="p.jsonl", jury={"simulated_score": "m:f"})
    assert (defaults.device, defaults.quantization, defaults.batch_size) == ("auto", "none", 8)
    with pytest.raises(ValueError):
        EvalStep(id="e", kind="eval", trained="t", base="b", prompts="p.jsonl", quantization="8bit",
                 jury={"simulated_score": "m:f"})


def test_eval_command_passes_them_too(captured, tmp_path):
    from prefjudge.cli.train import app

    res = CliRunner().invoke(app, ["eval", "t", "b", "--prompts", str(BUILTIN_DIR / "data" / "eval_prompts.jsonl"),
                                   "--judges-file", str(BUILTIN_DIR / "judges.yaml"), "--out", str(tmp_path),
                                   "--device", "cpu", "--quantization", "4bit", "--batch-size", "3"])
    assert res.exit_code == 0, res.output
    assert (captured[0]["device"], captured[0]["quantization"], captured[0]["batch_size"]) == ("cpu", "4bit", 3)
    bad = CliRunner().invoke(app, ["eval", "t", "b", "--prompts", str(BUILTIN_DIR / "data" / "eval_prompts.jsonl"),
                                   "--judges-file", str(BUILTIN_DIR / "judges.yaml"), "--quantization", "8bit"])
    assert bad.exit_code == 2


def _recipe(tmp_path: Path, trainer: str, dpo: dict) -> Path:
    (tmp_path / "data").symlink_to(BUILTIN_DIR / "data")
    recipe = {
        "name": f"plan_{trainer}", "steps": [
            {"id": "train", "kind": "dpo", "sample": "data/orca_dpo_pairs_sample.jsonl",
             "config": {"model": {"name_or_path": "Qwen/Qwen2.5-0.5B-Instruct"}, "trainer": trainer,
                        "data": {"hub_id": "Intel/orca_dpo_pairs", "loader": "orca_dpo_pairs", "chat_template": "chatml"},
                        "dpo": {"per_device_train_batch_size": 2, **dpo}}},
            {"id": "eval", "kind": "eval", "trained": "@train", "base": "@train", "prompts": "data/eval_prompts.jsonl",
             "device": "cpu", "batch_size": 4, "jury": {"judges_file": str(BUILTIN_DIR / "judges.yaml")}}]}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.mark.parametrize("trainer, dpo, losses, reference", [
    ("dpo", {}, ["sigmoid"], "adapter_disabled"),
    ("dpo", {"loss_type": ["ipo"]}, ["ipo"], "adapter_disabled"),
    ("kto", {}, ["kto"], "adapter_disabled"),   # KTO's own default, not DPO's sigmoid
    ("cpo", {"loss_type": ["simpo"], "cpo_alpha": 0.0}, ["simpo"], "none (reference-free)"),
    ("orpo", {}, [], "none (reference-free)"),  # no loss types at all
])
def test_plan_shows_the_trainer_and_its_real_loss_types(tmp_path, trainer, dpo, losses, reference):
    lines: list[str] = []
    plan = run_recipe(_recipe(tmp_path, trainer, dpo), dry_run=True, echo=lines.append)
    training = plan["steps"][0]["training"]
    assert training["trainer"] == trainer and training["loss_type"] == losses and training["reference"] == reference
    assert f"trainer {trainer} (" in lines[0]
    ev = plan["steps"][1]
    assert (ev["device"], ev["quantization"], ev["batch_size"]) == ("cpu", "none", 4)
    assert "answers on device cpu, quantization none, batches of 4" in lines[0]


def test_recipe_eval_step_rejects_a_bad_quantization(tmp_path):
    path = _recipe(tmp_path, "dpo", {})
    data = yaml.safe_load(path.read_text())
    data["steps"][1]["quantization"] = "8bit"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="quantization"):
        run_recipe(path, dry_run=True, echo=lambda _: None)


def test_run_json_keys_documented():
    text = (Path(__file__).resolve().parents[1] / "docs" / "recipes.md").read_text()
    for key in ("trained_gap", "argmax_disagreement", "too_long", "steps_by_rank", "lengths"):
        assert key in text, key


def test_eval_step_sampling_fields(captured, tmp_path):
    step = EvalStep(id="eval", kind="eval", trained="t", base="b", prompts=str(BUILTIN_DIR / "data" / "eval_prompts.jsonl"),
                    max_prompts=2, temperature=0.8, samples=3, jury={"judges_file": str(BUILTIN_DIR / "judges.yaml")})
    run_eval(step, "t", "b", tmp_path, BUILTIN_DIR)
    assert (captured[0]["temperature"], captured[0]["samples"]) == (0.8, 3)
    with pytest.raises(ValueError, match="temperature"):
        EvalStep(id="e", kind="eval", trained="t", base="b", prompts="p.jsonl", samples=2, jury={"simulated_score": "m:f"})


def test_eval_command_takes_temperature_and_samples(captured, tmp_path):
    from prefjudge.cli.train import app

    args = ["eval", "t", "b", "--prompts", str(BUILTIN_DIR / "data" / "eval_prompts.jsonl"),
            "--judges-file", str(BUILTIN_DIR / "judges.yaml"), "--out", str(tmp_path)]
    res = CliRunner().invoke(app, [*args, "--temperature", "1.0", "--samples", "4"])
    assert res.exit_code == 0, res.output
    assert (captured[0]["temperature"], captured[0]["samples"]) == (1.0, 4)
    greedy_samples = CliRunner().invoke(app, [*args, "--samples", "4"])  # several greedy answers would repeat
    assert greedy_samples.exit_code == 2 and len(captured) == 1
