"""prefjudge.config_files: one reader for every config file (judges file, curate config, recipe and
training config, simulator config), one error format, and no API key in a file or in an export."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from prefjudge.curate.config import CurateConfig
from prefjudge.errors import ConfigError
from prefjudge.judging.judges_file import load_judges, read_judge_specs
from prefjudge.recipes.loading import load_recipe
from prefjudge.testing import SimServerConfig
from prefjudge.train.config import load_config as load_train_config

SECRET = "sk-test-DO-NOT-EXPORT-0123456789"

LOADERS = {
    "judges file": load_judges,
    "judge specs": read_judge_specs,
    "curate config": CurateConfig.from_file,
    "simulator config": SimServerConfig.from_file,
    "training config": load_train_config,
    "recipe": load_recipe,
}
MAPPING_LOADERS = {k: v for k, v in LOADERS.items() if k not in ("judges file", "judge specs")}


def _write(tmp_path, text: str | bytes, name: str = "c.yaml"):
    path = tmp_path / name
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return path


def _error(load, path) -> str:
    with pytest.raises(ConfigError) as err:
        load(path)
    assert type(err.value) is ConfigError
    return str(err.value)


@pytest.mark.parametrize("name", LOADERS)
def test_missing_file_and_directory_name_the_path(tmp_path, name):
    load = LOADERS[name]
    missing = tmp_path / "nope.yaml"
    assert "not found" in (msg := _error(load, missing)) and str(missing) in msg
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    assert "is a directory" in (msg := _error(load, folder)) and str(folder) in msg


@pytest.mark.parametrize("name", LOADERS)
def test_non_utf8_file_names_the_path_and_byte_offset(tmp_path, name):
    path = _write(tmp_path, b"model: caf\xe9\n")
    msg = _error(LOADERS[name], path)
    assert str(path) in msg and "not UTF-8" in msg and "byte offset 10" in msg


@pytest.mark.parametrize("name", LOADERS)
def test_python_tags_are_refused_with_line_and_column(tmp_path, name):
    flag = tmp_path / "pwned"
    path = _write(tmp_path, f"judges:\n  - !!python/object/apply:os.system ['touch {flag}']\n")
    msg = _error(LOADERS[name], path)
    assert f"{path}, line 2, column 5: the tag !!python/object/apply:os.system is refused" in msg
    assert not flag.exists()
    obj = _write(tmp_path, "model: !!python/object:collections.OrderedDict {}\n", "o.yaml")
    assert f"{obj}, line 1, column 8: the tag !!python/object:collections.OrderedDict is refused" in _error(LOADERS[name], obj)


@pytest.mark.parametrize("name", LOADERS)
def test_broken_yaml_names_path_line_and_column(tmp_path, name):
    path = _write(tmp_path, "model: {name_or_path: m}\ndata: [unclosed\nother: 1\n")
    msg = _error(LOADERS[name], path)
    assert msg.startswith(f"{path}, line 3, column ") and "not valid YAML" in msg


@pytest.mark.parametrize("name", MAPPING_LOADERS)
def test_empty_file_is_an_error_where_a_mapping_is_expected(tmp_path, name):
    path = _write(tmp_path, "# nothing but a comment\n")
    msg = _error(MAPPING_LOADERS[name], path)
    assert str(path) in msg and "is empty" in msg
    listed = _write(tmp_path, "- a\n- b\n", "l.yaml")
    assert "top level must be a mapping, got a list" in _error(MAPPING_LOADERS[name], listed)


def test_validation_errors_one_line_each_with_the_field_path(tmp_path):
    judges = _write(tmp_path, "judges:\n  - model: a\n  - model: b\n  - model: c\n    temprature: 1\n    max_tokens: 0\n")
    assert _error(load_judges, judges).splitlines() == [
        f"{judges}: field 'judges[2].max_tokens': Input should be greater than 0 (got 0)",
        f"{judges}: field 'judges[2].temprature': unknown field",
    ]
    listed = _write(tmp_path, "- model: a\n- judge: b\n", "l.yaml")
    assert _error(read_judge_specs, listed).splitlines() == [
        f"{listed}: field '[1].model': Field required", f"{listed}: field '[1].judge': unknown field"]
    curate = _write(tmp_path, yaml.safe_dump({"input": {"dataset": "x"}, "output": {"dir": "o"},
                                              "generate": {"temperature": [0.2, "hot"]}, "dedup": {"near": 2}}), "cur.yaml")
    lines = _error(CurateConfig.from_file, curate).splitlines()
    assert f"{curate}: field 'generate.temperature.list[float][1]': Input should be a valid number, unable to parse string as a number (got 'hot')" in lines
    assert f"{curate}: field 'dedup.near': Input should be less than or equal to 1 (got 2)" in lines
    assert all(line.startswith(f"{curate}: ") for line in lines)
    sim = _write(tmp_path, "judges: [{name: x}, {name: x}]\n", "sim.yaml")
    assert _error(SimServerConfig.from_file, sim) == f"{sim}: field 'judges': duplicate judge name(s): x"


def _secret_files(tmp_path) -> dict[str, tuple]:
    """A file of each kind with an api_key in one judge or generator entry: (loader, path, entry)."""
    w = lambda name, data: _write(tmp_path, yaml.safe_dump(data, sort_keys=False), name)  # noqa: E731
    judge = {"model": "llama", "base_url": "http://127.0.0.1:9/v1", "api_key": SECRET}
    curate = {"input": {"pairs": "p.jsonl"}, "judges": [{"model": "gpt-4o-mini"}, judge], "output": {"dir": "o"}}
    recipe = {"name": "r", "steps": [{"id": "c", "kind": "curate", "config": {
        "input": {"prompts": "p.jsonl"}, "generators": [{"model": "qwen", "name": "writer", "api_key": SECRET}],
        "judges": [{"model": "m"}], "output": {"dir": "o"}}}]}
    return {
        "judges list": (load_judges, w("j1.yaml", [{"model": "gpt-4o-mini"}, judge]), "entry [1] (model 'llama')"),
        "judges key": (read_judge_specs, w("j2.yaml", {"judges": [judge]}), "entry judges[0] (model 'llama')"),
        "curate": (CurateConfig.from_file, w("c.yaml", curate), "entry judges[1] (model 'llama')"),
        "recipe": (load_recipe, w("r.yaml", recipe), "entry steps[0].config.generators[0] (name 'writer')"),
        "simulator": (SimServerConfig.from_file, w("s.yaml", {"judges": [{"name": "j", "api_key": SECRET}]}),
                      "entry judges[0] (name 'j')"),
        "json": (load_judges, _write(tmp_path, json.dumps([judge]), "j.json"), "entry [0] (model 'llama')"),
    }


@pytest.mark.parametrize("kind", ["judges list", "judges key", "curate", "recipe", "simulator", "json"])
def test_a_file_with_an_api_key_is_refused_naming_file_entry_and_fix(tmp_path, kind):
    load, path, entry = _secret_files(tmp_path)[kind]
    msg = _error(load, path)
    assert msg.startswith(f"{path}: {entry} holds an api_key")
    assert "use api_key_env: NAME_OF_VARIABLE" in msg and SECRET not in msg


@pytest.mark.timeout(60)
def test_aliases_are_scanned_once(tmp_path):
    """A 'billion laughs' file: the secret scan visits each shared node once (no exponential walk)."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]"
              for i in range(1, 9)]
    path = _write(tmp_path, "\n".join(lines) + "\n")
    from prefjudge.config_files import load_yaml

    assert len(load_yaml(path)["a8"]) == 10


def test_api_key_env_names_the_variable(tmp_path, monkeypatch):
    path = _write(tmp_path, "- model: llama\n  base_url: http://127.0.0.1:9/v1\n  api_key_env: PJ_TEST_CONFIG_KEY\n")
    monkeypatch.setenv("PJ_TEST_CONFIG_KEY", SECRET)
    (judge,) = load_judges(path)
    assert judge.api_key_env == "PJ_TEST_CONFIG_KEY" and judge.resolved_api_key() == SECRET


def test_an_api_key_given_in_python_never_reaches_a_written_file(tmp_path):
    """A CurateConfig built in Python may hold a key (it is used to call the judges); the export
    (prefjudge_config.yaml, card, report) never does, nor the config's repr or dump."""
    from prefjudge.curate.export import config_yaml
    from prefjudge.curate.pipeline import run_curation
    from prefjudge.testing import SimJudge, SimServer, SimWorld, make_demo_pairs

    world = SimWorld()
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(p) + "\n" for p in make_demo_pairs(6, seed=1, world=world)))
    with SimServer(judges=[SimJudge(name="gpt-sim")], world=world) as server:
        cfg = CurateConfig.model_validate({
            "input": {"pairs": str(pairs)},
            "judges": [{"model": "gpt-sim", "base_url": server.base_url, "api_key": SECRET}],
            "rank": {"store": str(tmp_path / "rank.db")},
            "preferences": {"drop_ties": False},
            "output": {"dir": str(tmp_path / "out"), "format": "jsonl"},
        })
        assert SECRET not in repr(cfg) and SECRET not in cfg.model_dump_json() and SECRET not in str(cfg.model_dump())
        run = run_curation(cfg)
    assert len(run.prefs) > 0
    written = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert (tmp_path / "out" / "prefjudge_config.yaml") in written
    exported = yaml.safe_load((tmp_path / "out" / "prefjudge_config.yaml").read_text())
    assert exported["judges"] == [{"model": "gpt-sim", "base_url": server.base_url}]
    assert not [p for p in written if SECRET.encode() in p.read_bytes()]
    # the other config inputs of export(): a dict loses its keys, a YAML file with a key is refused
    assert SECRET not in config_yaml({"judges": [{"model": "m", "api_key": SECRET}]})
    with pytest.raises(ConfigError, match="api_key_env"):
        config_yaml(_write(tmp_path, yaml.safe_dump({"judges": [{"model": "m", "api_key": SECRET}]})))


def _cli(*args):
    from prefjudge.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_rank_and_curate_print_config_errors_on_one_line(tmp_path):
    pairs = _write(tmp_path, json.dumps({"prompt": "q", "response_a": "a", "response_b": "b"}) + "\n", "p.jsonl")
    tagged = _write(tmp_path, "- !!python/object/apply:os.system ['true']\n", "judges.yaml")
    res = _cli("rank", pairs, "--judges-file", tagged, "--out", tmp_path / "r.parquet")
    assert res.exit_code == 2
    assert res.output.strip().splitlines() == [f"error: {tagged}, line 1, column 3: the tag !!python/object/apply:os.system "
                                                "is refused: a config file holds plain YAML (mappings, lists, strings, numbers, "
                                                "true/false, null)"]
    keyed = _write(tmp_path, yaml.safe_dump([{"model": "m", "api_key": SECRET}]), "keyed.yaml")
    res = _cli("rank", pairs, "--judges-file", keyed)
    assert res.exit_code == 2 and "api_key_env" in res.output and SECRET not in res.output
    curate = _write(tmp_path, yaml.safe_dump({"input": {"pairs": str(pairs)}, "output": {"dir": str(tmp_path / "o")},
                                              "judges": [{"model": "m", "api_key": SECRET}]}), "curate.yaml")
    res = _cli("curate", curate, "--check")
    assert res.exit_code == 2 and SECRET not in res.output
    assert res.output.strip().splitlines() == [
        f"error: {curate}: entry judges[0] (model 'm') holds an api_key; a key never goes in a file (config files are "
        "copied into exports and to the Hub): use api_key_env: NAME_OF_VARIABLE (the environment variable that holds the key)"]
    broken = _write(tmp_path, "input: [\n", "broken.yaml")
    res = _cli("curate", broken)
    assert res.exit_code == 2 and res.output.startswith(f"error: {broken}, line 2, column 1: not valid YAML")


def test_shipped_judges_file_and_recipes_load():

    from prefjudge.recipes.loading import BUILTIN_DIR as root

    assert len(load_judges(root / "judges.yaml")) == 3
    recipes = [r for r in sorted(root.glob("*.yaml")) if r.name != "judges.yaml"]
    assert len(recipes) >= 5
    for recipe in recipes:
        for profile in yaml.safe_load(recipe.read_text()).get("profiles", {}):
            load_recipe(recipe, profile)
        load_recipe(recipe)


def test_dry_run_credentials_note_names_api_key_env(monkeypatch):
    from prefjudge.recipes.curate_plan import key_note

    monkeypatch.delenv("PJ_TEST_CONFIG_KEY", raising=False)
    assert key_note({"model": "gpt-4o-mini", "api_key_env": "PJ_TEST_CONFIG_KEY"}) == "PJ_TEST_CONFIG_KEY (NOT set)"
    monkeypatch.setenv("PJ_TEST_CONFIG_KEY", SECRET)
    note = key_note({"model": "m", "base_url": "http://127.0.0.1:9/v1", "api_key_env": "PJ_TEST_CONFIG_KEY"})
    assert note == "server at http://127.0.0.1:9/v1, key from PJ_TEST_CONFIG_KEY (set)"


@pytest.mark.timeout(60)
def test_cli_serve_sim_prints_a_bad_config_on_one_line(tmp_path):
    tagged = _write(tmp_path, "seed: !!python/object/apply:os.getpid []\n", "sim.yaml")
    res = _cli("serve-sim", "--config", tagged, "--port", "0")
    assert res.exit_code == 2
    assert res.output.strip().splitlines() == [f"error: {tagged}, line 1, column 7: the tag !!python/object/apply:os.getpid "
                                                "is refused: a config file holds plain YAML (mappings, lists, strings, "
                                                "numbers, true/false, null)"]


def test_control_characters_and_broken_json_name_the_place(tmp_path):
    from prefjudge.config_files import load_yaml

    ctrl = _write(tmp_path, b"a: b\x07\n")
    assert _error(load_yaml, ctrl) == f"{ctrl}, character offset 4: not valid YAML: the control character '\\x07' is not allowed"
    bad = _write(tmp_path, '[{"model": "m",}]', "j.json")
    assert _error(load_judges, bad).startswith(f"{bad}, line 1, column 16: not valid JSON")
    bom = _write(tmp_path, "\ufeff- model: m\n".encode(), "bom.yaml")
    assert [j.model for j in load_judges(bom)] == ["m"]
