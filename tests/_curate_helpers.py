"""Hand-built inputs for the curation tests (RankResults with known verdicts, local dataset fixtures)."""

from __future__ import annotations

from typing import Any

from prefjudge.aggregation.jury import majority
from prefjudge.judgments import normalize_judgments
from prefjudge.result import RankResult

LONG_OK = "This answer is long enough to pass the LLM Twin length filter of one hundred characters, and it ends properly."


def make_result(specs: list[dict[str, Any]], meta: dict[str, Any] | None = None) -> RankResult:
    """specs: dicts with id, prompt, a, b, verdicts=[(judge, order, winner)], optional model_a/model_b/system."""
    import pandas as pd

    pairs, calls = [], []
    for s in specs:
        pairs.append({"id": s["id"], "prompt": s["prompt"], "response_a": s["a"], "response_b": s["b"],
                      "system": s.get("system"), "model_a": s.get("model_a"), "model_b": s.get("model_b"),
                      "human": s.get("human"), "identical": s["a"] == s["b"]})
        for judge, order, winner in s.get("verdicts", []):
            calls.append({"pair_id": s["id"], "judge": judge, "order": order, "winner": winner,
                          "prompt": s["prompt"], "response_a": s["a"], "response_b": s["b"]})
    judgments = normalize_judgments(calls) if calls else normalize_judgments([{"pair_id": "x", "judge": "j", "winner": None}]).iloc[:0]
    outcomes = majority(judgments) if len(judgments) else pd.DataFrame(columns=["winner"])
    return RankResult(pd.DataFrame(pairs), judgments, outcomes,
                      meta=meta or {"judges": ["j1", "j2", "j3"], "order": "both", "seed": 0, "template_sha256": {"j1": "abc123"}})


def three_judges(winner: str, n_agree: int = 3) -> list[tuple[str, str, str]]:
    """Verdicts of judges j1..j3 in order 'ab': n_agree of them say `winner`, the rest the other side."""
    other = {"a": "b", "b": "a", "tie": "a"}[winner]
    return [(f"j{k + 1}", "ab", winner if k < n_agree else other) for k in range(3)]
