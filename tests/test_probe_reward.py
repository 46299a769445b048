"""Probing a reward model is refused, naming it (the library) and its judges file entry (the CLI):
probes measure how LLM judges' verdicts move."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

import prefjudge as pj
from prefjudge.cli import app
from prefjudge.errors import InputError
from prefjudge.probing.run import probe
from prefjudge.testing import make_demo_pairs


def test_probe_refuses_a_reward_model_naming_it():
    pairs = make_demo_pairs(4, seed=1)
    rm = pj.RewardModel("/models/my-rm", name="my-rm")
    with pytest.raises(InputError, match="'my-rm' is a local reward model") as err:
        probe(pairs, [pj.Judge("gpt-4o-mini", api_key="x"), rm], probes=["pad"])
    assert err.value.field == "judges"


@pytest.mark.parametrize("keyed", [True, False])
def test_probe_command_refuses_a_reward_model_entry_of_the_judges_file(tmp_path, keyed):
    src = tmp_path / "pairs.jsonl"
    src.write_text("\n".join(json.dumps(p) for p in make_demo_pairs(4, seed=2)), encoding="utf-8")
    entries = [{"model": "gpt-sim", "base_url": "http://127.0.0.1:9/v1"},
               {"kind": "reward_model", "path": "/models/my-rm", "name": "my-rm"}]
    judges = tmp_path / "judges.yaml"
    judges.write_text(yaml.safe_dump({"judges": entries} if keyed else entries))
    result = CliRunner().invoke(app, ["probe", str(src), "--judges-file", str(judges), "--probe", "swap"])
    assert result.exit_code == 2, result.output
    entry = "judges[1]" if keyed else "[1]"
    assert f"judges.yaml: entry {entry} (reward model 'my-rm', kind: reward_model, path /models/my-rm)" in result.output
    assert "is a local reward model" in result.output
