"""The runnable example in docs/recipes.md runs as written (offline, CPU)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_recipes_doc_example_runs(tmp_path, monkeypatch, capsys):
    text = (ROOT / "docs" / "recipes.md").read_text()
    section = text.split("## A runnable example", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PREFJUDGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    exec(compile(code, "docs/recipes.md", "exec"), {})
    out = capsys.readouterr().out
    assert "win rate vs base (SIMULATED jury)" in out and "NeuralHermes on a GPU" in out
    assert (tmp_path / "runs" / "docs-dpo" / "merged" / "model.safetensors").exists()
