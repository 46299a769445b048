"""Ratings to preference pairs: UltraFeedback's binarization rules, by hand on small tables."""

from __future__ import annotations

import pandas as pd
import pytest

import prefjudge as pj
from prefjudge.curate.from_ratings import ratings_to_preferences
from prefjudge.curate.rating_result import RatingResult
from prefjudge.errors import InputError


def _result(scores: dict[str, list[tuple[str, float | None]]], judges=("j1",), seed=0) -> RatingResult:
    """A RatingResult: per prompt, answers (text, score); every judge gives the same score unless a
    score is a tuple of per-judge scores."""
    items, ratings = [], []
    for pid, answers in scores.items():
        for k, (text, score) in enumerate(answers):
            rid = f"{pid}#{k}"
            items.append({"id": rid, "prompt_id": pid, "prompt": f"prompt {pid}", "system": None, "response": text,
                          "model": f"m{k}", "reference": None})
            per = score if isinstance(score, tuple) else (score,) * len(judges)
            for j, s in zip(judges, per):
                ratings.append({**items[-1], "judge": j, "judge_family": None, "kind": "llm", "score": s,
                                "aspects": None, "raw": None, "error": None if s is not None else "x", "latency_s": None,
                                "prompt_tokens": None, "completion_tokens": None, "cost_usd": None, "cached": False})
    return RatingResult(ratings=pd.DataFrame(ratings, dtype=object), items=pd.DataFrame(items, dtype=object),
                        meta={"seed": seed, "score": "mean over judges", "scale": [1, 10]})


def test_chosen_is_the_best_and_rejected_the_lowest():
    res = _result({"p": [("mid", 5), ("best", 9), ("worst", 2), ("low", 3)]})
    df = ratings_to_preferences(res)
    assert df[["id", "chosen", "rejected", "margin", "score_chosen", "score_rejected"]].to_dict("records") == [
        {"id": "p", "chosen": "best", "rejected": "worst", "margin": 7.0, "score_chosen": 9.0, "score_rejected": 2.0}]
    assert df.loc[0, "chosen_id"] == "p#1" and df.loc[0, "model_rejected"] == "m2" and df.loc[0, "n_rated"] == 4


def test_random_rejected_is_drawn_among_strictly_lower_answers_seeded():
    res = _result({"p": [("best", 9), ("a", 5), ("b", 3), ("tied-best", 9)]})
    drawn = {ratings_to_preferences(res, rejected="random", seed=s).loc[0, "rejected"] for s in range(40)}
    assert drawn == {"a", "b"}  # never an answer tied with chosen
    chosen = {ratings_to_preferences(res, rejected="random", seed=s).loc[0, "chosen"] for s in range(40)}
    assert chosen == {"best", "tied-best"}  # a tie at the top is broken by a seeded draw
    once = ratings_to_preferences(res, rejected="random", seed=7)
    assert once.equals(ratings_to_preferences(res, rejected="random", seed=7))


def test_ties_unrated_and_margins_are_dropped_and_counted():
    res = _result({"tie": [("x", 6), ("y", 6)], "one": [("only", 8), ("failed", None)],
                   "near": [("a", 6), ("b", 5.5)], "far": [("a", 9), ("b", 1)]})
    df = ratings_to_preferences(res, min_margin=1)
    assert list(df["id"]) == ["far"]
    assert df.attrs["dropped"] == {"unrated": 1, "fewer_than_two": 1, "ties": 1, "min_margin": 1}
    assert list(ratings_to_preferences(res)["id"]) == ["near", "far"]
    with pytest.raises(InputError, match="rejected"):
        ratings_to_preferences(res, rejected="worst")  # type: ignore[arg-type]


def test_scores_are_means_over_judges_and_agreement_counts_judges():
    res = _result({"p": [("a", (9, 4, 8)), ("b", (5, 6, 5)), ("c", (1, 2, None))]}, judges=("j1", "j2", "j3"))
    assert res.scores["score"].tolist() == [7.0, pytest.approx(16 / 3), 1.5]
    assert res.scores["n_judges"].tolist() == [3, 3, 2] and res.scores["n_failed"].tolist() == [0, 0, 1]
    df = ratings_to_preferences(res)
    assert (df.loc[0, "chosen"], df.loc[0, "rejected"]) == ("a", "c")
    assert df.loc[0, "agreement"] == 1.0 and df.loc[0, "judges"] == ["j1", "j2"]  # j3 did not rate c
    df = ratings_to_preferences(res, rejected="random", seed=3)
    if df.loc[0, "rejected"] == "b":
        assert df.loc[0, "agreement"] == pytest.approx(2 / 3) and df.loc[0, "judges"] == ["j1", "j2", "j3"]


def test_to_preferences_takes_a_rating_result():
    res = _result({"p1": [("good answer", 8), ("bad answer", 2)], "p2": [("fine", 6), ("meh", 5)]}, seed=0)
    prefs = pj.to_preferences(res, min_margin=2)
    assert len(prefs) == 1 and prefs[0]["chosen"] == "good answer" and prefs[0]["margin"] == 6.0
    assert [s.removed for s in prefs.report.steps if s.step == "min_margin"] == [1]  # p2: a gap of 1
    assert prefs.provenance["seed"] == 0 and "score_chosen" in prefs.column_names
    table = ratings_to_preferences(res, rejected="random", seed=1)
    assert len(pj.to_preferences(table)) == 2  # the table is a preference table as it is
