"""The built-in recipe curate_judge_train, the whole pipeline, and `prefjudge quickstart`, its smoke run.

One quickstart run (a subprocess, the README's main command) serves every end-to-end check of
run.json; the dry run of the full profile, the config errors and the real-judges switch run
offline in-process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from _quickstart_helpers import artefact_paths

from prefjudge.errors import ConfigError
from prefjudge.recipes.loading import BUILTIN_DIR, load_recipe
from prefjudge.recipes.runner import run_recipe, with_judges
from prefjudge.train.scores import explanation_score

ROOT = Path(__file__).resolve().parents[1]
RECIPE = BUILTIN_DIR / "curate_judge_train.yaml"
LABELS = ("audit report (HTML)", "curated dataset export", "dataset file", "dataset card", "adapter",
          "merged model", "eval answers", "run.json")


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    """`python -m prefjudge.cli quickstart --out OUT` from the repository root, no judge configured."""
    out = tmp_path_factory.mktemp("quickstart") / "run"
    env = {**os.environ, "PREFJUDGE_CACHE": str(tmp_path_factory.getbasetemp() / "cache"),
           "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    env.pop("PREFJUDGE_JUDGES", None)
    proc = subprocess.run([sys.executable, "-m", "prefjudge.cli", "quickstart", "--out", str(out)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout, out, json.loads((out / "run.json").read_text())


@pytest.mark.slow
def test_quickstart_prints_the_banner_the_numbers_and_existing_artefacts(quickstart):
    stdout, out, _ = quickstart
    assert "SIMULATED JURY" in stdout and "NOT from real LLMs" in stdout
    for headline in ("rows kept after each step", "chosen answer longer:", "before length balance",
                     "margins", "accuracies", "max |logit diff|", "win rate", "length-controlled",
                     "mean answer length: base"):
        assert headline in stdout, headline
    paths = artefact_paths(stdout)
    assert set(LABELS) <= set(paths)
    for label, items in paths.items():
        for path in items:
            assert path.exists(), (label, path)
            assert out in path.parents or path.parent == out
    assert paths["audit report (HTML)"][0].name == "audit.html"
    assert (paths["merged model"][0] / "model.safetensors").exists()


@pytest.mark.slow
def test_curation_rows_audit_and_export(quickstart):
    _, out, run = quickstart
    assert run["status"] == "ok" and (run["recipe"], run["profile"]) == ("curate_judge_train", "smoke")
    c = run["curate"]
    assert run["dataset"] == c and c["simulated"] and c["simulated_jury"]
    rows = c["rows"]
    assert list(rows)[:5] == ["prompts", "candidates", "comparisons", "judgments", "pairs"]
    assert (rows["prompts"], rows["candidates"], rows["pairs"]) == (64, 64 * 12, 64)
    assert rows["comparisons"] <= 64 * 24 and rows["judgments"] == 3 * rows["comparisons"]
    after = list(rows.values())[4:]
    assert all(a >= b for a, b in zip(after, after[1:])), rows  # each step only removes rows
    assert {"min_agreement", "decontaminate", "dedup:near", "length_balance:equal"} <= set(rows)
    assert rows["length_balance:equal"] < rows["dedup:near"] and rows["exported"] == rows["length_balance:equal"]
    lb = c["length_balance"]
    assert lb["before"] > 0.6 and lb["after"] == 0.5  # claude-sim's length bias, then balanced
    assert c["latent_score"]["chosen_mean"] > c["latent_score"]["rejected_mean"] + 1.0
    assert c["latent_score"]["chosen_better_share"] >= 0.9
    data = [json.loads(line) for line in Path(c["data_files"][0]).read_text().splitlines()]
    assert len(data) == rows["exported"] and {"prompt", "chosen", "rejected", "margin"} <= set(data[0])
    card = Path(c["card"]).read_text()
    assert "claude-sim" in card and "length_balance" in card
    config = yaml.safe_load((Path(c["path"]) / "prefjudge_config.yaml").read_text())
    assert [j["model"] for j in config["judges"]] == ["gpt-sim", "claude-sim", "llama-sim"]
    assert all("api_key" not in spec for spec in config["judges"] + config["generators"])


@pytest.mark.slow
def test_audit_reports_show_the_simulated_biases(quickstart):
    _, out, run = quickstart
    audit = run["curate"]["audit"]
    assert set(audit) == {"html", "md", "json"} and all(Path(p).parent == out / "curate" for p in audit.values())
    html = Path(audit["html"]).read_text()
    assert html.count("<svg") == 4
    for plot in ("plot-first", "plot-longer", "plot-family", "plot-agreement"):
        assert f'id="{plot}"' in html
    report = json.loads(Path(audit["json"]).read_text())
    judges = report["judges"]
    assert set(judges) == {"gpt-sim", "claude-sim", "llama-sim"}
    assert judges["claude-sim"]["p_longer"]["value"] > 0.6  # length_bias 0.8 in default_sim_jury
    assert judges["gpt-sim"]["p_first"]["value"] > 0.5      # position_bias 0.1
    assert "| " in Path(audit["md"]).read_text() and run["curate"]["audit_warnings"]


@pytest.mark.slow
def test_training_merge_and_evaluation(quickstart):
    _, out, run = quickstart
    train, c = run["train"], run["curate"]
    h = train["history"]
    assert len(h) >= 3 and h[-1]["rewards/margins"] > h[0]["rewards/margins"] + 0.5
    # the last logged accuracy is over 8 pairs (one pair = 0.125): the last two logs together must be high
    late = (h[-1]["rewards/accuracies"] + h[-2]["rewards/accuracies"]) / 2
    assert h[-1]["rewards/accuracies"] > h[0]["rewards/accuracies"] and late >= 0.85
    assert train["runtime"]["quantization"] == "4bit" and train["runtime"]["linear4bit_layers"] == 14
    assert train["rows"]["read"] == c["rows"]["exported"]
    assert run["config"]["steps"][1]["data"]["path"] == c["path"]  # "@curate" resolved to the export
    assert Path(run["adapter_path"], "adapter_config.json").exists()
    merge = run["merge"]
    assert merge["max_abs_logit_diff"] <= merge["tolerance"] and merge["max_abs_logit_diff"] < 1e-4
    ev = run["eval"]
    assert ev["simulated"] and ev["win_rate"]["n"] == 16 and ev["win_rate"]["value"] > 0.5
    assert ev["lc_win_rate"]["value"] is not None or ev["lc_win_rate"]["reason"]
    answers = json.loads(Path(ev["path"]).read_text())["answers"]
    trained = sum(explanation_score("", a["trained"]) for a in answers) / len(answers)
    base = sum(explanation_score("", a["base"]) for a in answers) / len(answers)
    assert trained > base + 1.0  # the learned preference, measured with the world's own score
    assert run["cpu_threads"] == 1 and run["wall_seconds"] > 0 and run["peak_memory_mb"] > 0


def test_full_profile_dry_run_offline(monkeypatch):
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    lines: list[str] = []
    plan = run_recipe(RECIPE, dry_run=True, echo=lines.append)
    curate, dpo, merged, ev = plan["steps"]
    assert [s["kind"] for s in plan["steps"]] == ["curate", "dpo", "merge", "eval"]
    assert [j["name"] for j in curate["judges"]] == ["gpt-4o-mini", "anthropic/claude-3-5-haiku-latest", "llama-3.1-8b"]
    assert curate["judges"][0]["credentials"] == "OPENAI_API_KEY (NOT set)"
    assert curate["judges"][1]["credentials"] == "ANTHROPIC_API_KEY (NOT set)"
    assert curate["generators"][0]["credentials"].startswith("server at http://127.0.0.1:8000")
    assert (curate["input"]["n_prompts"], curate["candidates_per_prompt"]) == (160, 6)
    assert curate["calls"] == {"generate": 960, "judge_at_most": 160 * 12 * 3}
    assert not curate["simulated"] and curate["preferences"]["length_balance"] == "equal"
    assert dpo["model"] == "Qwen/Qwen2.5-0.5B-Instruct" and dpo["quantization"]["mode"] == "4bit"
    assert dpo["data"]["source"] == "@curate" and dpo["data"]["kept"] == 8
    assert dpo["memory"]["model"] == "qwen2.5-0.5b" and "T4" in dpo["memory"]["fits"]
    assert merged["base"] == "Qwen/Qwen2.5-0.5B-Instruct" and ev["n_prompts"] == 48
    text = lines[0]
    assert "jury: gpt-4o-mini" in text and "SIMULATED" not in text and "fits every step: T4" in text


BROKEN = [
    (("steps", 0, "config", "rank", "order"), "sideways", "field 'config.rank.order'"),
    (("steps", 0, "config", "preferences", "min_agreemnt"), 0.5, "field 'config.preferences.min_agreemnt': unknown field"),
    (("steps", 0, "config", "input", "prompts"), None, "field 'config.input'"),
    (("profiles", "smoke", "steps", "curate", "simulated", "score"), "no_such_module:fn", "field 'simulated.score'"),
    (("steps", 0, "audit"), ["pdf"], "field 'steps[0].curate.audit[0]'"),
    (("steps", 1, "config", "dpo", "beta"), "high", "field 'dpo.beta'"),
]


@pytest.mark.parametrize("where, value, message", BROKEN)
def test_a_broken_config_names_the_field(tmp_path, where, value, message):
    raw = yaml.safe_load(RECIPE.read_text())
    node = raw
    for key in where[:-1]:
        node = node[key]
    if value is None:
        node.pop(where[-1])
    else:
        node[where[-1]] = value
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(raw))
    profile = "smoke" if where[0] == "profiles" else "full"
    with pytest.raises(ConfigError) as err:
        load_recipe(path, profile)
    assert message in str(err.value)


@pytest.mark.slow
def test_real_judges_replace_the_simulated_jury(tmp_path):
    """`prefjudge recipe run --judges-file` (and the quickstart's PREFJUDGE_JUDGES): real judges (here a second loopback server standing in
    for an OpenAI-compatible API) judge the simulated writers' answers; the eval step switches too."""
    from prefjudge.testing import SimJudge, SimServer, SimWorld

    raw = yaml.safe_load(RECIPE.read_text())
    curate = raw["steps"][0]
    curate["config"]["input"]["prompts"] = str(BUILTIN_DIR / "data" / "pipeline_prompts.jsonl")
    curate["config"].pop("decontaminate")
    smoke = raw["profiles"]["smoke"]["steps"]["curate"]
    smoke["config"].update(input={"limit": 6}, generate={"n": 1, "temperature": 0.7})
    recipe = {"name": "curate_only", "steps": [curate], "profiles": {"smoke": {"steps": {"curate": smoke}}}}
    path = tmp_path / "curate_only.yaml"
    path.write_text(yaml.safe_dump(recipe))
    judges = [SimJudge(name="gpt-4o-mini-stand-in", noise=0.5), SimJudge(name="claude-stand-in", noise=0.5)]
    with SimServer(judges=judges, world=SimWorld(score="prefjudge.train.scores:explanation_score")) as server:
        (tmp_path / "judges.yaml").write_text(yaml.safe_dump(
            [{"model": j.name, "base_url": server.base_url} for j in judges]))
        from typer.testing import CliRunner

        from prefjudge.cli import app

        res = CliRunner().invoke(app, ["recipe", "run", str(path), "--smoke", "--out", str(tmp_path / "out"),
                                       "--judges-file", str(tmp_path / "judges.yaml")])
        assert res.exit_code == 0, res.output
        run = json.loads((tmp_path / "out" / "run.json").read_text())
        calls = len(server.log)
    c = run["curate"]
    assert c["judges"] == ["gpt-4o-mini-stand-in", "claude-stand-in"] and c["simulated"] and not c["simulated_jury"]
    assert c["rows"]["prompts"] == 6 and calls == c["rows"]["judgments"] > 0
    assert "api_key" not in (Path(c["path"]) / "prefjudge_config.yaml").read_text()
    switched = with_judges(load_recipe(RECIPE, "smoke"), tmp_path / "judges.yaml")
    assert switched.steps[3].jury.judges_file == str((tmp_path / "judges.yaml").resolve())
    assert switched.steps[3].jury.simulated_score is None
