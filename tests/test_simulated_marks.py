"""Every artefact of a run with simulated judges or generators says so at the top: the audit (JSON key,
HTML banner, Markdown line), the dataset card, the export's JSON and config files, run.json, eval.json
and the quickstart's summary. The mark comes from the code that started the simulator (an explicit
register, or the recipe step's own record), never from the URL: a loopback SimServer that a test
passes off as a real API stays unmarked."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

import prefjudge as pj
from prefjudge.recipes.loading import BUILTIN_DIR
from prefjudge.simulated import from_meta, headline, marker

SCORE = "prefjudge.train.scores:explanation_score"
JURY = ["gpt-sim", "claude-sim", "llama-sim"]
WRITERS = ["gpt-sim-writer", "claude-sim-writer", "llama-sim-writer"]


def _pairs(n=6):
    return [{"id": f"p{i}", "prompt": f"Question {i}: why is the sky blue?", "response_a": f"Short {i}.",
             "response_b": f"The answer explains the reason step by step {i}: light scatters, and the summary compares colours."}
            for i in range(n)]


def _banner_first(text: str) -> bool:
    """The card's first line after its title is the SIMULATED banner."""
    body = text.split("\n---\n", 1)[1].lstrip()
    lines = [ln for ln in body.splitlines() if ln.strip()]
    return lines[0].startswith("# ") and lines[1].startswith("> **SIMULATED: ")


def test_the_simulated_jury_marks_audit_preferences_card_and_files(tmp_path):
    from prefjudge.testing import simulated_jury

    with simulated_jury(SCORE) as judges:
        result = pj.rank_pairs(_pairs(), judges, order="random", seed=0)
    report = pj.audit(result)
    data = report.to_dict()
    assert list(data)[0] == "simulated" and data["simulated"]["judges"] == JURY and data["simulated"]["generators"] == []
    html = report.to_html()
    assert html.index('class="simulated"') < html.index("<h1>") and "<title>SIMULATED: prefjudge audit</title>" in html
    assert "SIMULATED: the verdicts come from simulated judges (gpt-sim, claude-sim, llama-sim)" in html
    md = report.to_markdown().splitlines()
    assert md[0] == "# Judge audit" and md[2].startswith("> **SIMULATED: the verdicts come from simulated judges")
    prefs = pj.to_preferences(result, drop_ties=False)
    assert prefs.provenance["simulated"]["judges"] == JURY
    out = pj.export(prefs, tmp_path / "o", audit=report, config={"seed": 0})
    card = (out / "README.md").read_text()
    assert _banner_first(card) and "- simulated" in card.split("\n---\n", 1)[0]  # banner and tag
    assert "`gpt-sim` (SIMULATED: prefjudge's simulated judge, not an LLM), model `gpt-sim`" not in card  # name == model
    assert "`gpt-sim` (SIMULATED: prefjudge's simulated judge, not an LLM), backend `openai`" in card
    for name in ("curation_report.json", "audit.json"):
        doc = json.loads((out / name).read_text())
        assert list(doc)[0] == "simulated" and doc["simulated"]["judges"] == JURY, name
    assert (out / "prefjudge_config.yaml").read_text().startswith("# SIMULATED: the verdicts come from simulated judges")
    # the bare Dataset keeps the mark: its export and a re-curation of it still say SIMULATED
    bare = (pj.export(prefs.dataset, tmp_path / "bare") / "README.md").read_text()
    assert _banner_first(bare) and "`gpt-sim` (SIMULATED)" in bare
    assert pj.to_preferences(prefs.dataset, drop_ties=False).provenance["simulated"]["judges"] == JURY


def test_a_loopback_server_standing_in_for_a_real_api_is_not_marked(tmp_path):
    """127.0.0.1 alone proves nothing (vLLM runs there too): only the code that started a simulator marks it."""
    from prefjudge.testing import SimJudge, SimServer

    with SimServer(judges=[SimJudge(name="stand-in")]) as server:
        result = pj.rank_pairs(_pairs(2), [pj.Judge("stand-in", base_url=server.base_url, api_key="x")])
    report = pj.audit(result)
    assert report.to_dict()["simulated"] is None and "SIMULATED" not in report.to_html()
    assert "SIMULATED" not in report.to_markdown()
    prefs = pj.to_preferences(result, drop_ties=False)
    assert "simulated" not in prefs.provenance
    card = (pj.export(prefs, tmp_path / "o", audit=report) / "README.md").read_text()
    assert "SIMULATED" not in card and "- simulated" not in card


def test_a_judge_entry_can_carry_the_flag_itself():
    meta = {"judges": [{"name": "a", "model": "a", "simulated": True}, {"name": "b", "model": "b"}]}
    assert from_meta(meta) == marker(judges=["a"])
    assert headline(marker(generators=["w"])) == ("SIMULATED: the answers come from simulated generators (w) of "
                                                  "prefjudge.testing (SimServer on 127.0.0.1), not from real LLMs.")


def _curate_only_recipe(tmp_path: Path, judges_file: Path | None = None) -> Path:
    raw = yaml.safe_load((BUILTIN_DIR / "curate_judge_train.yaml").read_text())
    curate = raw["steps"][0]
    curate["config"]["input"]["prompts"] = str(BUILTIN_DIR / "data" / "pipeline_prompts.jsonl")
    curate["config"]["decontaminate"]["benchmarks"]["eval_prompts"] = str(BUILTIN_DIR / "data" / "pipeline_eval_prompts.jsonl")
    smoke = raw["profiles"]["smoke"]["steps"]["curate"]
    smoke["config"].update(input={"limit": 4}, generate={"n": 1, "temperature": 0.7})
    smoke["config"]["preferences"] = {"min_agreement": None, "length_balance": None}
    if judges_file is not None:
        smoke["judges_file"] = str(judges_file)
    recipe = {"name": "curate_only", "steps": [curate], "profiles": {"smoke": {"steps": {"curate": smoke}}}}
    path = tmp_path / "curate_only.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_a_simulated_recipe_run_marks_run_json_card_and_audit_files(tmp_path):
    from prefjudge.recipes.runner import run_recipe

    run = run_recipe(_curate_only_recipe(tmp_path), profile="smoke", out=tmp_path / "out", echo=lambda *_: None)
    saved = json.loads((tmp_path / "out" / "run.json").read_text())
    assert list(saved)[0] == "simulated"
    assert saved["simulated"]["judges"] == JURY and saved["simulated"]["generators"] == WRITERS
    c = run["curate"]
    card = Path(c["card"]).read_text()
    assert _banner_first(card)
    assert "the verdicts come from simulated judges (gpt-sim, claude-sim, llama-sim) and the answers from simulated generators" in card
    assert "`gpt-sim-writer` (SIMULATED)" in card
    assert "- Generation: samples per prompt and generator `1`, temperature `0.7`" in card
    assert "- Decontamination: against `eval_prompts`, 48 texts (13-word n-grams in `prompt`)" in card
    html = Path(c["audit"]["html"]).read_text()
    assert html.index('class="simulated"') < html.index("<h1>") and "simulated generators (gpt-sim-writer" in html
    assert "> **SIMULATED: " in Path(c["audit"]["md"]).read_text().splitlines()[2]
    audit = json.loads(Path(c["audit"]["json"]).read_text())
    assert list(audit)[0] == "simulated" and audit["simulated"]["generators"] == WRITERS


def test_real_judges_on_simulated_answers_mark_only_the_generators(tmp_path):
    from prefjudge.recipes.runner import run_recipe
    from prefjudge.testing import SimJudge, SimServer, SimWorld

    with SimServer(judges=[SimJudge(name="real-stand-in")], world=SimWorld(score=SCORE)) as server:
        (tmp_path / "judges.yaml").write_text(yaml.safe_dump([{"model": "real-stand-in", "base_url": server.base_url}]))
        run = run_recipe(_curate_only_recipe(tmp_path, tmp_path / "judges.yaml"), profile="smoke", out=tmp_path / "out",
                         echo=lambda *_: None)
    assert run["simulated"] == marker(generators=WRITERS)
    card = Path(run["curate"]["card"]).read_text()
    assert _banner_first(card) and "SIMULATED: the answers come from simulated generators" in card
    assert "`real-stand-in`, backend `openai`" in card  # the judge is not called simulated
    assert json.loads(Path(run["curate"]["audit"]["json"]).read_text())["simulated"]["judges"] == []


def test_eval_result_records_simulated_judges_first(tmp_path):
    from prefjudge.recipes.evaluation import EvalResult, _simulated
    from prefjudge.testing import simulated_jury

    with simulated_jury(SCORE) as judges:
        sim = _simulated(None, judges)
    assert sim == marker(judges=JURY)
    rate = {"value": None, "ci": None, "n": 0, "reason": "x"}
    result = EvalResult(trained="t", base="b", n_prompts=0, win_rate=rate, lc_win_rate=rate, outcomes={},
                        mean_length={}, judges=JURY, answers=[], simulated=sim)
    assert list(json.loads(result.save(tmp_path).read_text()))[0] == "simulated"


def test_quickstart_summary_opens_with_the_mark_and_explains_the_training_rows(capsys):
    """The quickstart printed "exported 42" then "41 training pairs": the one row was over max_length."""
    from prefjudge.cli.quickstart import print_summary

    h = {"step": 10, "loss": 0.8, "rewards/margins": 0.1, "rewards/accuracies": 0.5}
    run = {"simulated": marker(judges=JURY, generators=WRITERS), "out": "OUT", "wall_seconds": 1.0, "peak_memory_mb": 10.0,
           "train": {"history": [h], "runtime": {"quantization": "4bit"},
                     "rows": {"read": 42, "filtered": 0, "too_long": 1, "train": 41, "eval": 0}},
           "config": {"steps": [{"id": "curate"}, {"dpo": {"max_length": 256, "max_prompt_length": 128}}]}}
    print_summary(run)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    assert lines[0].startswith("SIMULATED: the verdicts come from simulated judges (gpt-sim, claude-sim, llama-sim)")
    assert lines[1] == ("DPO (4bit LoRA, 41 training pairs of the 42 read: 1 dropped as longer than max_length=256 tokens "
                        "or with a prompt over max_prompt_length=128)")


def test_the_quickstart_docs_show_what_it_prints():
    """docs/quickstart.md shows the summary's lines in the order the quickstart prints them (the
    SIMULATED mark first, the training rows explained), and no longer claims that a rerun on another
    machine repeats the training figures."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "quickstart.md").read_text()
    sample = doc.split("## What you see", 1)[1].split("```", 2)[1]
    order = ["SIMULATED: the verdicts come from simulated judges", "Curation (SIMULATED jury",
             "rows kept after each step", "DPO (4bit LoRA,", "training pairs of the", "dropped as longer than max_length=256",
             "Merge:", "Evaluation, trained vs base", "win rate"]
    at = [sample.index(s) for s in order]
    assert at == sorted(at)
    assert "Which numbers are fixed and which vary" in doc and "the same machine gives the same numbers" not in doc
