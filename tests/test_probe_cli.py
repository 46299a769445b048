"""``prefjudge probe`` over real HTTP to the simulated judge server."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from prefjudge.cli import app
from prefjudge.testing import SimJudge, SimServer, SimWorld, make_demo_pairs


def test_probe_command_writes_the_three_formats(tmp_path):
    world = SimWorld()
    pairs = make_demo_pairs(16, seed=5, world=world)
    src = tmp_path / "pairs.jsonl"
    src.write_text("\n".join(json.dumps(p) for p in pairs), encoding="utf-8")
    with SimServer(judges=[SimJudge(name="gpt-sim", noise=0.5, position_bias=0.4)], world=world) as server:
        result = CliRunner().invoke(app, [
            "probe", str(src), "--judge", "gpt-sim", "--base-url", server.base_url, "--probe", "swap",
            "--probe", "pad", "--n", "12", "--seed", "1", "--store", str(tmp_path / "s.db"),
            "--json", str(tmp_path / "p.json"), "--md", str(tmp_path / "p.md"), "--html", str(tmp_path / "p.html"),
        ])
        assert result.exit_code == 0, result.output
        n_calls = len(server.log)
    assert "ProbeReport(1 judge(s), 12 pairs, probes swap, pad" in result.output
    data = json.loads((tmp_path / "p.json").read_text(encoding="utf-8"))
    assert set(data["judges"]["gpt-sim"]["probes"]) == {"swap", "pad"}
    assert data["meta"]["seed"] == 1 and data["meta"]["n_pairs"] == 12 and n_calls == len(data["variants"])
    assert data["judges"]["gpt-sim"]["probes"]["swap"]["effect"]["value"] > 0  # the first position wins
    assert "| gpt-sim | swap |" in (tmp_path / "p.md").read_text(encoding="utf-8")
    assert "<svg" in (tmp_path / "p.html").read_text(encoding="utf-8")


def test_probe_command_prints_markdown_and_rejects_unknown_probes(tmp_path):
    world = SimWorld()
    src = tmp_path / "pairs.jsonl"
    src.write_text("\n".join(json.dumps(p) for p in make_demo_pairs(4, seed=6, world=world)), encoding="utf-8")
    with SimServer(judges=[SimJudge(name="j", noise=0.0)], world=world) as server:
        ok = CliRunner().invoke(app, ["probe", str(src), "-j", "j", "--base-url", server.base_url, "-p", "lists"])
        bad = CliRunner().invoke(app, ["probe", str(src), "-j", "j", "--base-url", server.base_url, "-p", "flattery"])
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("# Counterfactual probes") and "| j | lists |" in ok.output
    assert bad.exit_code == 2 and "unknown probe" in bad.output


def test_probe_is_listed_in_the_help():
    out = subprocess.run([sys.executable, "-m", "prefjudge.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "probe" in out.stdout


def test_rank_and_probe_need_a_judge(tmp_path):
    src = tmp_path / "pairs.jsonl"
    src.write_text(json.dumps({"id": "p0", "prompt": "q", "response_a": "a", "response_b": "b"}) + "\n")
    for command in ("rank", "probe"):
        result = CliRunner().invoke(app, [command, str(src)])
        assert result.exit_code == 2, (command, result.output)
        assert "give at least one --judge or a --judges-file" in result.output, command
