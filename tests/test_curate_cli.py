"""`prefjudge curate config.yaml`: config validation and end-to-end runs (local data; simulated servers)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from prefjudge.curate.config import CurateConfig
from prefjudge.errors import ConfigError


def _invoke(*args):
    from prefjudge.cli import app

    return CliRunner().invoke(app, ["curate", *map(str, args)])


def _write(tmp_path, cfg: dict):
    path = tmp_path / "curate.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_config_errors_name_the_key(tmp_path):
    base = {"input": {"dataset": "x.parquet"}, "output": {"dir": str(tmp_path / "o")}}
    with pytest.raises(ConfigError, match=r"field 'preferences\.min_margn': unknown field"):
        CurateConfig.from_file(_write(tmp_path, {**base, "preferences": {"min_margn": 0.2}}))
    with pytest.raises(ConfigError, match="exactly one of dataset, pairs, candidates, prompts"):
        CurateConfig.from_file(_write(tmp_path, {**base, "input": {"dataset": "x", "pairs": "y"}}))
    with pytest.raises(ConfigError, match="input.pairs needs judges"):
        CurateConfig.from_file(_write(tmp_path, {**base, "input": {"pairs": "p.jsonl"}}))
    with pytest.raises(ConfigError, match="curate config not found"):
        CurateConfig.from_file(tmp_path / "missing.yaml")
    result = _invoke(_write(tmp_path, {**base, "dedup": {"near": 2}}), "--check")
    assert result.exit_code == 2 and "dedup.near" in result.output
    result = _invoke(_write(tmp_path, base), "--check")
    assert result.exit_code == 0 and "valid (dataset input" in result.output


def test_curate_local_dataset_with_filters_dedup_and_decontamination(tmp_path):
    import datasets

    long = "This is a careful answer that explains the idea in enough detail to pass the length filter of the recipe."
    rows = [{"system": "", "question": q, "chosen": c, "rejected": "meh"} for q, c in [
        ("What is DPO?", long), ("what is dpo", long), ("Define LoRA.", long), ("Short one?", "Too short."),
        ("Natalia sold clips to 48 of her friends in April and then she sold half as many clips in May", long)]]
    pd.DataFrame(rows).to_parquet(tmp_path / "orca.parquet")
    (tmp_path / "bench.txt").write_text("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May.\n")
    cfg = {
        "input": {"dataset": str(tmp_path / "orca.parquet"), "schema": "orca_dpo_pairs"},
        "preferences": {"format": "standard", "chat_template": "chatml"},
        "filters": {"min_chosen_chars": 100, "chosen_starts_upper": True, "chosen_ends_with": ".!?"},
        "dedup": {"exact": True},
        "decontaminate": {"benchmarks": {"gsm8k": str(tmp_path / "bench.txt")}},
        "output": {"dir": str(tmp_path / "out"), "format": "jsonl", "license": "apache-2.0"},
    }
    result = _invoke(_write(tmp_path, cfg))
    assert result.exit_code == 0, result.output
    assert "5 rows in, 2 pairs out" in result.output
    ds = datasets.load_dataset(str(tmp_path / "out"), split="train")
    assert [r["prompt"] for r in ds] == ["<|im_start|>user\nWhat is DPO?<|im_end|>\n<|im_start|>assistant\n",
                                         "<|im_start|>user\nDefine LoRA.<|im_end|>\n<|im_start|>assistant\n"]
    assert yaml.safe_load((tmp_path / "out" / "prefjudge_config.yaml").read_text())["dedup"] == {"exact": True}
    steps = {s["step"]: s["removed"] for s in json.loads((tmp_path / "out" / "curation_report.json").read_text())["report"]["steps"]}
    assert steps["filter:min_chosen_chars"] == 1 and steps["decontaminate"] == 1 and steps["dedup:exact"] == 1


def test_curate_prompts_generate_rank_and_export_with_the_simulator(tmp_path):
    import datasets

    from prefjudge.testing import SimServer, default_sim_generators, default_sim_jury, make_demo_prompts

    with SimServer(judges=default_sim_jury(), generators=default_sim_generators()) as server:
        url = server.base_url
        cfg = {
            "input": {"prompts": make_demo_prompts(5)},
            "generators": [{"model": g.name, "base_url": url} for g in default_sim_generators()],
            "generate": {"n": 2, "temperature": [0.3, 1.0], "store": str(tmp_path / "gen.db")},
            "judges": [{"model": j.name, "base_url": url} for j in default_sim_jury()],
            "jury": {"aggregate": "majority"},
            "rank": {"strategy": "adaptive", "store": str(tmp_path / "rank.db")},
            "preferences": {"format": "conversational", "min_margin": 0.0},
            "output": {"dir": str(tmp_path / "out")},
        }
        result = _invoke(_write(tmp_path, cfg))
    assert result.exit_code == 0, result.output
    ds = datasets.load_dataset(str(tmp_path / "out"), split="train")
    assert len(ds) == 5 and ds[0]["chosen"][0]["role"] == "assistant"
    assert set(ds["model_chosen"]) <= {g.name for g in default_sim_generators()}
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "## Audit summary" in readme and "No audit was attached" not in readme
    assert "Ranking strategy: `adaptive`" in readme and (tmp_path / "out" / "audit.json").exists()


def _doc_blocks(lang: str) -> list[str]:
    from pathlib import Path

    text = (Path(__file__).parent.parent / "docs" / "curation.md").read_text()
    return [b.split("```", 1)[0] for b in text.split(f"```{lang}\n")[1:]]


def test_docs_yaml_example_is_a_valid_config(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(_doc_blocks("yaml")[0])
    cfg = CurateConfig.from_file(path)
    assert cfg.input.kind == "prompts" and cfg.rank.strategy == "adaptive" and cfg.push.private


def test_docs_runnable_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(_doc_blocks("python")[0], "docs/curation.md", "exec"), {})
    assert "num_rows" in capsys.readouterr().out and (tmp_path / "out" / "prefs" / "README.md").exists()
