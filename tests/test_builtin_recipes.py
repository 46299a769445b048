"""The built-in recipes ship inside the package (prefjudge/recipes/builtin/) and are named by their
bare name: ``prefjudge recipe list``, ``recipe show NAME``, ``recipe run NAME``, ``load_recipe(NAME)``."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import prefjudge
from prefjudge.cli.train import app
from prefjudge.errors import ConfigError
from prefjudge.judging.judges_file import load_judges
from prefjudge.recipes.loading import BUILTIN_DIR, builtin_recipes, find_recipe, load_recipe
from prefjudge.recipes.runner import run_recipe

runner = CliRunner()
NAMES = ["curate_judge_train", "iterative_dpo", "llm_twin", "neuralhermes", "qwen25_stack_exchange", "tinyllama_sft_dpo"]


@pytest.fixture(autouse=True)
def elsewhere(monkeypatch, tmp_path):
    """Every test runs from an empty folder outside the checkout."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PREFJUDGE_CACHE", str(tmp_path / "cache"))


def test_builtin_folder_is_inside_the_package_with_its_samples():
    assert BUILTIN_DIR == Path(prefjudge.__file__).resolve().parent / "recipes" / "builtin"
    assert sorted(builtin_recipes()) == NAMES
    assert (BUILTIN_DIR / "data" / "pipeline_prompts.jsonl").is_file()
    assert not (Path(prefjudge.__file__).resolve().parents[1] / "recipes").exists()  # one copy only


def test_a_bare_name_is_the_builtin_recipe():
    assert find_recipe("neuralhermes") == BUILTIN_DIR / "neuralhermes.yaml"
    recipe = load_recipe("neuralhermes", "smoke")
    assert recipe.name == "neuralhermes"
    assert recipe.steps[0].sample == str(BUILTIN_DIR / "data" / "orca_dpo_pairs_sample.jsonl")
    plan = run_recipe("tinyllama_sft_dpo", dry_run=True, echo=lambda _: None)
    assert plan["recipe_path"] == str(BUILTIN_DIR / "tinyllama_sft_dpo.yaml")


def test_an_existing_file_wins_over_the_builtin_name(tmp_path):
    (tmp_path / "neuralhermes").write_text((BUILTIN_DIR / "neuralhermes.yaml").read_text()
                                           .replace("name: neuralhermes", "name: mine"))
    (tmp_path / "data").symlink_to(BUILTIN_DIR / "data")
    assert find_recipe("neuralhermes").resolve() == (tmp_path / "neuralhermes").resolve()
    assert load_recipe("neuralhermes").name == "mine"


def test_paths_stay_paths(tmp_path):
    assert find_recipe(BUILTIN_DIR / "llm_twin.yaml") == BUILTIN_DIR / "llm_twin.yaml"
    with pytest.raises(ConfigError, match="missing.yaml"):
        load_recipe("missing.yaml")  # a .yaml name is a path, never a built-in lookup


def test_unknown_name_lists_the_builtins():
    with pytest.raises(ConfigError) as err:
        find_recipe("neuralhermez")
    for name in NAMES:
        assert name in str(err.value)
    assert "neuralhermez" in str(err.value)


def test_old_checkout_path_points_to_the_name():
    with pytest.raises(ConfigError, match=r"prefjudge recipe run neuralhermes"):
        find_recipe("recipes/neuralhermes.yaml")


def test_recipe_list_prints_names_and_descriptions():
    res = runner.invoke(app, ["recipe", "list"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    for name in NAMES:
        assert any(line.split()[:1] == [name] and len(line.split()) > 3 for line in lines), (name, res.output)
    assert "QLoRA DPO of OpenHermes-2.5-Mistral-7B" in res.output
    assert "judges" in res.output and "recipe show judges" in res.output
    assert str(BUILTIN_DIR) in res.output


def test_recipe_show_judges_is_a_judges_file_to_copy(tmp_path):
    res = runner.invoke(app, ["recipe", "show", "judges"])
    assert res.exit_code == 0, res.output
    copy = tmp_path / "judges.yaml"
    copy.write_text(res.stdout)
    assert len(load_judges(copy)) == 3
    res = runner.invoke(app, ["recipe", "show", "neuralhermes"])
    assert res.exit_code == 0 and res.stdout == (BUILTIN_DIR / "neuralhermes.yaml").read_text()


def test_recipe_run_and_show_by_name_through_the_cli():
    res = runner.invoke(app, ["recipe", "run", "neuralhermes", "--dry-run", "--json"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["recipe", "run", "nope", "--dry-run"])
    assert res.exit_code == 2 and "curate_judge_train" in res.output and "nope" in res.output
    res = runner.invoke(app, ["recipe", "show", "nope"])
    assert res.exit_code == 2 and "neuralhermes" in res.output


def test_quickstart_finds_its_recipe_from_any_folder():
    from prefjudge.cli.quickstart import recipe_path

    assert recipe_path() == BUILTIN_DIR / "curate_judge_train.yaml"
