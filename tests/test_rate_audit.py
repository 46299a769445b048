"""The ratings audit: its numbers against a hand computation on a small table, and the biases of
simulated judges found over real HTTP."""

from __future__ import annotations

import math
import statistics

import pandas as pd
import pytest

import prefjudge as pj
from prefjudge.audit.ratings import alpha_entry, audit_ratings, krippendorff_alpha_interval
from prefjudge.testing import SimJudge, SimServer, SimWorld

Z = 1.959963984540054
LENGTHS = [10, 20, 30, 40, 50, 60]
MODELS = ["gpt-4o", "gpt-4o", "gpt-4o", "claude-3-haiku", "claude-3-haiku", "claude-3-haiku"]
J1 = [3, 5, 4, 6, 8, 8]  # openai judge
J2 = [2, 3, 3, 6, 7, 9]  # anthropic judge


@pytest.fixture
def table() -> pd.DataFrame:
    rows = []
    for k, (n, m) in enumerate(zip(LENGTHS, MODELS)):
        for judge, fam, scores in (("j1", "openai", J1), ("j2", "anthropic", J2)):
            rows.append({"id": f"a{k}", "response": "x" * n, "model": m, "judge": judge, "judge_family": fam,
                         "kind": "llm", "score": float(scores[k]), "aspects": None})
    rows.append({"id": "a6", "response": "y" * 70, "model": "gpt-4o", "judge": "j2", "judge_family": "anthropic",
                 "kind": "llm", "score": None, "aspects": None})  # a failed rating: counted, never used
    return pd.DataFrame(rows, dtype=object)


def _pearson(x, y):
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    return sxy / math.sqrt(sum((a - mx) ** 2 for a in x) * sum((b - my) ** 2 for b in y))


def test_length_bias_numbers_by_hand(table):
    e = audit_ratings(table, scale=(1, 10)).to_dict()["judges"]["j1"]
    assert (e["n"], e["n_failed"]) == (6, 0)
    r = _pearson(LENGTHS, J1)
    corr = e["length"]["correlation"]
    assert corr["value"] == pytest.approx(r)
    z = math.atanh(r)
    assert corr["ci"] == pytest.approx([math.tanh(z - Z / math.sqrt(3)), math.tanh(z + Z / math.sqrt(3))])
    x = [n / 100 for n in LENGTHS]
    mx, my = sum(x) / 6, sum(J1) / 6
    sxx = sum((a - mx) ** 2 for a in x)
    b = sum((a - mx) * (s - my) for a, s in zip(x, J1)) / sxx
    se = math.sqrt(sum((s - my - b * (a - mx)) ** 2 for a, s in zip(x, J1)) / 4 / sxx)
    slope = e["length"]["slope"]
    assert slope["value"] == pytest.approx(b) and slope["ci"] == pytest.approx([b - Z * se, b + Z * se])
    assert slope["per_chars"] == 100
    assert audit_ratings(table, scale=(1, 10)).to_dict()["judges"]["j2"]["n_failed"] == 1


def test_scale_use_and_compression_by_hand(table):
    e = audit_ratings(table, scale=(1, 10)).to_dict()["judges"]["j1"]["scale_use"]
    assert [(v["score"], v["n"]) for v in e["values"]] == [(3, 1), (4, 1), (5, 1), (6, 1), (8, 2)]
    assert e["values"][-1]["share"] == pytest.approx(2 / 6)
    assert e["compression"]["value"] == pytest.approx(3 / 6)  # 8 (twice) and one of the singles
    assert e["n_values_used"] == 5 and e["scale"] == [1, 10]
    lo, hi = e["compression"]["ci"]
    assert lo < 0.5 < hi


def test_krippendorff_alpha_by_its_definition(table):
    units = [[J1[k], J2[k]] for k in range(6)]
    pairable = [v for u in units for v in u]
    n = len(pairable)
    d_o = sum(sum((a - b) ** 2 for i, a in enumerate(u) for j, b in enumerate(u) if i != j) / (len(u) - 1) for u in units) / n
    d_e = sum((a - b) ** 2 for i, a in enumerate(pairable) for j, b in enumerate(pairable) if i != j) / (n * (n - 1))
    got = audit_ratings(table, scale=(1, 10), seed=0).to_dict()["agreement"]["krippendorff_alpha"]
    assert got["value"] == pytest.approx(1 - d_o / d_e) and got["n"] == 6 and got["n_judges"] == 2
    assert got["ci"][0] <= got["value"] <= got["ci"][1]
    # Krippendorff (2011), the worked example with missing values: interval alpha = 0.849
    coders = ["1 2 3 3 2 1 4 1 2 . . .", "1 2 3 3 2 2 4 1 2 5 . 3", ". 3 3 3 2 3 4 2 2 5 1 .", "1 2 3 3 2 4 4 1 2 5 1 ."]
    grid = [c.split() for c in coders]
    example = [[float(row[u]) for row in grid if row[u] != "."] for u in range(12)]
    assert round(krippendorff_alpha_interval(example), 3) == 0.849
    assert alpha_entry(example, 1)["reason"] == "agreement needs at least two LLM judges"
    assert krippendorff_alpha_interval([[3, 3], [3, 3]]) is None  # no variation: alpha undefined


def test_self_preference_is_a_difference_of_differences_by_hand(table):
    d = audit_ratings(table, scale=(1, 10)).to_dict()["judges"]
    gaps = [a - b for a, b in zip(J1, J2)]  # j1 minus the other judge, per answer
    own, other = gaps[:3], gaps[3:]
    value = statistics.mean(own) - statistics.mean(other)
    se = math.sqrt(statistics.variance(own) / 3 + statistics.variance(other) / 3)
    sp = d["j1"]["self_preference"]
    assert sp["value"] == pytest.approx(value) and sp["ci"] == pytest.approx([value - Z * se, value + Z * se])
    assert (sp["n_own"], sp["n_other"]) == (3, 3) and "j2" in sp["reference"]
    # the mirror image: j1 favouring openai against j2 is j2 favouring anthropic against j1
    assert d["j2"]["self_preference"]["value"] == pytest.approx(value)
    alone = audit_ratings(table[table["judge"] == "j1"], scale=(1, 10)).to_dict()["judges"]["j1"]["self_preference"]
    assert alone["value"] == pytest.approx(statistics.mean(J1[:3]) - statistics.mean(J1[3:]))
    assert alone["reference"].startswith("none")


def test_markdown_and_degenerate_tables(table):
    md = audit_ratings(table, scale=(1, 10)).to_markdown()
    assert "| j1 | llm | 6 | 0 |" in md and "Krippendorff's alpha (interval)" in md
    tiny = audit_ratings(table.head(2), scale=(1, 10)).to_dict()
    assert tiny["judges"]["j1"]["length"]["correlation"]["reason"] == "too few ratings (1 < 4)"
    assert tiny["agreement"]["krippendorff_alpha"]["value"] == 0.0  # one unit: D_o = D_e by definition


def test_simulated_biases_show_in_the_audit(tmp_path):
    """Over HTTP: a judge with a strong length bias has a positive score-length slope; a judge with a
    self bias rates its family's answers higher than the other judge does."""
    world = SimWorld()
    judges = [SimJudge(name="claude-sim", family="anthropic", noise=0.3, length_bias=3.0),
              SimJudge(name="llama-sim", family="meta", noise=0.3, self_bias=3.0)]
    rows = []
    for k in range(48):
        text = f"Answer {k}. " + "More detail on the method and its data. " * (1 + (k * 7) % 19)
        model = "llama-3-8b" if k % 2 else "gpt-4o"
        world.register(text, quality=((k * 37) % 11 - 5) / 4, model=model)
        rows.append({"prompt": f"Question {k // 4}", "response": text, "model": model})
    with SimServer(judges=judges, world=world) as server:
        jury = [pj.Judge(j.name, base_url=server.base_url, api_key="x") for j in judges]
        res = pj.rate(rows, jury, store=tmp_path / "s.db", progress=False)
    d = res.audit().to_dict()
    claude, llama = d["judges"]["claude-sim"], d["judges"]["llama-sim"]
    assert claude["length"]["correlation"]["ci"][0] > 0 and claude["length"]["slope"]["ci"][0] > 0
    assert llama["self_preference"]["ci"][0] > 0 and "claude-sim" in llama["self_preference"]["reference"]
    assert d["meta"]["template"] == "single" and d["meta"]["n_ratings"] == 96
    assert "claude-sim" in res.audit().to_markdown()
