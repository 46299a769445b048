"""Report layout (the to_dict contract), renderings, input types, importers and the CLI."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from _audit_helpers import SimJudgeSpec, judge_pairs, make_pairs

from prefjudge.aggregation.jury import aggregate
from prefjudge.audit import AuditReport, audit, from_alpaca_eval, from_preference_dataset
from prefjudge.audit import __all__ as audit_all  # prefjudge.audit, the attribute, is the function
from prefjudge.errors import InputError
from prefjudge.judgments import write_judgments

RATE_KEYS = {"value", "ci", "n", "reason"}
XSS = "<script>document.body.setAttribute('data-pwned','1')</script>"


@pytest.fixture(scope="module")
def table():
    pairs = make_pairs(120, seed=2)
    pairs["response_a"] = XSS + " and <img src=x onerror=alert(1)> " + pairs["response_a"]
    pairs.loc[pairs["model_a"] == "mistral-7b", "model_a"] = "mistral-7b" + XSS
    t = judge_pairs(pairs, [SimJudgeSpec("gpt-4o", position_bias=0.3), SimJudgeSpec("claude-3-haiku"),
                            SimJudgeSpec("llama-3-8b")], seed=2, human=True)
    t["latency_s"] = 0.5
    return t


@pytest.fixture(scope="module")
def report(table):
    return audit(table)


def test_to_dict_follows_the_contract(report):
    d = report.to_dict()
    assert {"judges", "jury", "generators", "warnings"} <= set(d)
    for name, e in d["judges"].items():
        assert isinstance(e["n"], int) and isinstance(e["parsed_rate"], float)
        for key in ("p_first", "consistency", "p_longer", "p_lists", "self_preference", "human_agreement", "length_slope"):
            assert RATE_KEYS <= set(e[key]), (name, key)
            assert (e[key]["value"] is None) == (e[key]["reason"] is not None)
            if e[key]["value"] is not None:
                lo, hi = e[key]["ci"]
                assert lo <= e[key]["value"] <= hi
        assert e["cohen_kappa"] is None or isinstance(e["cohen_kappa"], float)
        assert {"tokens", "cost_usd", "latency_s"} <= set(e)
    assert d["judges"]["gpt-4o"]["latency_s"]["mean"] == 0.5
    assert isinstance(d["warnings"], list) and all(isinstance(w, str) for w in d["warnings"])
    assert set(d["jury"]) >= {"rule", "n", "parsed_rate", "p_longer", "human_agreement", "cohen_kappa", "agreement"}
    json.dumps(d)  # plain JSON types only


def test_json_round_trip(report, tmp_path):
    text = report.to_json(tmp_path / "a.json")
    again = AuditReport.from_dict(json.loads((tmp_path / "a.json").read_text()))
    assert again.to_dict() == report.to_dict() and json.loads(text) == report.to_dict()


def test_markdown_has_tables_and_escapes_data(report):
    md = report.to_markdown()
    assert md.startswith("# Judge audit") and "| judge | family |" in md and "## Jury" in md
    assert "gpt-4o picked the answer shown first" in md
    bad = audit(pd.DataFrame({"pair_id": ["p"], "judge": ["<b>x|y</b>"], "winner": ["a"]})).to_markdown()
    assert "<b>" not in bad and "&lt;b&gt;x\\|y&lt;/b&gt;" in bad


def test_html_escapes_every_data_string(report, tmp_path):
    html = report.to_html(tmp_path / "a.html")
    assert (tmp_path / "a.html").read_text() == html
    assert "<script" not in html.lower()
    assert "&lt;script&gt;document.body.setAttribute(&#39;data-pwned&#39;,&#39;1&#39;)&lt;/script&gt;" in html
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "Content-Security-Policy" in html and "script-src 'none'" in html
    assert html.count("<svg") == 4 and "http://" not in html.replace("http://www.w3.org", "")


def test_html_escapes_judge_and_model_names():
    t = pd.DataFrame({"pair_id": ["p", "q"], "judge": ["<i>j</i>", "<i>j</i>"], "winner": ["a", "b"], "order": ["ab", "ba"],
                      "model_a": ["<u>m</u>", "n"], "model_b": ["n", "<u>m</u>"], "prompt": ["$x$", "y"],
                      "response_a": ["aaaa", "b"], "response_b": ["c", "dddd"]})
    html = audit(t).to_html()
    assert "<i>" not in html and "<u>" not in html and "&lt;i&gt;j&lt;/i&gt;" in html


def test_inputs_parquet_jsonl_dataset_and_rank_result(table, tmp_path):
    base = audit(table).to_dict()["judges"]["gpt-4o"]["p_first"]
    p = write_judgments(table, tmp_path / "j.parquet")
    j = write_judgments(table, tmp_path / "j.jsonl")
    assert audit(p).to_dict()["judges"]["gpt-4o"]["p_first"] == base
    assert audit(str(j)).to_dict()["judges"]["gpt-4o"]["p_first"] == base
    import datasets

    ds = datasets.Dataset.from_pandas(table, preserve_index=False)
    assert audit(ds).to_dict()["judges"]["gpt-4o"]["p_first"] == base
    res = aggregate(table, "dawid_skene")
    d = audit(res).to_dict()
    assert d["meta"]["kind"] == "rank_result" and d["jury"]["rule"] == "dawid_skene"
    assert set(d["jury"]["judge_reliability"]) == {"gpt-4o", "claude-3-haiku", "llama-3-8b"}


def test_rank_result_pairs_fill_what_the_judgments_lack(table):
    res = aggregate(table)
    res.judgments = res.judgments.assign(human=None, response_a=None)
    d = audit(res).to_dict()
    assert d["jury"]["human_agreement"]["value"] is not None
    assert d["judges"]["gpt-4o"]["p_longer"]["value"] is not None


def test_audit_rule_quorum_and_same_family_options(table):
    d = audit(table, aggregate="weighted", quorum=3, same_family="exclude").to_dict()
    assert d["jury"]["rule"] == "weighted" and d["jury"]["below_quorum"] > 0
    assert any("below the quorum" in w or "than the quorum" in w for w in d["warnings"])


def test_unknown_and_empty_inputs_fail_clearly(tmp_path):
    with pytest.raises(InputError, match="cannot tell what this table is"):
        audit(pd.DataFrame({"x": [1]}))
    with pytest.raises(InputError, match="empty"):
        audit(pd.DataFrame({"pair_id": [], "judge": [], "winner": []}))
    with pytest.raises(InputError, match="no such file"):
        audit(tmp_path / "missing.parquet")


def test_alpaca_eval_importer(tmp_path):
    rows = [{"instruction": f"q{i}", "output_1": "base answer " * (1 + i % 3), "output_2": "model answer\n- a\n- b" * (1 + i % 2),
             "generator_1": "gpt4_1106_preview", "generator_2": "my-model", "annotator": "weighted_alpaca_eval_gpt4_turbo",
             "preference": [1.0, 2.0, 1.5, 1.8, None, 0][i % 6], "price_per_example": 0.001, "time_per_example": 1.2}
            for i in range(60)]
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(rows))
    t = from_alpaca_eval(json.loads(path.read_text()))
    assert t.loc[0, "winner"] == "a" and t.loc[1, "winner"] == "b" and t.loc[2, "winner"] == "tie"
    assert t.loc[3, "p_a"] == pytest.approx(0.2) and t.loc[4, "winner"] is None and t.loc[5, "winner"] == "tie"
    d = audit(path).to_dict()
    j = d["judges"]["weighted_alpaca_eval_gpt4_turbo"]
    assert d["meta"]["kind"] == "alpaca_eval" and j["n"] == 60 and j["parsed_rate"] == pytest.approx(50 / 60)
    assert j["p_first"]["value"] is None and j["cost_usd"]["total"] == pytest.approx(0.06)
    assert set(d["generators"]["models"]) == {"gpt4_1106_preview", "my-model"}
    with pytest.raises(InputError, match="row 1.*preference"):
        from_alpaca_eval([{"output_1": "x", "output_2": "y", "preference": 1.0}, {"output_1": "x", "output_2": "y", "preference": 3}])


def test_alpaca_eval_human_annotator_becomes_the_human_label():
    rows = [{"instruction": "q", "output_1": "x", "output_2": "y", "annotator": "human", "preference": 2},
            {"instruction": "q", "output_1": "x", "output_2": "y", "annotator": "gpt4", "preference": 2},
            {"instruction": "r", "output_1": "u", "output_2": "v", "annotator": "human", "preference": 1},
            {"instruction": "r", "output_1": "u", "output_2": "v", "annotator": "gpt4", "preference": 2}]
    t = from_alpaca_eval(rows, human_annotator="human")
    assert t["judge"].tolist() == ["gpt4", "gpt4"] and t["human"].tolist() == ["b", "a"]
    assert audit(t).to_dict()["judges"]["gpt4"]["human_agreement"]["value"] == 0.5


def test_preference_dataset_audit():
    rows = [{"prompt": f"q{i}", "chosen": "long chosen answer " * 5 if i % 4 else "short",
             "rejected": "short rejected", "chosen_model": "gpt-4", "rejected_model": "llama-2-13b-chat"} for i in range(80)]
    rows[0]["chosen"] = [{"role": "user", "content": "q0"}, {"role": "assistant", "content": "1. step\n2. step"}]
    t = from_preference_dataset(rows)
    assert t.loc[0, "response_a"] == "1. step\n2. step" and t.loc[0, "winner"] == "a" and t.loc[1, "winner"] == "b"
    d = audit(rows).to_dict()
    e = d["judges"]["dataset"]
    assert d["meta"]["kind"] == "dataset"
    assert e["p_longer"]["value"] == 1.0 and e["p_longer"]["n"] == 60  # 60 long chosen answers differ by > 30 chars
    assert d["generators"]["win_matrix"]["gpt-4"]["llama-2-13b-chat"] == {"wins": 80.0, "n": 80}
    assert any(w.startswith("the chosen answer was the longer answer 100%") for w in d["warnings"])


def test_cli_writes_all_three_formats(table, tmp_path):
    import typer
    from typer.testing import CliRunner

    from prefjudge.cli.audit import audit_command

    app = typer.Typer()
    app.command("audit")(audit_command)
    app.command("noop")(lambda: None)
    path = write_judgments(table, tmp_path / "j.parquet")
    out = CliRunner().invoke(app, ["audit", str(path), "--html", str(tmp_path / "a.html"), "--md", str(tmp_path / "a.md"),
                                   "--json", str(tmp_path / "a.json")])
    assert out.exit_code == 0, out.output
    assert "warning: judge gpt-4o picked the answer shown first" in out.output
    assert json.loads((tmp_path / "a.json").read_text())["judges"]["gpt-4o"]["n"] == 240
    assert (tmp_path / "a.md").read_text().startswith("# Judge audit") and "<svg" in (tmp_path / "a.html").read_text()
    gate = CliRunner().invoke(app, ["audit", str(path), "--fail-on-warning"])
    assert gate.exit_code == 1 and "# Judge audit" in gate.output
    missing = CliRunner().invoke(app, ["audit", str(tmp_path / "nope.parquet")])
    assert missing.exit_code == 2


def test_package_import_is_cheap():
    import subprocess
    import sys

    code = "import sys, prefjudge.audit, prefjudge.aggregation.jury; print(sorted(m for m in ('numpy', 'pandas', 'matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]" and "AuditReport" in audit_all
