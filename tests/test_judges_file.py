"""prefjudge.judging.judges_file: the one reader of judges YAML files (rank CLI, recipes, quickstart)."""

from __future__ import annotations

import pytest

from prefjudge.errors import ConfigError
from prefjudge.judging.judges_file import load_judges, read_judge_specs


def test_a_list_or_a_judges_key(tmp_path):
    listed = tmp_path / "a.yaml"
    listed.write_text("- model: gpt-4o-mini\n- model: llama-3.1-8b\n  base_url: http://127.0.0.1:9/v1\n")
    keyed = tmp_path / "b.yaml"
    keyed.write_text("judges:\n  - model: gpt-4o-mini\n")
    assert [j.model for j in load_judges(listed)] == ["gpt-4o-mini", "llama-3.1-8b"]
    assert read_judge_specs(keyed) == [{"model": "gpt-4o-mini"}]


@pytest.mark.parametrize("text, message", [
    (None, "judges file not found"),
    ("[]\n", "expected a non-empty list of judges"),
    ("model: gpt-4o-mini\n", "expected a non-empty list of judges"),
    ("- model: gpt-4o-mini\n- model: x\n  order_mode: sideways\n", r"field '\[1\]\.order_mode': unknown field"),
])
def test_bad_files_name_the_file_and_the_entry(tmp_path, text, message):
    path = tmp_path / "judges.yaml"
    if text is not None:
        path.write_text(text)
    for read in (load_judges, read_judge_specs):
        with pytest.raises(ConfigError, match=message) as err:
            read(path)
        assert str(path) in str(err.value)
