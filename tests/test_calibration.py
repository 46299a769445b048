"""Calibration of soft verdicts: the numbers against hand computations, the recalibration fits,
the report entries and renderings, and ``to_preferences(calibration=...)``."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import prefjudge as pj
from prefjudge.audit import AuditReport, audit
from prefjudge.errors import InputError
from prefjudge.stats.calibration import (
    Calibrator,
    brier,
    cross_fitted,
    ece,
    fit_isotonic,
    fit_temperature,
    gold_targets,
    pav,
    reliability_table,
)

# ------------------------------------------------------------------ the formulas, by hand

# 4 equal-width bins [0, .25), [.25, .5), [.5, .75), [.75, 1]; 0.5 opens bin 2, 1.0 closes bin 3.
P8 = [0.1, 0.2, 0.3, 0.6, 0.7, 0.5, 0.9, 1.0]
GOLD8 = [1, 0, 2, 0, 1, 0, 0, 0]  # class codes: 0 = a, 1 = b, 2 = tie


def test_brier_ece_and_bins_equal_the_hand_computation():
    y, use = gold_targets(np.array(GOLD8), np.ones(8, dtype=bool))
    assert y.tolist() == [0, 1, 0.5, 1, 0, 1, 1, 1] and use.all()
    # Brier: (.01 + .64 + .04 + .16 + .49 + .25 + .01 + 0) / 8 = 1.6 / 8
    assert brier(P8, y) == pytest.approx(0.2)
    # bins: {.1,.2} mean .15 vs .5; {.3} .3 vs .5; {.6,.7,.5} .6 vs 2/3; {.9,1} .95 vs 1
    # ECE = (2 * .35 + 1 * .2 + 3 * (1/15) + 2 * .05) / 8 = 1.2 / 8
    assert ece(P8, y, n_bins=4) == pytest.approx(0.15)
    bins = reliability_table(P8, y, n_bins=4)
    assert [(b["lo"], b["hi"], b["n"]) for b in bins] == [(0.0, 0.25, 2), (0.25, 0.5, 1), (0.5, 0.75, 3), (0.75, 1.0, 2)]
    assert [b["mean_pred"] for b in bins] == pytest.approx([0.15, 0.3, 0.6, 0.95])
    assert [b["frac_pos"] for b in bins] == pytest.approx([0.5, 0.5, 2 / 3, 1.0])


def test_gold_ties_can_be_excluded_instead_of_counting_half():
    y, use = gold_targets(np.array(GOLD8), np.ones(8, dtype=bool), ties="exclude")
    p = np.array(P8)[use]
    assert use.tolist() == [True, True, False, True, True, True, True, True]
    # without the tie at .3: Brier 1.56 / 7; ECE (2 * .35 + 3 * (1/15) + 2 * .05) / 7 = 1 / 7; bin 1 empty
    assert brier(p, y[use]) == pytest.approx(1.56 / 7)
    assert ece(p, y[use], n_bins=4) == pytest.approx(1 / 7)
    assert reliability_table(p, y[use], n_bins=4)[1] == {"lo": 0.25, "hi": 0.5, "n": 0, "mean_pred": None, "frac_pos": None}


def test_equal_width_bin_edges():
    bins = reliability_table([0.0, 0.1, 0.3, 0.7, 0.999, 1.0], [0, 0, 0, 0, 0, 0], n_bins=10)
    assert [b["n"] for b in bins] == [1, 1, 0, 1, 0, 0, 0, 1, 0, 2]


def test_pav_by_hand():
    assert pav([1.0, 3.0, 2.0, 4.0, 3.0]).tolist() == [1.0, 2.5, 2.5, 3.5, 3.5]
    # weights: (3 * 1 + 1 * 3) / 4 = 1.5 pools 3 before 1
    assert pav([3.0, 1.0], [1.0, 3.0]).tolist() == [1.5, 1.5]


def test_temperature_fit_by_hand():
    s2 = 1 / (1 + math.exp(-2))  # logit 2
    # three of four won: sigmoid(2 / T) = 3/4, T = 2 / ln 3
    cal = fit_temperature([s2] * 4, [1, 1, 1, 0])
    assert cal.temperature == pytest.approx(2 / math.log(3), rel=1e-9)
    assert cal(np.array([s2]))[0] == pytest.approx(0.75)
    # the map has no intercept: the same answer from the mirrored data
    assert fit_temperature([1 - s2] * 4, [0, 0, 0, 1]).temperature == pytest.approx(2 / math.log(3), rel=1e-9)
    # predictions pointing the wrong way: no positive scale helps, T infinite, everything 0.5
    bad = fit_temperature([0.8, 0.2], [0, 1])
    assert bad.temperature is None and bad(np.array([0.9, 0.1])).tolist() == [0.5, 0.5]


def test_isotonic_fit_by_hand():
    cal = fit_isotonic([0.2, 0.4, 0.6, 0.8], [0, 1, 0, 1])
    # the data is its own mirror image; PAV pools (.4, 1) with (.6, 0)
    assert cal.x == (0.2, 0.4, 0.6, 0.8) and cal.y == (0.0, 0.5, 0.5, 1.0)
    assert cal(np.array([0.1, 0.3, 0.5, 0.9])) == pytest.approx([0.0, 0.25, 0.5, 1.0])
    # (.7, 1), (.9, 0) and mirrors (.3, 0), (.1, 1): sorted 1, 0, 1, 0 pools to 0.5 everywhere
    flat = fit_isotonic([0.7, 0.9], [1, 0])
    assert flat.x == (0.1, 0.9) and flat.y == (0.5, 0.5)


def test_calibrators_are_symmetric_and_round_trip():
    rng = np.random.default_rng(3)
    p = rng.random(300)
    y = (rng.random(300) < p**2).astype(float)  # deliberately asymmetric data
    grid = np.linspace(0, 1, 41)
    for cal in (fit_temperature(p, y), fit_isotonic(p, y)):
        assert np.allclose(cal(grid) + cal(1 - grid), 1.0, atol=1e-9)
        again = Calibrator.from_dict(json.loads(json.dumps(cal.to_dict())))
        assert np.allclose(again(grid), cal(grid))
        # margin form: 2 f((1 + m) / 2) - 1 equals |2 f(p) - 1| on either side
        assert np.allclose(cal.margin(np.abs(2 * grid - 1)), np.abs(2 * cal(grid) - 1), atol=1e-9)


def test_bad_calibrators_are_input_errors():
    with pytest.raises(InputError, match="method"):
        Calibrator.from_dict({"method": "platt"})
    with pytest.raises(InputError, match="temperature"):
        Calibrator("temperature", temperature=-1.0)
    with pytest.raises(InputError, match="non-decreasing"):
        Calibrator("isotonic", x=(0.2, 0.1), y=(0.0, 1.0))
    with pytest.raises(InputError, match="row 1"):
        brier([0.5, 1.5], [1, 0])


# ------------------------------------------------------------------ recalibration helps held-out data


def _judge(n: int, rng, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """True P(a) = sigmoid(d); the judge says sigmoid(scale * d) (scale > 1: overconfident)."""
    d = rng.normal(0, 1.5, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-d))).astype(float)
    return 1 / (1 + np.exp(-scale * d)), y


@pytest.mark.parametrize("scale", [3.0, 1 / 3])
@pytest.mark.parametrize("method", ["temperature", "isotonic"])
def test_fits_improve_ece_on_held_out_data(method, scale):
    rng = np.random.default_rng(11)
    p_train, y_train = _judge(3000, rng, scale)
    p_test, y_test = _judge(3000, rng, scale)
    raw = ece(p_test, y_test)
    cal = fit_temperature(p_train, y_train) if method == "temperature" else fit_isotonic(p_train, y_train)
    after = ece(cal(p_test), y_test)
    assert raw > 0.08, raw  # the judge really is miscalibrated
    assert after < raw / 3, (raw, after)
    assert brier(cal(p_test), y_test) < brier(p_test, y_test)
    if method == "temperature":
        assert cal.temperature == pytest.approx(scale, rel=0.15)  # undoes the scale


def test_cross_fitted_predictions_are_out_of_fold():
    rng = np.random.default_rng(0)
    p, y = _judge(200, rng, 3.0)
    groups = np.repeat(np.arange(100), 2)
    oof = cross_fitted(p, y, "temperature", groups, n_folds=5, seed=0)
    assert oof is not None and oof.shape == p.shape and not np.allclose(oof, fit_temperature(p, y)(p))
    assert cross_fitted(p[:8], y[:8], "temperature", groups[:8], n_folds=5) is None  # 4 groups < 5 folds


# ------------------------------------------------------------------ the audit report


def _table(rows: list[tuple], human: dict[str, str | None]) -> pd.DataFrame:
    return pd.DataFrame([{"pair_id": pid, "prompt": f"q {pid}", "response_a": "answer one", "response_b": "answer two",
                          "model_a": "m1", "model_b": "m2", "judge": judge, "order": order,
                          "winner": None if p is None else "a" if p > 0.5 else "b" if p < 0.5 else "tie", "p_a": p,
                          "human": human[pid]} for pid, judge, order, p in rows])


# one judge, both orders; dyadic probabilities, so sums and bin edges are exact
SOFT = [("p0", "j", "ab", 0.875), ("p0", "j", "ba", 0.625), ("p1", "j", "ab", 0.375), ("p1", "j", "ba", 0.125),
        ("p2", "j", "ab", 0.5625), ("p2", "j", "ba", 0.4375), ("p3", "j", "ab", 0.3125), ("p3", "j", "ba", 0.0625)]
GOLD = {"p0": "a", "p1": "b", "p2": "tie", "p3": "a"}


@pytest.mark.parametrize("rule", ["majority", "mean"])
def test_report_numbers_equal_the_hand_computation(rule):
    d = audit(_table(SOFT, GOLD), aggregate=rule).to_dict()
    c = d["judges"]["j"]["calibration"]
    assert {"brier", "ece", "bins", "n"} <= set(c)
    assert (c["n"], c["n_soft"], c["n_pairs"], c["n_ties"], c["unit"], c["reason"]) == (8, 8, 4, 2, "call", None)
    # calls: p .875 .625 .375 .125 .5625 .4375 .3125 .0625 against y 1 1 0 0 .5 .5 1 1
    # squared errors .015625 .140625 .140625 .015625 .00390625 .00390625 .47265625 .87890625 sum 1.671875
    assert c["brier"] == pytest.approx(1.671875 / 8)
    # bins (width .1): all single except bin 3 = {.375 (y 0), .3125 (y 1)}: mean .34375 vs .5
    # ECE = (.125 + .375 + .125 + .0625 + .0625 + .9375 + 2 * .15625) / 8 = 2 / 8
    assert c["ece"] == pytest.approx(0.25)
    assert len(c["bins"]) == 10 and [b["n"] for b in c["bins"]] == [1, 1, 0, 2, 1, 1, 1, 0, 1, 0]
    assert c["bins"][3] == {"lo": 0.3, "hi": 0.4, "n": 2, "mean_pred": pytest.approx(0.34375), "frac_pos": 0.5}
    # jury, per pair: p_a = mean of the judge's calls = .75 .25 .5 .1875 against 1 0 .5 1
    jc = d["jury"]["calibration"]
    assert (jc["n"], jc["unit"], jc["n_ties"]) == (4, "pair", 1)
    assert jc["brier"] == pytest.approx((0.0625 + 0.0625 + 0 + 0.66015625) / 4)
    assert jc["ece"] == pytest.approx((0.25 + 0.25 + 0 + 0.8125) / 4)
    assert set(jc["recalibration"]) == {"n_folds", "temperature", "isotonic"}


def test_hard_verdicts_have_no_calibration_and_say_why():
    hard = _table(SOFT, GOLD).assign(p_a=None)
    report = audit(hard)
    d = report.to_dict()
    c, jc = d["judges"]["j"]["calibration"], d["jury"]["calibration"]
    assert c["n"] == 0 and c["brier"] is None and c["bins"] == [] and "no soft verdicts" in c["reason"]
    assert jc["n"] == 0 and "no soft verdicts" in jc["reason"] and "majority" in jc["reason"]
    assert "## Calibration" not in report.to_markdown()
    html = report.to_html()
    assert 'id="calibration"' not in html and 'id="plot-calibration"' not in html
    with pytest.raises(InputError, match="no soft verdicts"):
        report.calibrator()
    # the mean rule's p_a is a probability (here a share of votes): the jury is calibrated, the judge not
    mean = audit(hard, aggregate="mean").to_dict()
    assert mean["judges"]["j"]["calibration"]["n"] == 0 and mean["jury"]["calibration"]["n"] == 4


def test_soft_verdicts_without_labels_say_so():
    report = audit(_table(SOFT, dict.fromkeys(GOLD)))
    d = report.to_dict()
    c = d["judges"]["j"]["calibration"]
    assert (c["n"], c["n_soft"], c["reason"]) == (0, 8, "no human labels")
    assert d["jury"]["calibration"]["reason"] == "no human labels"
    md = report.to_markdown()
    section = md[md.index("## Calibration"):md.index("## Generators")]
    assert "- judge j: no human labels" in section and "| bin |" not in section
    assert 'id="plot-calibration"' not in report.to_html()


def test_a_rule_fitted_on_the_labels_is_not_calibrated_against_them():
    d = audit(_table(SOFT, GOLD), aggregate="dawid_skene_semi").to_dict()
    assert d["jury"]["calibration"]["n"] == 0 and "fitted on the human labels" in d["jury"]["calibration"]["reason"]
    assert d["judges"]["j"]["calibration"]["n"] == 8


def _miscalibrated_table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Judge "over" says sigmoid(3 d), judge "fair" sigmoid(d); the human label is a with probability sigmoid(d)."""
    rng = np.random.default_rng(seed)
    d = rng.normal(0, 1.5, n)
    gold = {f"p{i}": "a" if rng.random() < 1 / (1 + np.exp(-d[i])) else "b" for i in range(n)}
    rows = [(f"p{i}", judge, order, float(1 / (1 + np.exp(-scale * d[i]))))
            for judge, scale in (("over", 3.0), ("fair", 1.0)) for order in ("ab", "ba") for i in range(n)]
    return _table(rows, gold)


def test_report_json_markdown_warning_and_calibrator():
    report = audit(_miscalibrated_table(), aggregate="mean", seed=1)
    d = json.loads(report.to_json())
    over, fair = d["judges"]["over"]["calibration"], d["judges"]["fair"]["calibration"]
    assert over["ece"] > over["ece_calibrated_95"] and fair["ece"] < 0.1
    assert over["recalibration"]["temperature"]["temperature"] == pytest.approx(3.0, rel=0.25)
    assert over["recalibration"]["temperature"]["ece_cv"] < over["ece"] / 2
    assert over["recalibration"]["isotonic"]["ece_cv"] < over["ece"] / 2
    assert d["jury"]["calibration"]["n"] == 300
    warned = [w for w in report.warnings if "miscalibrated" in w]
    assert any(w.startswith("judge over's p_a is miscalibrated") and "overconfident" in w for w in warned)
    assert not any("judge fair" in w for w in warned)
    md = report.to_markdown()
    section = md[md.index("## Calibration"):md.index("## Generators")]
    assert "| judge over | call | 600 |" in section and "| jury (mean) | pair | 300 |" in section
    assert "Reliability of judge over:" in section and "| 0.9-1.0 |" in section
    html = report.to_html()
    start = html.index('id="plot-calibration"')
    assert "<svg" in html[start: start + 400]
    # the calibrator survives a JSON round trip of the report
    again = AuditReport.from_dict(json.loads(report.to_json()))
    t = again.calibrator("over")
    assert t.method == "temperature" and t.temperature == pytest.approx(over["recalibration"]["temperature"]["temperature"])
    assert again.calibrator("over", "isotonic").method == "isotonic"
    with pytest.raises(InputError, match="no judge 'nobody'"):
        again.calibrator("nobody")


# ------------------------------------------------------------------ to_preferences


def _prefs_table() -> list[dict]:
    return [{"id": f"r{i}", "prompt": f"question {i}", "chosen": f"good answer {i}", "rejected": f"bad answer {i}", "margin": m}
            for i, m in enumerate([0.6, 0.9, None, 0.0])]


def test_to_preferences_applies_the_calibrator_to_margins():
    plain = pj.to_preferences(_prefs_table())
    assert plain["margin"] == [0.6, 0.9, None, 0.0] and "calibration" not in plain.provenance["curation"]
    prefs = pj.to_preferences(_prefs_table(), calibration=Calibrator("temperature", temperature=2.0))
    # m = .6: p = .8, logit ln 4, halved ln 2, sigmoid 2/3, margin 1/3
    # m = .9: p = .95, logit ln 19, halved: sigmoid = sqrt(19) / (1 + sqrt(19))
    s19 = math.sqrt(19)
    assert prefs["margin"][0] == pytest.approx(1 / 3)
    assert prefs["margin"][1] == pytest.approx(2 * s19 / (1 + s19) - 1)
    assert prefs["margin"][2] is None and prefs["margin"][3] == pytest.approx(0.0)
    assert prefs.provenance["curation"]["calibration"] == "temperature 2"
    # selection sees the recalibrated margins
    known = [r for r in _prefs_table() if r["margin"] is not None]
    assert pj.to_preferences(known, min_margin=0.5)["id"] == ["r0", "r1"]
    assert pj.to_preferences(known, min_margin=0.5, calibration={"method": "temperature", "temperature": 2.0})["id"] == ["r1"]
    iso = pj.to_preferences(_prefs_table(), calibration={"method": "isotonic", "x": [0.2, 0.8], "y": [0.4, 0.6]})
    # p = .8 -> .6 (margin .2); p = .95 -> .6 (clamped past the last knot); p = .5 -> .5
    assert iso["margin"][:2] == pytest.approx([0.2, 0.2]) and iso["margin"][3] == pytest.approx(0.0)
    with pytest.raises(InputError, match="calibration"):
        pj.to_preferences(_prefs_table(), calibration={"method": "platt"})
    with pytest.raises(InputError, match="calibration"):
        pj.to_preferences(_prefs_table(), calibration=2.0)


def test_rank_audit_recalibrate_over_http(sim_world):
    """Logprob judges over real HTTP, human labels from the latent quality with more noise than
    the judges assume: the audit finds them overconfident and the curated margins shrink."""
    from prefjudge.testing import SimJudge, SimServer, make_demo_pairs

    pairs = make_demo_pairs(120, seed=4, world=sim_world)
    rng = np.random.default_rng(4)
    for p in pairs:
        p["human"] = "a" if p["quality_a"] - p["quality_b"] + rng.normal(0, 1.0) > 0 else "b"
    sims = [SimJudge(name="gpt-sim", noise=0.25), SimJudge(name="claude-sim", noise=0.3)]
    with SimServer(judges=sims, world=sim_world) as server:
        judges = [pj.Judge(s.name, base_url=server.base_url, api_key="x", template="pairwise_logprob") for s in sims]
        result = pj.rank_pairs(pairs, judges=judges, order="both", seed=0)
    report = audit(result)
    d = report.to_dict()
    for name in ("gpt-sim", "claude-sim"):
        c = d["judges"][name]["calibration"]
        assert c["n"] == 240 and c["reason"] is None
        assert c["recalibration"]["temperature"]["temperature"] > 1  # overconfident against these labels
    cal = report.calibrator()
    assert d["jury"]["calibration"]["n"] == 120 and cal.temperature > 1
    plain = pj.to_preferences(result, drop_ties=False)
    recal = pj.to_preferences(result, drop_ties=False, calibration=cal)
    m0 = np.array([np.nan if m is None else m for m in plain["margin"]])
    m1 = np.array([np.nan if m is None else m for m in recal["margin"]])
    assert np.isfinite(m0).sum() == 120
    assert np.allclose(m1, cal.margin(m0))
    assert (m1 <= m0 + 1e-12).all() and (m1 < m0).any()  # T > 1 shrinks every margin
    assert recal.provenance["curation"]["calibration"] == cal.describe()
