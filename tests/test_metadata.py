"""Dependency metadata and test hygiene: pyproject.toml says what the code needs, and no more.

The lower bounds are the versions ``scripts/test-lowest`` installs (``constraints/lowest.txt``);
the warmup test below is the behaviour that makes ``transformers>=5`` a real lower bound.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[1]
# Dependencies whose next major is expected to break APIs prefjudge calls: each has an upper bound.
FAST_MOVING = {"trl", "transformers", "peft", "bitsandbytes", "accelerate", "datasets", "openai", "litellm",
               "pydantic", "pandas", "numpy", "torch", "huggingface-hub"}
# The one dependency the lowest-versions job does not install at its lower bound (see lowest.txt).
NOT_AT_LOWER_BOUND = {"torch"}
# Not in the lowest-versions job at all: the [review] extra's label-studio-sdk (2.x needs numpy>=1.26.4, above
# the numpy floor that job pins; its own floor, 2.0.0, runs tests/test_review_server.py against a real server),
# and the [tracking] extra's trackio (0.43 needs huggingface_hub>=1.10, above the hub floor 1.8 the core
# requires; its test trains a model, a slow test the lowest job does not run).
NOT_IN_LOWEST_JOB = {"label-studio-sdk", "trackio"}


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def direct_requirements() -> list[Requirement]:
    """Every requirement in dependencies and the extras, except the extras' references to prefjudge."""
    meta = project()
    reqs = [Requirement(r) for r in meta["dependencies"]]
    for extra in meta["optional-dependencies"].values():
        reqs += [r for r in map(Requirement, extra) if canonicalize_name(r.name) != "prefjudge"]
    return reqs


def lower_bound(req: Requirement) -> str:
    bounds = [s.version for s in req.specifier if s.operator == ">="]
    assert len(bounds) == 1, f"{req} needs exactly one >= lower bound"
    return bounds[0]


def lowest_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints" / "lowest.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints/lowest.txt: {line!r} is not a name==version pin"
            pins[canonicalize_name(name)] = version
    return pins


def test_lowest_constraints_pin_each_direct_dependency_at_its_declared_lower_bound():
    reqs = {canonicalize_name(r.name): r for r in direct_requirements() if canonicalize_name(r.name) not in NOT_IN_LOWEST_JOB}
    pins = lowest_pins()
    assert set(pins) == set(reqs), set(pins) ^ set(reqs)
    wrong = {name: (pins[name], lower_bound(r)) for name, r in reqs.items()
             if name not in NOT_AT_LOWER_BOUND and Version(pins[name]) != Version(lower_bound(r))}
    assert not wrong, f"pin != declared lower bound: {wrong}"


def test_fast_moving_dependencies_stop_below_their_next_major():
    reqs = {canonicalize_name(r.name): r for r in direct_requirements()}
    assert FAST_MOVING <= set(reqs), FAST_MOVING - set(reqs)
    for name in FAST_MOVING:
        uppers = [s.version for s in reqs[name].specifier if s.operator == "<"]
        assert uppers, f"{reqs[name]} has no upper bound"
        lower_major = int(lower_bound(reqs[name]).split(".")[0])
        upper = [int(p) for p in uppers[0].split(".")]
        assert upper[0] > lower_major and not any(upper[1:]), f"{reqs[name]}: upper bound is not a next major"


def test_the_code_needs_transformers_5_and_trl_1_16():
    reqs = {canonicalize_name(r.name): r for r in direct_requirements()}
    assert int(lower_bound(reqs["transformers"]).split(".")[0]) >= 5
    assert tuple(map(int, lower_bound(reqs["trl"]).split(".")[:2])) >= (1, 16)


def test_extras_build_on_each_other_and_repeat_nothing():
    extras = project()["optional-dependencies"]
    assert "prefjudge[local]" in extras["train"]
    assert extras["all"] == ["prefjudge[litellm,train,anthropic]"]
    seen: dict[str, str] = {}
    for extra, reqs in extras.items():
        for r in map(Requirement, reqs):
            name = canonicalize_name(r.name)
            if name != "prefjudge":
                assert name not in seen, f"{name} is in both [{seen[name]}] and [{extra}]"
                seen[name] = extra


def test_the_licence_is_declared_the_pep_639_way():
    meta = project()
    assert meta["license"] == "Apache-2.0"
    assert meta["license-files"] == ["LICENSE"]
    assert "Apache License" in (ROOT / "LICENSE").read_text() and "Version 2.0" in (ROOT / "LICENSE").read_text()


def test_warmup_ratio_gives_warmup_steps(tmp_path):
    """``dpo.warmup_ratio`` reaches TRL as a fractional ``warmup_steps``: a ratio under transformers 5, nothing under 4.x."""
    pytest.importorskip("trl")
    from trl import DPOConfig

    from prefjudge.train.common import trl_common_args
    from prefjudge.train.config import config_from_dict
    from prefjudge.train.runtime import plan_runtime

    cfg = config_from_dict({"model": {"name_or_path": "m"}, "data": {"path": "d.jsonl"}, "device": "cpu",
                            "dpo": {"warmup_ratio": 0.1, "max_steps": 200, "optim": "adamw_torch"}})
    plan = plan_runtime(cfg.dpo, cfg.quantization, cfg.model, "cpu", False)
    args = DPOConfig(**trl_common_args(cfg.dpo, plan, cfg, tmp_path, has_eval=False))
    assert args.get_warmup_steps(200) == 20


def test_our_own_deprecation_warnings_fail_the_tests():
    with pytest.raises(DeprecationWarning):
        warnings.warn_explicit("old API", DeprecationWarning, "prefjudge/x.py", 1, module="prefjudge.x")


def test_other_deprecation_warnings_are_shown_not_ignored():
    with warnings.catch_warnings(record=True) as caught:
        warnings.warn_explicit("old API", DeprecationWarning, "somelib/x.py", 1, module="somelib.x")
    assert [str(w.message) for w in caught] == ["old API"]


def test_pytest_does_not_ignore_deprecation_warnings_wholesale(pytestconfig):
    filters = pytestconfig.getini("filterwarnings")
    wholesale = [f for f in filters if re.fullmatch(r"ignore::(Pending)?DeprecationWarning", f.strip())]
    assert not wholesale, wholesale
    # every ignore names its message (so a new deprecation is seen)
    assert all(f.split(":")[1] for f in filters if f.startswith("ignore")), filters


SLOW = {
    "test_train_dpo": ["test_qlora_dpo_learns_the_preference"],
    "test_pipeline_recipe": ["test_quickstart_prints_the_banner_the_numbers_and_existing_artefacts"],
    "test_readme_commands": ["test_the_readme_main_command_runs_in_a_fresh_copy"],
    "test_audit_chromium": ["test_the_plots_draw_pixels"],
    "test_curate_dpo": ["test_dpo_trainer_accepts_an_export"],
}


@pytest.mark.parametrize("module,tests", sorted(SLOW.items()))
def test_training_recipes_quickstart_and_chromium_tests_are_marked_slow(module, tests, pytestconfig):
    import importlib

    assert any(line.split(":")[0].strip() == "slow" for line in pytestconfig.getini("markers"))
    mod = importlib.import_module(module)
    for name in tests:
        module_marks = getattr(mod, "pytestmark", [])
        module_marks = module_marks if isinstance(module_marks, list) else [module_marks]
        marks = module_marks + list(getattr(getattr(mod, name), "pytestmark", []))
        assert any(m.name == "slow" for m in marks), f"{module}::{name} is not marked slow"


def test_scripts_test_runs_everything():
    script = (ROOT / "scripts" / "test").read_text()
    assert 'python -m pytest -q -n auto "$@"' in script and "not slow" not in script
    assert "not slow" not in str(project())  # no addopts that deselects
    assert "-m" not in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["addopts"].split()


def _run_scripts_test(tmp_path, env_extra, main_rc=0, lowest_rc=0, lint_rc=0, args=("tests/test_x.py",)):
    """scripts/test in a copy whose bootstrap and test-lowest are stand-ins that log their calls."""
    import os
    import subprocess

    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "test").write_text((ROOT / "scripts" / "test").read_text())
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    log = tmp_path / "calls.log"
    for name, body in {"python": f'echo "main $*" >> {log}; [ "$2" = ruff ] && exit {lint_rc}; exit {main_rc}', "chromium": "exit 0"}.items():
        (fake_bin / name).write_text(f"#!/bin/sh\n{body}\n")
        (fake_bin / name).chmod(0o755)
    (tmp_path / "scripts" / "bootstrap.sh").write_text(f'export PATH="{fake_bin}:$PATH"\n')
    (tmp_path / "scripts" / "test-lowest").write_text(
        f'[ "$1" = --setup-only ] && {{ sleep 0.5; echo "lowest set-up" >> {log}; exit 0; }}\n'
        f'echo "lowest $*" >> {log}; exit {lowest_rc}\n')
    (tmp_path / "scripts" / "label-studio-venv.sh").write_text(f'echo "label-studio set-up" >> {log}\n')
    env = {k: v for k, v in os.environ.items() if k != "PREFJUDGE_SKIP_LOWEST"} | env_extra
    proc = subprocess.run(["bash", str(tmp_path / "scripts" / "test"), *args], env=env,
                          capture_output=True, text=True, timeout=60)
    return proc.returncode, log.read_text().splitlines() if log.exists() else []


@pytest.mark.parametrize("main_rc,lowest_rc,expected_rc", [(0, 0, 0), (0, 1, 1), (1, 0, 1), (2, 1, 2)])
def test_scripts_test_ends_with_the_lowest_versions_job(tmp_path, main_rc, lowest_rc, expected_rc):
    rc, calls = _run_scripts_test(tmp_path, {}, main_rc, lowest_rc)
    # the whole suite with the arguments, then the lowest-versions job on its own fast tier (no arguments)
    assert calls == [LINT, "main -m pytest -q -n auto tests/test_x.py", "lowest "]
    assert rc == expected_rc


LINT = "main -m ruff check prefjudge tests bench scripts"


@pytest.mark.parametrize("main_rc,expected_rc", [(0, 1), (2, 2)])
def test_a_lint_failure_fails_the_run_after_the_tests_ran(tmp_path, main_rc, expected_rc):
    rc, calls = _run_scripts_test(tmp_path, {}, main_rc, lowest_rc=0, lint_rc=1)
    assert calls == [LINT, "main -m pytest -q -n auto tests/test_x.py", "lowest "]
    assert rc == expected_rc


def test_the_whole_suite_sets_up_the_side_venvs_in_the_background(tmp_path):
    """No arguments (CI, the README): the Label Studio and lowest-versions venvs are set up while the
    suite runs, and the lowest-versions job starts only once its set-up has finished."""
    rc, calls = _run_scripts_test(tmp_path, {}, args=())
    assert rc == 0 and calls[-1] == "lowest " and "main -m pytest -q -n auto" in calls
    assert calls.index("lowest set-up") < calls.index("lowest ") and "label-studio set-up" in calls
    (tmp_path / "skip").mkdir()
    rc, calls = _run_scripts_test(tmp_path / "skip", {"PREFJUDGE_SKIP_LOWEST": "1"}, args=())
    assert rc == 0 and "label-studio set-up" in calls and not any(c.startswith("lowest") for c in calls)


def test_prefjudge_skip_lowest_skips_the_lowest_versions_job(tmp_path):
    rc, calls = _run_scripts_test(tmp_path, {"PREFJUDGE_SKIP_LOWEST": "1"}, main_rc=0, lowest_rc=1)
    assert calls == [LINT, "main -m pytest -q -n auto tests/test_x.py"] and rc == 0
