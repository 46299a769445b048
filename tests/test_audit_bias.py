"""Injected biases are detected (the 95% CI excludes the no-bias value); unbiased judges are not flagged
more often than the 5% the intervals allow.

At one fixed seed, a 95% interval on an unbiased statistic still excludes the no-bias value 5% of the
time, so "none where none was injected" is checked two ways: the control judge's effects are small
next to the injected ones, and over 20 unbiased juries the share of flagged statistics stays near 5%.
"""

from __future__ import annotations

import pytest
from _audit_helpers import SimJudgeSpec, judge_pairs, make_pairs

from prefjudge.audit import audit

NO_BIAS = {"p_first": 0.5, "p_longer": 0.5, "p_lists": 0.5, "self_preference": 0.0, "length_slope": 0.0}
BIASED = [
    SimJudgeSpec("gpt-4o", noise=0.6, position_bias=0.25),
    SimJudgeSpec("claude-3-5-sonnet", noise=0.6, length_bias=1.0),
    SimJudgeSpec("mistral-large", noise=0.6, list_bias=1.0),
    SimJudgeSpec("llama-3-70b", noise=0.6, self_bias=1.0),
    SimJudgeSpec("gemini-1.5-pro", noise=0.6),  # the control: no bias injected
]


def excludes(entry, value):
    return entry["value"] is not None and not entry["ci"][0] <= value <= entry["ci"][1]


@pytest.fixture(scope="module")
def biased_report():
    pairs = make_pairs(1500, seed=11)
    return audit(judge_pairs(pairs, BIASED, order="both", seed=11)).to_dict()


@pytest.mark.parametrize("judge,stat", [
    ("gpt-4o", "p_first"), ("claude-3-5-sonnet", "p_longer"), ("claude-3-5-sonnet", "length_slope"),
    ("mistral-large", "p_lists"), ("llama-3-70b", "self_preference"),
])
def test_each_injected_bias_is_detected(biased_report, judge, stat):
    e = biased_report["judges"][judge][stat]
    assert excludes(e, NO_BIAS[stat]), e
    assert e["value"] > NO_BIAS[stat]  # in the injected direction


def test_the_control_judge_shows_no_bias(biased_report):
    e = biased_report["judges"]["gemini-1.5-pro"]
    for stat in ("p_first", "p_longer", "p_lists"):
        assert abs(e[stat]["value"] - 0.5) < 0.05, (stat, e[stat])  # injected effects are 0.12 to 0.30
    assert abs(e["length_slope"]["value"]) < 0.25  # the length-biased judge's slope is about 1.6
    assert e["self_preference"]["value"] is None and "google" in e["self_preference"]["reason"]
    for judge in ("gpt-4o", "claude-3-5-sonnet", "mistral-large"):
        assert abs(biased_report["judges"][judge]["self_preference"]["value"]) < 0.1  # injected: about 0.3


def test_warnings_name_each_biased_judge_in_plain_words(biased_report):
    text = "\n".join(biased_report["warnings"])
    assert "judge gpt-4o picked the answer shown first" in text
    assert "judge claude-3-5-sonnet preferred the longer answer" in text
    assert "judge mistral-large preferred the answer with a list" in text
    assert "judge llama-3-70b (family meta) gave answers from its own family" in text
    assert "gemini-1.5-pro picked" not in text and "gemini-1.5-pro preferred the longer" not in text
    first = next(w for w in biased_report["warnings"] if "gpt-4o picked" in w)
    assert "95% CI" in first and "n=3000" in first


def test_self_preference_uses_the_other_judges_as_reference(biased_report):
    sp = biased_report["judges"]["llama-3-70b"]["self_preference"]
    assert sp["reference"] == "other judges" and sp["family"] == "meta"
    assert sp["judge_rate"] > sp["reference_rate"]


def test_unbiased_judges_are_flagged_at_about_the_nominal_rate():
    """20 independent unbiased juries: a 95% CI should exclude the no-bias value about 5% of the time."""
    judges = [SimJudgeSpec("gpt-4o", noise=0.7), SimJudgeSpec("claude-3-haiku", noise=0.7), SimJudgeSpec("llama-3-8b", noise=0.7)]
    checks = flagged = 0
    for seed in range(20):
        report = audit(judge_pairs(make_pairs(150, seed=100 + seed), judges, order="both", seed=seed)).to_dict()
        for e in report["judges"].values():
            for stat, value in NO_BIAS.items():
                if e[stat]["value"] is not None:
                    checks += 1
                    flagged += excludes(e[stat], value)
    assert checks == 20 * 3 * 5
    assert flagged / checks <= 0.10, f"{flagged} of {checks} unbiased statistics flagged"
