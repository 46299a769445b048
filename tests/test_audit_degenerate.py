"""The audit report on degenerate judges: every format renders, undefined statistics are None with a
reason, and the JSON never holds NaN or Infinity (which are not JSON)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from prefjudge.audit import AuditReport, audit

N_PAIRS = 40


def _pairs(n=N_PAIRS, *, equal_lengths=False, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        if equal_lengths:
            a, b = "x" * 80, "y" * 80
        else:
            la, lb = int(rng.integers(20, 400)), int(rng.integers(20, 400))
            if abs(la - lb) <= 40:
                lb = la + 120
            a, b = ("word " * la)[:la], ("text " * lb)[:lb]
            if i % 3 == 0:
                a = "Steps:\n1. one\n2. two\n" + a
        rows.append({"pair_id": f"p{i}", "prompt": f"Question {i}?", "response_a": a, "response_b": b,
                     "model_a": "gpt-4o-mini" if i % 2 else "llama-3-8b", "model_b": "claude-3-haiku" if i % 2 else "mistral-7b"})
    return rows


def _table(decide, *, judge="gpt-4o", pairs=None, orders=("ab", "ba"), human=None):
    """One row per (pair, order); ``decide(pair, order) -> winner or None``."""
    rows = []
    for p in pairs or _pairs():
        for o in orders:
            w = decide(p, o)
            rows.append({**p, "judge": judge, "order": o, "winner": w, "error": None if w else "no verdict found",
                         "human": human(p) if human else None})
    return pd.DataFrame(rows)


def _longer(p):
    return "a" if len(p["response_a"]) > len(p["response_b"]) else "b"


def _shorter(p):
    return "b" if _longer(p) == "a" else "a"


def _random(seed):
    rng = np.random.default_rng(seed)
    return lambda p, o: str(rng.choice(["a", "b", "tie"], p=[0.45, 0.45, 0.1]))


CASES = {
    "always_first": lambda: _table(lambda p, o: "a" if o == "ab" else "b"),
    "always_second": lambda: _table(lambda p, o: "b" if o == "ab" else "a"),
    "always_longer": lambda: _table(lambda p, o: _longer(p)),
    "always_shorter": lambda: _table(lambda p, o: _shorter(p)),
    "all_ties": lambda: _table(lambda p, o: "tie"),
    "all_failed": lambda: _table(lambda p, o: None),
    "all_failed_nan": lambda: _table(lambda p, o: None).assign(winner=np.nan, p_a=np.nan, order=np.nan),
    "one_pair": lambda: _table(lambda p, o: "a", pairs=_pairs(1)),
    "one_row": lambda: _table(lambda p, o: "b", pairs=_pairs(1), orders=("ab",)),
    "one_judge_random": lambda: _table(_random(1)),
    "zero_parsed_next_to_normal": lambda: pd.concat([_table(_random(2), judge="gpt-4o"),
                                                    _table(lambda p, o: None, judge="claude-3-haiku")], ignore_index=True),
    "identical_lengths": lambda: _table(_random(3), pairs=_pairs(equal_lengths=True)),
    "longer_with_human_longer": lambda: _table(lambda p, o: _longer(p), human=_longer),
    "two_judges_always_longer": lambda: pd.concat([_table(lambda p, o: _longer(p), judge="gpt-4o"),
                                                  _table(lambda p, o: _longer(p), judge="llama-3-70b")], ignore_index=True),
    "order_unknown": lambda: _table(lambda p, o: _longer(p), orders=(None,)),
    "no_texts": lambda: _table(lambda p, o: "a" if o == "ab" else "b").drop(columns=["response_a", "response_b", "prompt"]),
}


def _no_nan(x, path="$"):
    if isinstance(x, float):
        assert math.isfinite(x), path
    elif isinstance(x, dict):
        for k, v in x.items():
            _no_nan(v, f"{path}.{k}")
    elif isinstance(x, list):
        for k, v in enumerate(x):
            _no_nan(v, f"{path}[{k}]")


def _rates(x, path="$"):
    """Every {"value", ...} entry in the report, with its path."""
    if isinstance(x, dict):
        if "value" in x and "reason" in x:
            yield path, x
        for k, v in x.items():
            yield from _rates(v, f"{path}.{k}")
    elif isinstance(x, list):
        for k, v in enumerate(x):
            yield from _rates(v, f"{path}[{k}]")


def _strict(text):
    def refuse(name):
        raise ValueError(f"not JSON: {name}")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    table = CASES[request.param]()
    return request.param, table, audit(table)


@pytest.mark.timeout(120)
def test_every_format_renders(case, tmp_path):
    name, _, report = case
    html = report.to_html(tmp_path / "r.html")
    assert html.startswith("<!DOCTYPE html>") and "</html>" in html
    md = report.to_markdown(tmp_path / "r.md")
    assert md.startswith("# Judge audit")
    text = report.to_json(tmp_path / "r.json")
    d = _strict(text)
    _no_nan(d)
    again = AuditReport.from_dict(_strict((tmp_path / "r.json").read_text(encoding="utf-8")))
    assert again.to_dict() == report.to_dict() == d
    assert again.to_html() == html and again.to_markdown() == md


def test_undefined_statistics_are_none_with_a_reason(case):
    name, _, report = case
    for path, e in _rates(report.to_dict()):
        if e["value"] is None:
            assert isinstance(e["reason"], str) and e["reason"], path
            assert not e.get("ci"), path
        else:
            assert e["reason"] is None, path
            ci = e.get("ci")
            signed = any(k in path for k in ("cohen_kappa", "length_slope", "length_coefficient", "self_preference",
                                              "family_preference"))
            if ci is not None and "n" in e and not signed:
                lo, hi = ci
                assert 0.0 <= lo <= e["value"] <= hi <= 1.0, (path, e)


def test_the_json_refuses_nan_and_infinity():
    with pytest.raises(ValueError, match="not JSON"):
        _strict('{"x": NaN}')
    with pytest.raises(ValueError, match="not JSON"):
        _strict('{"x": Infinity}')
    text = AuditReport({"judges": {"j": {"p": float("nan"), "q": np.float64("inf"), "r": np.nan}}}).to_json()
    assert _strict(text) == {"judges": {"j": {"p": None, "q": None, "r": None}}}


def _judge(case_name, judge="gpt-4o"):
    return audit(CASES[case_name]()).to_dict()["judges"][judge]


def test_always_longer_shows_the_bias():
    e = _judge("always_longer")
    assert e["p_longer"]["value"] == 1.0 and e["p_longer"]["ci"][1] == 1.0 and e["p_longer"]["ci"][0] < 1.0
    assert all(b["value"] in (None, 1.0) for b in e["longer_by_ratio"])
    report = audit(CASES["always_longer"]())
    assert any("longer" in w for w in report.warnings)
    assert report.to_html().count("<svg") >= 2  # P(first) and the length curve are drawn


def test_always_shorter_and_first_and_second():
    assert _judge("always_shorter")["p_longer"]["value"] == 0.0
    assert _judge("always_first")["p_first"]["value"] == 1.0
    assert _judge("always_second")["p_first"]["value"] == 0.0
    assert _judge("always_first")["consistency"]["value"] == 0.0


def test_all_ties_and_all_failed_leave_the_rates_undefined():
    ties = _judge("all_ties")
    for key in ("p_first", "p_longer", "p_lists"):
        assert ties[key]["value"] is None and "decisive" in ties[key]["reason"]
    assert ties["consistency"]["value"] == 1.0
    failed = _judge("all_failed")
    assert failed["parsed_rate"] == 0.0 and failed["n_parsed"] == 0
    for key in ("p_first", "p_longer", "consistency", "length_slope"):
        assert failed[key]["value"] is None and failed[key]["reason"], key
    jury = audit(CASES["all_failed"]()).to_dict()["jury"]
    assert jury["n_parsed"] == 0 and jury["p_longer"]["value"] is None


def test_zero_parsed_judge_next_to_a_normal_one():
    d = audit(CASES["zero_parsed_next_to_normal"]()).to_dict()
    good, dead = d["judges"]["gpt-4o"], d["judges"]["claude-3-haiku"]
    assert good["p_first"]["value"] is not None and dead["p_first"]["value"] is None
    assert dead["parsed_rate"] == 0.0
    pairs = d["jury"]["agreement"]["cohen_kappa_pairs"]
    assert pairs["gpt-4o"]["claude-3-haiku"]["value"] is None


def test_identical_lengths_leave_length_statistics_undefined():
    e = _judge("identical_lengths")
    assert e["p_longer"]["value"] is None and "differ" in e["p_longer"]["reason"]
    assert e["length_slope"]["value"] is None and e["length_slope"]["reason"]
    assert all(b["value"] is None for b in e["longer_by_ratio"])


def test_one_pair_and_one_row():
    for name in ("one_pair", "one_row"):
        d = audit(CASES[name]()).to_dict()
        assert d["meta"]["n_pairs"] == 1
        e = d["judges"]["gpt-4o"]
        assert e["length_slope"]["value"] is None and e["length_slope"]["reason"]


def test_error_bars_never_negative():
    """An estimate at the edge of its interval (or a hair outside, from rounding) still draws."""
    from prefjudge.audit.render import plots

    edge = {"value": 1.0, "ci": [0.9, 0.9999999999999998], "n": 40, "reason": None}
    outside = {"value": 0.2, "ci": [0.2000000001, 0.5], "n": 40, "reason": None}
    judges = {"j": {"p_first": edge, "longer_by_ratio": [dict(edge), dict(outside), {"value": None}]},
              "k": {"p_first": outside, "longer_by_ratio": [dict(outside)]}}
    assert plots.p_first_plot(judges).startswith("<svg")
    assert plots.longer_plot(judges).startswith("<svg")


def test_error_bars_helper():
    from prefjudge.audit.render.plots import error_bar

    assert error_bar({"value": 1.0, "ci": [0.9, 0.99]}) == (1.0, pytest.approx(0.1), 0.0)
    lo_err, hi_err = error_bar({"value": 0.5, "ci": [0.6, 0.4]})[1:]
    assert lo_err == 0.0 and hi_err == 0.0
    v, lo_err, hi_err = error_bar({"value": 1.2, "ci": [-0.1, 1.3]})
    assert v == 1.0 and lo_err == 1.0 and hi_err == 0.0
