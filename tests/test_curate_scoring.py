"""A curate run scored by ratings (``rank.strategy: rating``) and by reward models in the judges list:
the config, ``run_curation``, the recipe step's functions and judges files, over real HTTP to the
simulated judges and with a tiny local reward model whose scores follow a known rule."""

from __future__ import annotations

import json
import math
import re

import pandas as pd
import pytest
import yaml

import prefjudge as pj
from prefjudge.curate.config import CurateConfig
from prefjudge.curate.pipeline import run_curation
from prefjudge.errors import ConfigError
from prefjudge.testing import SimJudge, SimServer, SimWorld
from prefjudge.testing.tiny_reward import GOOD, build_tiny_reward_model

JUDGES = [SimJudge(name="gpt-sim", family="openai", noise=0.6), SimJudge(name="claude-sim", family="anthropic", noise=0.6)]


@pytest.fixture(scope="module")
def rm_path(tmp_path_factory):
    return build_tiny_reward_model(tmp_path_factory.mktemp("rm") / "tiny-rm")


def _candidates(world: SimWorld, tmp_path, n_prompts: int = 4, n: int = 4) -> str:
    """A candidates file; answer k of each prompt has latent quality k - 1 in ``world``."""
    rows = []
    for p in range(n_prompts):
        for k in range(n):
            text = f"Answer {k} to question {p}: " + "the method works because the data shows it. " * (k + 1)
            world.register(text, quality=float(k) - 1.0)
            rows.append({"prompt": f"Question {p}: why does it work?", "response": text, "model": f"gen-{k}"})
    path = tmp_path / "cands.jsonl"
    pd.DataFrame(rows).to_json(path, orient="records", lines=True)
    return str(path)


def _config(tmp_path, judges: list[dict], **sections) -> dict:
    return {"judges": judges, "output": {"dir": str(tmp_path / "out"), "format": "jsonl", "overwrite": True},
            **sections}


def _llm(server, names=None) -> list[dict]:
    return [{"model": j.name, "base_url": server.base_url, "api_key": "x"} for j in JUDGES
            if names is None or j.name in names]


def _given_scores(server) -> dict[str, list[float]]:
    """The scores the simulated judges gave, per rated answer (from the server's log)."""
    out: dict[str, list[float]] = {}
    for r in server.log:
        assert r.kind == "rate", "strategy 'rating' makes rating calls only, never a pairwise one"
        out.setdefault(r.first, []).append(r.score)
    return out


def test_rating_strategy_rates_every_answer_once_per_judge_and_pairs_best_against_lowest(tmp_path):
    world = SimWorld()
    cands = _candidates(world, tmp_path)
    with SimServer(judges=JUDGES, world=world) as server:
        cfg = CurateConfig.model_validate(_config(
            tmp_path, _llm(server), input={"candidates": cands},
            rank={"strategy": "rating", "store": str(tmp_path / "rank.db")}))
        run = run_curation(cfg)
        given = _given_scores(server)
        assert server.count_ok() == 16 * 2  # one call per answer and judge
        again = run_curation(cfg)  # a rerun reads every rating from the store: no new call
        assert server.count_ok() == 16 * 2
    df = run.prefs.to_pandas()
    assert len(df) == 4
    by_prompt: dict[str, list[float]] = {}
    for text, scores in given.items():
        by_prompt.setdefault(text.split(":")[0].split(" to ")[1], []).append(sum(scores) / len(scores))
    for r in df.to_dict("records"):
        chosen, rejected = sum(given[r["chosen"]]) / 2, sum(given[r["rejected"]]) / 2
        assert (r["score_chosen"], r["score_rejected"]) == (pytest.approx(chosen), pytest.approx(rejected))
        assert chosen > rejected and r["margin"] == pytest.approx(chosen - rejected)
        question = r["chosen"].split(":")[0].split(" to ")[1]
        assert chosen == pytest.approx(max(by_prompt[question])) and rejected == pytest.approx(min(by_prompt[question]))
        assert r["agreement"] is not None and sorted(r["judges"]) == ["claude-sim", "gpt-sim"]
    # the ratings audit goes with the export, and the card says where the pairs came from
    assert run.audit is not None and set(run.audit.to_dict()["judges"]) == {"gpt-sim", "claude-sim"}
    audit = json.loads((tmp_path / "out" / "audit.json").read_text())
    assert audit["judges"]["gpt-sim"]["kind"] == "llm" and "krippendorff_alpha" in audit["agreement"]
    card = (tmp_path / "out" / "README.md").read_text()
    assert "Ranking strategy: `rating`" in card and "- Pairs from ratings: each answer rated on its own (template `single`" in card
    assert "rejected = the lowest-scored answer" in card and "#### Ratings audit" in card
    assert "score gap" in card  # the margin column is documented as a score gap
    assert again.prefs.to_pandas()[["chosen", "rejected"]].equals(df[["chosen", "rejected"]])


def test_random_rejected_is_seeded_and_min_margin_is_a_score_gap(tmp_path):
    world = SimWorld()
    cands = _candidates(world, tmp_path, n_prompts=6, n=5)
    store = str(tmp_path / "rank.db")
    runs = {}
    with SimServer(judges=JUDGES, world=world) as server:
        for seed in (0, 0, 1, 2, 3):
            cfg = CurateConfig.model_validate(_config(
                tmp_path, _llm(server), input={"candidates": cands},
                rank={"strategy": "rating", "store": store, "seed": seed, "rating": {"rejected": "random"}}))
            runs.setdefault(seed, []).append(run_curation(cfg).prefs.to_pandas())
        given = _given_scores(server)
        # rank.rating.min_margin drops pairs whose score gap is below it, in the curation report
        cfg = CurateConfig.model_validate(_config(
            tmp_path, _llm(server), input={"candidates": cands},
            rank={"strategy": "rating", "store": store, "rating": {"rejected": "random", "min_margin": 2.5}}))
        run = run_curation(cfg)
        assert server.count_ok() == 30 * 2  # every run after the first read the store
    assert runs[0][0][["id", "chosen", "rejected"]].equals(runs[0][1][["id", "chosen", "rejected"]])  # same seed
    mean = {t: sum(s) / len(s) for t, s in given.items()}
    drawn: dict[str, set[str]] = {}
    for df, *_ in runs.values():
        for r in df.to_dict("records"):
            assert mean[r["rejected"]] < mean[r["chosen"]]  # drawn among answers scored strictly lower
            assert r["margin"] == pytest.approx(mean[r["chosen"]] - mean[r["rejected"]])
            drawn.setdefault(r["id"], set()).add(r["rejected"])
    assert any(len(v) > 1 for v in drawn.values()), "the seed changes which lower answer is drawn"
    full = runs[0][0]
    assert sorted(run.prefs.to_pandas()["id"]) == sorted(full.loc[full["margin"].astype(float) >= 2.5, "id"])
    step = next(s for s in run.prefs.report.steps if s.step == "min_margin")
    assert step.removed == int((full["margin"].astype(float) < 2.5).sum()) and "2.5" in step.reason


def test_recipe_step_functions_write_the_ratings_audit_and_summary(tmp_path):
    from prefjudge.recipes.steps import curate, export_curated, summarize_curation, validate_curate_config

    world = SimWorld()
    cands = _candidates(world, tmp_path, n_prompts=3, n=3)
    with SimServer(judges=JUDGES, world=world) as server:
        cfg = validate_curate_config(_config(
            tmp_path, _llm(server), input={"candidates": cands},
            rank={"strategy": "rating", "rating": {"template": "ultrafeedback"}, "store": str(tmp_path / "r.db")},
            preferences={"min_agreement": 0.5}, filters={"min_chosen_chars": 10}, dedup={"exact": True}), "test")
        ranked, prefs = curate(cfg)
    assert isinstance(ranked, pj.RatingResult) and ranked.meta["template"] == "ultrafeedback"
    export_dir, report, paths = export_curated(cfg, ranked, prefs, tmp_path / "step", ["html", "md", "json"])
    assert set(paths) == {"html", "md", "json"}
    assert json.loads((tmp_path / "step" / "audit.json").read_text())["meta"]["template"] == "ultrafeedback"
    assert "## Ratings audit" in (tmp_path / "step" / "audit.md").read_text()
    assert "Ratings audit" in (tmp_path / "step" / "audit.html").read_text()
    summary = summarize_curation(cfg, ranked, prefs, export_dir, report, paths)
    assert summary["rows"]["prompts"] == 3 and summary["rows"]["candidates"] == 9 and summary["rows"]["ratings"] == 18
    assert summary["audit_warnings"] == [] and summary["strategy"] == "rating"
    assert summary["pairs_from_ratings"]["rejected"] == "lowest" and summary["pairs_from_ratings"]["n_prompts"] == 3
    assert [s["step"] for s in summary["steps"]][-3:] == ["min_agreement", "filter:min_chosen_chars", "dedup:exact"]
    assert summary["rows"]["exported"] == 3


def _good_rows(n_prompts: int = 3) -> tuple[list[dict], dict[str, int]]:
    """Candidates whose answers hold 0, 1 or 2 GOOD markers (the tiny reward model rewards their share)."""
    rows, goods = [], {}
    for p in range(n_prompts):
        for k in (1, 0, 2):
            text = f"answer {p} " + " ".join([GOOD] * k) + " done"
            goods[text] = k
            rows.append({"prompt": f"Question {p}?", "response": text, "model": f"gen-{k}"})
    return rows, goods


def _rm_entry(path, **kw) -> dict:
    return {"kind": "reward_model", "path": str(path), "name": "tiny-rm", "batch_size": 4, **kw}


def test_reward_model_alone_scores_candidates_with_strategy_rating(rm_path, tmp_path):
    rows, goods = _good_rows()
    pd.DataFrame(rows).to_json(tmp_path / "c.jsonl", orient="records", lines=True)
    cfg = CurateConfig.model_validate(_config(tmp_path, [_rm_entry(rm_path)], input={"candidates": str(tmp_path / "c.jsonl")},
                                              rank={"strategy": "rating"}))
    run = run_curation(cfg)
    df = run.prefs.to_pandas()
    assert len(df) == 3
    rm = pj.RewardModel(rm_path)
    for r in df.to_dict("records"):
        assert goods[r["chosen"]] == 2 and goods[r["rejected"]] == 0  # the rule: more markers, more reward
        prompt = f"Question {r['chosen'].split()[1]}?"
        high, low = rm.score([prompt, prompt], [r["chosen"], r["rejected"]])
        assert r["margin"] == pytest.approx(high - low, abs=1e-5) and r["judges"] == ["tiny-rm"]
    assert run.audit.to_dict()["judges"]["tiny-rm"]["kind"] == "reward"
    assert run.prefs.provenance["judges"][0]["kind"] == "reward"
    card = (tmp_path / "out" / "README.md").read_text()
    assert "- Pairs from ratings: each answer scored on its own by reward models (raw rewards" in card


def test_reward_model_as_a_juror_of_pairs_alone_and_beside_an_llm_judge(rm_path, tmp_path):
    pairs = [{"id": f"p{i}", "prompt": "Which is better?", "response_a": a, "response_b": b}
             for i, (a, b) in enumerate([(f"a {GOOD} answer", "a plain answer"), ("a plain answer", f"{GOOD} {GOOD} yes"),
                                         (f"{GOOD} here", "nothing here at all")])]
    better = {"p0": pairs[0]["response_a"], "p1": pairs[1]["response_b"], "p2": pairs[2]["response_a"]}
    pd.DataFrame(pairs).to_json(tmp_path / "pairs.jsonl", orient="records", lines=True)
    cfg = CurateConfig.model_validate(_config(tmp_path, [_rm_entry(rm_path)], input={"pairs": str(tmp_path / "pairs.jsonl")}))
    alone = run_curation(cfg).prefs.to_pandas()
    assert dict(zip(alone["id"], alone["chosen"])) == better
    rm = pj.RewardModel(rm_path)
    for r in alone.to_dict("records"):
        high, low = rm.score(["Which is better?"] * 2, [r["chosen"], r["rejected"]])
        assert r["margin"] == pytest.approx(abs(2 / (1 + math.exp(-(high - low))) - 1), abs=1e-6)
    world = SimWorld()
    for p in pairs:  # the LLM judge's latent truth follows the same rule
        for text in (p["response_a"], p["response_b"]):
            world.register(text, quality=float(text.count(GOOD)))
    with SimServer(judges=[SimJudge(name="gpt-sim", noise=0.0)], world=world) as server:
        cfg = CurateConfig.model_validate(_config(
            tmp_path, [*_llm(server, {"gpt-sim"}), _rm_entry(rm_path)], input={"pairs": str(tmp_path / "pairs.jsonl")},
            jury={"aggregate": "mean"}, rank={"order": "both", "store": str(tmp_path / "s.db")}))
        run = run_curation(cfg)
        assert server.count_ok() == 6, "the LLM judge's calls only (both orders); the reward model runs locally"
    mixed = run.prefs.to_pandas()
    assert dict(zip(mixed["id"], mixed["chosen"])) == better
    assert all(sorted(j) == ["gpt-sim", "tiny-rm"] for j in mixed["judges"])
    assert [j.get("kind") for j in run.prefs.provenance["judges"]] == [None, "reward_model"]
    assert run.prefs.provenance["aggregate"] == "mean"


def test_reward_model_beside_an_llm_judge_with_strategy_rating(rm_path, tmp_path):
    rows, goods = _good_rows()
    world = SimWorld()
    for text, k in goods.items():
        world.register(text, quality=float(k))
    pd.DataFrame(rows).to_json(tmp_path / "c.jsonl", orient="records", lines=True)
    with SimServer(judges=[SimJudge(name="gpt-sim", noise=0.0)], world=world) as server:
        cfg = CurateConfig.model_validate(_config(
            tmp_path, [*_llm(server, {"gpt-sim"}), _rm_entry(rm_path)], input={"candidates": str(tmp_path / "c.jsonl")},
            rank={"strategy": "rating", "store": str(tmp_path / "s.db")}))
        run = run_curation(cfg)
        assert server.count_ok() == 9  # one rating call per answer for the LLM judge
    df = run.prefs.to_pandas()
    assert len(df) == 3 and all(goods[c] == 2 and goods[r] == 0 for c, r in zip(df["chosen"], df["rejected"]))
    assert "z-scores" in run.prefs.provenance["score"]
    assert {j: e["kind"] for j, e in run.audit.to_dict()["judges"].items()} == {"gpt-sim": "llm", "tiny-rm": "reward"}


def test_pairs_input_with_strategy_rating_rates_both_answers(rm_path, tmp_path):
    pairs = [{"id": "q0", "prompt": "Q?", "response_a": "plain text", "response_b": f"{GOOD} text"},
             {"id": "q1", "prompt": "Q?", "response_a": f"{GOOD} {GOOD} text", "response_b": "plain text"}]
    pd.DataFrame(pairs).to_json(tmp_path / "pairs.jsonl", orient="records", lines=True)
    cfg = CurateConfig.model_validate(_config(tmp_path, [_rm_entry(rm_path)], input={"pairs": str(tmp_path / "pairs.jsonl")},
                                              rank={"strategy": "rating"}))
    df = run_curation(cfg).prefs.to_pandas()
    assert dict(zip(df["id"], df["chosen"])) == {"q0": f"{GOOD} text", "q1": f"{GOOD} {GOOD} text"}


def test_judges_file_accepts_reward_model_entries(rm_path, tmp_path):
    from prefjudge.judging.judges_file import load_judges, read_judge_specs

    rel = tmp_path / "models"
    rel.mkdir()
    (rel / "rm").symlink_to(rm_path, target_is_directory=True)
    path = tmp_path / "judges.yaml"
    path.write_text(yaml.safe_dump({"judges": [{"model": "gpt-4o-mini", "kind": "llm"},
                                               {"kind": "reward_model", "path": "models/rm", "batch_size": 2}]}))
    specs = read_judge_specs(path)
    assert specs[1]["path"] == str((tmp_path / "models" / "rm").absolute())  # beside the file
    judges = load_judges(path)
    assert isinstance(judges[0], pj.Judge) and isinstance(judges[1], pj.RewardModel)
    assert judges[1].batch_size == 2 and judges[1].name == "rm"
    # the entries go into a curate config as they are
    cfg = CurateConfig.model_validate(_config(tmp_path, specs, input={"pairs": "p.jsonl"}))
    assert cfg.judges[1]["kind"] == "reward_model"
    for bad, field in (({"kind": "reward_model", "name": "x"}, "judges[0].path"),
                       ({"kind": "reward_model", "path": "p", "batch_size": 0}, "judges[0].batch_size"),
                       ({"kind": "reward_model", "path": "p", "modle": "x"}, "judges[0].modle"),
                       ({"kind": "scorer", "path": "p"}, "judges[0].kind")):
        path.write_text(yaml.safe_dump({"judges": [bad]}))
        with pytest.raises(ConfigError, match=re.escape(f"judges.yaml: field '{field}'")):
            read_judge_specs(path)


def _fails(tmp_path, cfg: dict, *patterns: str) -> None:
    path = tmp_path / "curate.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    with pytest.raises(ConfigError) as err:
        CurateConfig.from_file(path)
    for pattern in patterns:
        assert pattern in str(err.value), (pattern, str(err.value))


def test_bad_entries_and_options_fail_naming_the_field(tmp_path):
    llm = {"model": "gpt-4o-mini"}
    base = {"input": {"candidates": "c.jsonl"}, "judges": [llm], "output": {"dir": "o"}}
    rating = {"strategy": "rating"}
    _fails(tmp_path, {**base, "judges": [llm, {"kind": "reward_model", "name": "rm"}], "rank": rating},
           "judges[1].path: Field required")
    _fails(tmp_path, {**base, "judges": [{"kind": "reward_model", "path": "p", "batch_size": 0}], "rank": rating},
           "judges[0].batch_size")
    _fails(tmp_path, {**base, "judges": [{"kind": "judge", "model": "x"}]}, "judges[0].kind")
    _fails(tmp_path, {**base, "rank": {**rating, "rating": {"template": "nonesuch"}}},
           "field 'rank.rating.template'", "unknown template 'nonesuch'")
    _fails(tmp_path, {**base, "rank": {**rating, "rating": {"template": "pairwise"}}},
           "field 'rank.rating.template'", "compares pairs")
    _fails(tmp_path, {**base, "rank": {**rating, "rating": {"template": "rubric"}}}, "rank.rating", "needs a rubric")
    _fails(tmp_path, {**base, "rank": {**rating, "rating": {"rejected": "worst"}}}, "rank.rating.rejected")
    _fails(tmp_path, {**base, "rank": {**rating, "rating": {"min_margin": -1}}}, "rank.rating.min_margin")
    _fails(tmp_path, {**base, "rank": {"strategy": "adaptive", "rating": {}}}, "field 'rank'", "rating: applies to strategy 'rating'")
    _fails(tmp_path, {**base, "rank": {**rating, "budget": 4}}, "field 'rank'", "budget:")
    _fails(tmp_path, {**base, "rank": {**rating, "order": "both"}}, "field 'rank'", "order:")
    _fails(tmp_path, {**base, "rank": rating, "preferences": {"min_margin": 0.2}}, "preferences.min_margin", "rank.rating.min_margin")
    _fails(tmp_path, {**base, "rank": rating, "preferences": {"drop_inconsistent": True}}, "preferences.drop_inconsistent")
    _fails(tmp_path, {**base, "rank": rating, "preferences": {"drop_ties": False}}, "preferences.drop_ties")
    _fails(tmp_path, {**base, "rank": rating, "jury": {"aggregate": "mean"}}, "jury:")
    _fails(tmp_path, {**base, "input": {"dataset": "d.parquet"}, "rank": rating}, "rank.strategy")
    # a reward model is a juror of candidates' pairwise strategies too; as a juror, jury.aggregate alone applies
    assert CurateConfig.model_validate({**base, "judges": [llm, {"kind": "reward_model", "path": "p"}],
                                        "rank": {"strategy": "knockout"}}).judges[1]["kind"] == "reward_model"
    _fails(tmp_path, {**base, "input": {"pairs": "p.jsonl"}, "judges": [llm, {"kind": "reward_model", "path": "p"}],
                      "jury": {"quorum": 2}}, "jury.quorum")
    # what is accepted: min_agreement (share of judges who scored chosen higher), the rating options
    cfg = CurateConfig.model_validate({**base, "rank": {**rating, "order": "random", "rating": {
        "template": "rubric", "rubric": "Is it correct?", "rejected": "random", "min_margin": 1}},
        "preferences": {"min_agreement": 0.5}})
    assert cfg.rank.rating_options.rejected == "random"


def test_docs_example_is_a_valid_rating_config(tmp_path):
    from pathlib import Path

    text = (Path(__file__).parent.parent / "docs" / "curation.md").read_text()
    section = text.split("## Curating with ratings or reward models", 1)[1]
    path = tmp_path / "c.yaml"
    path.write_text(section.split("```yaml\n", 1)[1].split("```", 1)[0])
    cfg = CurateConfig.from_file(path)
    assert cfg.rank.strategy == "rating" and cfg.rank.rating_options.rejected == "random"
    assert [j.get("kind") for j in cfg.judges] == [None, "reward_model"]
