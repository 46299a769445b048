"""Where a recipe's paths point (docs/recipes.md, "Paths"): paths written in a recipe are relative
to the recipe's folder, paths given on the command line to the current directory, and an ``@step``
output (``@curate``) lives under the run's output folder, never under the recipe's folder.

The end-to-end runs use a two-step recipe (a SIMULATED curate step on 4 prompts, then one DPO step
of a tiny local model) written to a folder that is not the current directory.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from prefjudge.cli import app
from prefjudge.recipes.loading import BUILTIN_DIR, load_recipe

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = BUILTIN_DIR / "data" / "pipeline_prompts.jsonl"


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("PREFJUDGE_CACHE", str(tmp_path_factory.getbasetemp() / "prefjudge-cache"))
    monkeypatch.delenv("PREFJUDGE_JUDGES", raising=False)


def small_recipe(folder: Path) -> Path:
    """curate (SIMULATED, prompts from ``data/prompts.jsonl`` beside the recipe) -> dpo on ``@curate``."""
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "prompts.jsonl").write_text("".join(PROMPTS.read_text().splitlines(keepends=True)[:4]))
    recipe = {
        "name": "paths",
        "steps": [
            {"id": "curate", "kind": "curate", "audit": [],
             "simulated": {"score": "prefjudge.train.scores:explanation_score", "seed": 0},
             "config": {"input": {"prompts": "data/prompts.jsonl"}, "generate": {"n": 2, "temperature": [0.3, 0.9]},
                        "rank": {"strategy": "knockout"}, "output": {"format": "jsonl"}}},
            {"id": "dpo", "kind": "dpo",
             "config": {"model": {"tiny": {"chat_template": "chatml"}}, "quantization": {"mode": "none"},
                        "lora": {"r": 4, "alpha": 8}, "data": {"path": "@curate"}, "device": "cpu",
                        "dpo": {"max_steps": 1, "per_device_train_batch_size": 2, "gradient_checkpointing": False,
                                "max_length": 512, "logging_steps": 1}}},
        ],
        "cpu_threads": 1,
    }
    path = folder / "paths.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def run_cli(*args: str):
    return CliRunner().invoke(app, ["recipe", "run", *args])


@pytest.mark.timeout(600)
@pytest.mark.slow
def test_relative_out_from_another_directory_and_curate_ref_under_out(tmp_path, monkeypatch):
    """`--out runs/rel` is relative to the current directory, and `@curate` is the export under it
    (before the fix the DPO step looked for `<recipe folder>/runs/rel/curate/dataset`)."""
    recipe = small_recipe(tmp_path / "recipes")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    res = run_cli(str(recipe), "--out", "runs/rel")
    assert res.exit_code == 0, res.output
    out = work / "runs" / "rel"
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "ok" and run["out"] == str(out)
    dpo_config = run["config"]["steps"][1]
    assert dpo_config["data"]["path"] == str(out / "curate" / "dataset") == run["curate"]["path"]
    assert Path(run["adapter_path"]).is_dir() and out in Path(run["adapter_path"]).parents
    assert not (recipe.parent / "runs").exists()


@pytest.mark.timeout(600)
@pytest.mark.slow
def test_hostile_out_with_spaces_unicode_and_dotdot(tmp_path, monkeypatch):
    """An --out with spaces, non-ASCII letters and a `..` component is normalised and works end to end."""
    recipe = small_recipe(tmp_path / "my recipes")
    monkeypatch.chdir(tmp_path)
    res = run_cli(str(recipe.relative_to(tmp_path)), "--out", "rüns wïth spaces/ünïcødé ✓/../final run")
    assert res.exit_code == 0, res.output
    out = tmp_path / "rüns wïth spaces" / "final run"
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "ok" and run["out"] == str(out) and ".." not in run["out"]
    assert run["curate"]["rows"]["exported"] > 0 and run["train"]["history"]
    assert run["recipe_path"] == str(recipe)
    assert not (tmp_path / "rüns wïth spaces" / "ünïcødé ✓").exists()


def test_an_out_that_is_a_file_is_refused_clearly(tmp_path, monkeypatch):
    recipe = small_recipe(tmp_path / "recipes")
    monkeypatch.chdir(tmp_path)
    Path("taken.txt").write_text("not a folder")
    res = run_cli(str(recipe), "--out", "taken.txt")
    assert res.exit_code == 2
    assert f"{tmp_path / 'taken.txt'} is an existing file" in res.output
    assert "Traceback" not in res.output and Path("taken.txt").read_text() == "not a folder"
    quick = CliRunner().invoke(app, ["quickstart", "--out", "taken.txt"])
    assert quick.exit_code == 2 and f"{tmp_path / 'taken.txt'} is an existing file" in quick.output
    assert "SIMULATED JURY" not in quick.output  # refused before anything starts


def test_recipe_paths_are_relative_to_the_recipe_folder(tmp_path, monkeypatch):
    """Every path written in a recipe is anchored to the recipe's folder at load time, whatever the
    current directory: files, stores, the export folder, judges files; a model or dataset name is a
    folder beside the recipe when one exists there, else a Hub id left as written."""
    folder = tmp_path / "recipes"
    recipe = small_recipe(folder)
    (folder / "models" / "base").mkdir(parents=True)
    (folder / "judges.yaml").write_text(yaml.safe_dump([{"model": "gpt-4o-mini"}]))
    (folder / "data" / "heldout.jsonl").write_text('{"prompt": "p"}\n')
    raw = yaml.safe_load(recipe.read_text())
    curate, dpo = raw["steps"]
    curate["judges_file"] = "judges.yaml"
    curate["config"]["generate"]["store"] = "stores/generate.db"
    curate["config"]["rank"]["store"] = "stores/rank.db"
    curate["config"]["output"]["dir"] = "exports/curated"
    curate["config"]["decontaminate"] = {"benchmarks": {"heldout": "data/heldout.jsonl", "inline": ["a text"]},
                                         "text_field": "prompt"}
    dpo["sample"] = "data/prompts.jsonl"
    dpo["config"]["model"] = {"name_or_path": "models/base"}
    raw["steps"].append({"id": "hub", "kind": "dpo", "config": {"model": {"name_or_path": "Qwen/Qwen2.5-0.5B-Instruct"},
                                                               "data": {"path": "data/prompts.jsonl"}}})
    raw["steps"].append({"id": "merged", "kind": "merge", "base": "models/base", "adapters": ["@dpo"]})
    raw["steps"].append({"id": "eval", "kind": "eval", "trained": "@merged", "base": "Qwen/Qwen2.5-0.5B-Instruct",
                         "prompts": "data/heldout.jsonl", "jury": {"judges_file": "judges.yaml"}})
    recipe.write_text(yaml.safe_dump(raw))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    steps = {s.id: s for s in load_recipe(Path("..") / "recipes" / "paths.yaml").steps}
    c = steps["curate"]
    assert c.judges_file == str(folder / "judges.yaml")
    assert c.config["input"]["prompts"] == str(folder / "data" / "prompts.jsonl")
    assert c.config["generate"]["store"] == str(folder / "stores" / "generate.db")
    assert c.config["rank"]["store"] == str(folder / "stores" / "rank.db")
    assert c.config["output"]["dir"] == str(folder / "exports" / "curated")
    assert c.config["decontaminate"]["benchmarks"] == {"heldout": str(folder / "data" / "heldout.jsonl"),
                                                       "inline": ["a text"]}
    assert steps["dpo"].sample == str(folder / "data" / "prompts.jsonl")
    assert steps["dpo"].config["model"]["name_or_path"] == str(folder / "models" / "base")
    assert steps["dpo"].config["data"]["path"] == "@curate"  # derived: resolved under OUT at run time
    assert steps["hub"].config["model"]["name_or_path"] == "Qwen/Qwen2.5-0.5B-Instruct"
    assert steps["hub"].config["data"]["path"] == str(folder / "data" / "prompts.jsonl")
    assert steps["merged"].base == str(folder / "models" / "base") and steps["merged"].adapters == ["@dpo"]
    assert steps["eval"].prompts == str(folder / "data" / "heldout.jsonl")
    assert steps["eval"].jury.judges_file == str(folder / "judges.yaml")
    assert steps["eval"].base == "Qwen/Qwen2.5-0.5B-Instruct"


def test_cli_paths_are_relative_to_the_current_directory(tmp_path, monkeypatch):
    """--judges-file and PREFJUDGE_JUDGES: relative to the current directory, made absolute at once."""
    from prefjudge.cli.quickstart import judges_source

    monkeypatch.chdir(tmp_path)
    assert judges_source(Path("j.yaml")) == tmp_path / "j.yaml"
    monkeypatch.setenv("PREFJUDGE_JUDGES", "sub/../env.yaml")
    assert judges_source(None) == tmp_path / "env.yaml"
    assert judges_source(Path("cli.yaml")) == tmp_path / "cli.yaml"  # the option wins over the variable
    monkeypatch.delenv("PREFJUDGE_JUDGES")
    assert judges_source(None) is None


def test_two_quickstarts_in_the_same_second_get_two_folders(tmp_path, monkeypatch):
    from prefjudge.cli.quickstart import default_out

    monkeypatch.chdir(tmp_path)
    now = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    first, second = default_out(now), default_out(now)
    assert first != second and first.is_dir() and second.is_dir()
    assert first == tmp_path / "runs" / "quickstart-20250102-030405"
    assert second.parent == first.parent and second.name.startswith(first.name)
    from prefjudge.recipes.runner import default_out as recipe_default_out

    a, b = recipe_default_out("paths", "smoke", now), recipe_default_out("paths", "smoke", now)
    assert a != b and a.is_dir() and b.is_dir() and a.is_absolute()


@pytest.mark.timeout(120)
@pytest.mark.slow
def test_the_quickstart_script_takes_paths_relative_to_the_callers_directory(tmp_path):
    """`bash scripts/quickstart --out X` from another directory: X is relative to that directory
    (the script used to cd to the repository root first); an existing file is refused at once."""
    import os
    import subprocess

    (tmp_path / "taken.txt").write_text("a file")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFJUDGE_")}
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "quickstart"), "--out", "taken.txt"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=110)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert f"output folder {tmp_path / 'taken.txt'} is an existing file" in proc.stderr
    assert not (ROOT / "taken.txt").exists()
