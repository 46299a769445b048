"""A built wheel carries the built-in recipes: installed into a clean folder, ``prefjudge quickstart``
runs from a folder outside the checkout.

The wheel is built from a copy of the package sources (the top-level files and prefjudge/), so
the build writes nothing into the checkout and the wheel cannot lean on files beside it. It is
installed with ``pip install --target SITE``; the subprocesses run with ``PYTHONPATH=SITE`` from a
fresh folder, and a first one checks that ``import prefjudge`` resolves to SITE (the .venv's
editable finder comes after the path finder in ``sys.meta_path``, so SITE wins).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _env(site: Path, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PREFJUDGE_JUDGES", "PYTHONHOME")}
    env.update(PYTHONPATH=str(site), PREFJUDGE_CACHE=str(cache), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false", LITELLM_LOCAL_MODEL_COST_MAP="True")
    return env


def _pip(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "pip", *args, "--no-index", "--disable-pip-version-check"],
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The wheel built from a copy of the sources, installed into a fresh SITE folder."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    shutil.copytree(ROOT / "prefjudge", src / "prefjudge", ignore=ignore)
    for path in ROOT.iterdir():  # pyproject.toml, README.md, LICENSE...
        if path.is_file():
            shutil.copy2(path, src / path.name)
    _pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(base / "dist"), str(src))
    wheels = list((base / "dist").glob("prefjudge-*.whl"))
    assert len(wheels) == 1, wheels
    _pip("install", "--no-deps", "--target", str(base / "site"), str(wheels[0]))
    return base / "site"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_installed_wheel_runs_the_quickstart_outside_the_checkout(site, tmp_path):
    work, cache = tmp_path / "elsewhere", tmp_path / "cache"
    work.mkdir()
    env = _env(site, cache)
    where = subprocess.run([sys.executable, "-c", "import prefjudge; print(prefjudge.__file__)"],
                           capture_output=True, text=True, env=env, cwd=work, timeout=120)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).resolve().is_relative_to(site.resolve()), where.stdout
    assert (site / "prefjudge" / "recipes" / "builtin" / "curate_judge_train.yaml").is_file()

    listed = subprocess.run([sys.executable, "-m", "prefjudge.cli", "recipe", "list"],
                            capture_output=True, text=True, env=env, cwd=work, timeout=300)
    assert listed.returncode == 0, listed.stderr[-3000:]
    assert "curate_judge_train" in listed.stdout and "neuralhermes" in listed.stdout

    out = work / "qs"
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "prefjudge.cli", "quickstart", "--out", "qs"],
                          capture_output=True, text=True, env=env, cwd=work, timeout=900)
    wall = time.perf_counter() - started
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "SIMULATED JURY" in proc.stdout
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "ok"
    assert Path(run["recipe_path"]).resolve().is_relative_to(site.resolve()), run["recipe_path"]
    assert not Path(run["recipe_path"]).resolve().is_relative_to(ROOT)
    print(f"quickstart from the installed wheel: {wall:.1f} s")
