"""The README's two set-up commands, run the way a newcomer runs them.

The commands are parsed from README.md's "Set-up: two commands" block (so this breaks when the
README changes). The main job runs in a fresh copy of the repository (the files git knows of, as
they are in the working tree) with the repository's ``.venv`` linked in, from the copy's root and
with no arguments; the test command is not run from inside the suite, but ``.ci/run`` must call
exactly it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from _quickstart_helpers import artefact_paths

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Set-up: two commands"


def setup_commands() -> dict[str, str]:
    """{"main": command, "test": command} from the README's set-up block, by each line's comment."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert SECTION in text, f"README.md has no {SECTION!r} section"
    block = re.search(r"```[a-z]*\n(.*?)```", text.split(SECTION, 1)[1], re.S)
    assert block, "the set-up section has no code block"
    commands = {}
    for line in block.group(1).splitlines():
        command, _, comment = line.partition("#")
        if command.strip():
            kind = "main" if "main job" in comment else "test" if "test" in comment else command.strip()
            commands[kind] = command.strip()
    assert set(commands) == {"main", "test"}, commands
    return commands


def bootstrap_stamp(root: Path) -> str:
    """What scripts/bootstrap.sh compares with .venv/.prefjudge-stamp (sha256 of the two files, 16 hex)."""
    data = (root / "pyproject.toml").read_bytes() + (root / "constraints" / "ci.txt").read_bytes()
    return hashlib.sha256(data).hexdigest()[:16]


def fresh_copy(dest: Path) -> Path:
    """The repository's files (tracked and untracked-but-not-ignored, as in the working tree) copied
    to ``dest``, with ``.venv`` a link to the repository's own (nothing is installed)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to list the repository's files")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        src = ROOT / name
        if src.is_file() and not src.is_symlink():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    (dest / ".venv").symlink_to(ROOT / ".venv", target_is_directory=True)
    return dest


@pytest.mark.timeout(900)
@pytest.mark.slow
def test_the_readme_main_command_runs_in_a_fresh_copy(tmp_path):
    command = setup_commands()["main"]
    clone = fresh_copy(tmp_path / "clone")
    stamp = (ROOT / ".venv" / ".prefjudge-stamp").read_text().strip()
    # a stale stamp would make bootstrap reinstall the linked .venv (pointing it at the copy): refuse
    assert stamp == bootstrap_stamp(clone), "the repository's .venv is stale: run `bash scripts/test` first"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFJUDGE_", "PYTEST_"))}
    # the linked .venv's editable install points at this repository; PYTHONPATH makes the copy's
    # own package run, as in a fresh clone (checked below through the recipe it finds)
    env.update(PYTHONPATH=str(clone), PREFJUDGE_CACHE=str(tmp_path / "cache"))
    before = set(os.listdir(ROOT / "runs")) if (ROOT / "runs").is_dir() else set()

    proc = subprocess.run(["bash", "-c", command], cwd=clone, env=env, capture_output=True, text=True, timeout=870)

    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "SIMULATED JURY" in proc.stdout and "NOT from real LLMs" in proc.stdout
    runs = sorted((clone / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("quickstart-"), runs
    out = runs[0]
    paths = artefact_paths(proc.stdout)
    assert {"audit report (HTML)", "curated dataset export", "dataset card", "adapter", "merged model",
            "eval answers", "run.json"} <= set(paths)
    for label, items in paths.items():
        for path in items:
            assert path.exists(), (label, path)
            assert out in path.parents, (label, path)
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "ok" and run["out"] == str(out)
    assert run["recipe_path"] == str(clone / "prefjudge" / "recipes" / "builtin" / "curate_judge_train.yaml")  # the copy's own code ran
    assert run["curate"]["simulated_jury"] and run["curate"]["rows"]["exported"] > 0
    assert run["curate"]["audit"]["html"] == str(out / "curate" / "audit.html")
    assert run["train"]["history"] and "loss" in run["train"]["history"][-1]
    assert run["merge"]["max_abs_logit_diff"] is not None
    assert run["eval"]["win_rate"]["value"] is not None and run["eval"]["win_rate"]["n"] > 0
    assert "lc_win_rate" in run["eval"] and run["eval"]["mean_length"]["trained_chars"] > 0
    assert f"{run['eval']['win_rate']['value']:.2f}" in proc.stdout
    # nothing of the copy's run landed in this repository
    after = set(os.listdir(ROOT / "runs")) if (ROOT / "runs").is_dir() else set()
    assert out.name not in after - before and not (ROOT / "prefjudge" / "recipes" / "builtin" / "runs").exists()


def test_ci_runs_exactly_the_readme_test_command():
    command = setup_commands()["test"]
    lines = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()]
    steps = [ln for ln in lines if ln and not ln.startswith("#") and not ln.startswith("set ")]
    assert steps == ['cd "$(dirname "$0")/.."', f"exec {command}"], steps  # from the repository root, as the README
