"""The prefjudge command line, run as a user would."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from prefjudge.cli import app
from prefjudge.testing import SimJudge, SimServer, make_demo_pairs


def test_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "prefjudge.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for cmd in ("rank", "quickstart", "serve-sim", "audit", "curate", "train", "merge", "eval", "recipe"):
        assert cmd in out.stdout


def test_recipe_dry_run_through_the_top_level_command():
    import pathlib

    recipe = pathlib.Path(__file__).resolve().parents[1] / "prefjudge" / "recipes" / "builtin" / "neuralhermes.yaml"
    out = subprocess.run([sys.executable, "-m", "prefjudge.cli", "recipe", "run", str(recipe), "--dry-run"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "GiB" in out.stdout and "teknium/OpenHermes-2.5-Mistral-7B" in out.stdout


def test_rank_command_writes_results(tmp_path, sim_world):
    pairs = make_demo_pairs(12, seed=1, world=sim_world)
    src = tmp_path / "pairs.jsonl"
    src.write_text("\n".join(json.dumps(p) for p in pairs))
    judges_file = tmp_path / "judges.yaml"
    with SimServer(judges=[SimJudge(name="gpt-sim"), SimJudge(name="claude-sim")], world=sim_world) as server:
        judges_file.write_text(yaml.safe_dump([{"model": "claude-sim", "base_url": server.base_url}]))
        result = CliRunner().invoke(app, [
            "rank", str(src), "--judge", "gpt-sim", "--base-url", server.base_url, "--judges-file", str(judges_file),
            "--order", "both", "--store", str(tmp_path / "s.db"), "--out", str(tmp_path / "ranked.parquet"),
            "--judgments-out", str(tmp_path / "j.jsonl"),
        ])
        assert result.exit_code == 0, result.output
        assert "12 pairs judged" in result.output
        n_calls = len(server.log)
    ranked = pd.read_parquet(tmp_path / "ranked.parquet")
    assert len(ranked) == 12 and ranked["winner"].notna().all()
    judgments = pd.read_json(tmp_path / "j.jsonl", lines=True)
    assert len(judgments) == 12 * 2 * 2 == n_calls
    assert set(judgments["judge"]) == {"gpt-sim", "claude-sim"}


def test_rank_command_reports_bad_input(tmp_path):
    src = tmp_path / "pairs.jsonl"
    src.write_text(json.dumps({"prompt": "q", "response_a": "x"}) + "\n")
    result = CliRunner().invoke(app, ["rank", str(src), "--judge", "m", "--base-url", "http://127.0.0.1:9/v1"])
    assert result.exit_code == 2
    assert "row 0, field 'response_b'" in result.output


def test_trl_style_judge_interface(sim_world):
    with SimServer(judges=[SimJudge(name="gpt-sim", noise=0.01)], world=sim_world) as server:
        import prefjudge as pj

        good, bad = "A careful, correct answer.", "wrong"
        sim_world.register(good, quality=2.0)
        sim_world.register(bad, quality=-2.0)
        from prefjudge.integrations.trl import PairwiseJudge

        judge = pj.Judge("gpt-sim", base_url=server.base_url, api_key="x")
        ranks = PairwiseJudge(judge).judge(["q1", "q2"], [[good, bad], [bad, good]], shuffle_order=True)
        with pytest.warns(DeprecationWarning, match="PairwiseJudge"):
            old = judge.judge(["q1", "q2"], [[good, bad], [bad, good]], shuffle_order=True)
        with pytest.raises(pj.InputError, match="row 0, field 'completions'"):
            PairwiseJudge(judge).judge(["q1"], [[good, bad, bad]])
    assert ranks == old == [0, 1]


def test_one_error_handler_user_errors_exit_2_and_bugs_exit_1_with_the_traceback_on_request(monkeypatch):
    import typer

    from prefjudge.cli.common import user_errors
    from prefjudge.errors import InputError

    def run(exc: BaseException) -> int:
        try:
            with user_errors():
                raise exc
        except typer.Exit as e:
            return e.exit_code
        raise AssertionError("no exit")

    assert run(InputError("bad row", field="prompt", row=3)) == 2
    assert run(FileNotFoundError("nope.jsonl")) == 2
    assert run(ZeroDivisionError("boom")) == 1
    with pytest.raises(typer.BadParameter):
        with user_errors():
            raise typer.BadParameter("x")


def test_an_unexpected_error_says_it_is_a_bug_and_shows_the_traceback_only_with_prefjudge_debug(monkeypatch, capsys):
    import typer

    from prefjudge.cli.common import user_errors

    def boom() -> None:
        with user_errors():
            raise ZeroDivisionError("boom")

    monkeypatch.delenv("PREFJUDGE_DEBUG", raising=False)
    with pytest.raises(typer.Exit):
        boom()
    err = capsys.readouterr().err
    assert "unexpected ZeroDivisionError: boom" in err and "PREFJUDGE_DEBUG=1" in err and "Traceback" not in err
    monkeypatch.setenv("PREFJUDGE_DEBUG", "1")
    with pytest.raises(typer.Exit):
        boom()
    assert "Traceback" in capsys.readouterr().err
