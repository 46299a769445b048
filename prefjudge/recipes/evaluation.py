"""Judge a trained model against its base: win rate with CI, length-controlled win rate, lengths.

Both models answer the same held-out prompts (greedy decoding, or ``samples`` seeded samples per
prompt at ``temperature``: the win rate of the models' answer distributions); each pair (trained answer as
``a``, base answer as ``b``) goes to ``prefjudge.rank_pairs`` with seeded random display order,
so position bias cannot favour either side. The seeds warn that DPO makes answers longer and
more formal: the result reports the change in mean answer length beside the length-controlled
win rate (AlpacaEval 2's regression, from ``prefjudge.audit``).

Offline example with a simulated jury whose latent quality is a score function::

    from prefjudge.recipes.evaluation import evaluate
    from prefjudge.testing import simulated_jury
    with simulated_jury(score=lambda prompt, answer: answer.count("carefully")) as judges:
        result = evaluate("runs/x/merged", "base-model-dir", ["Explain the water cycle."], judges)
    print(result.win_rate, result.mean_length)
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from prefjudge.errors import InputError
from prefjudge.train.generation import generate_answers

SCORE = {"a": 1.0, "tie": 0.5, "b": 0.0}


class EvalResult(BaseModel):
    """Trained (``a``) vs base (``b``): every rate is ``{value, ci, n}`` (value None + reason)."""

    model_config = ConfigDict(extra="forbid")
    trained: str
    base: str
    n_prompts: int
    win_rate: dict[str, Any]
    lc_win_rate: dict[str, Any]
    outcomes: dict[str, int]
    mean_length: dict[str, float]
    judges: list[str]
    answers: list[dict[str, Any]]
    simulated: dict[str, Any] | None = None
    """The SIMULATED marker (:mod:`prefjudge.simulated`) when the judges were simulated, else None."""
    inference: dict[str, Any] | None = None
    """How both models were loaded to answer (:func:`prefjudge.train.runtime.plan_inference`)."""
    decoding: dict[str, Any] | None = None
    """How both models answered: ``{"temperature", "samples", "seed"}`` (temperature 0: greedy)."""

    def save(self, out: str | Path) -> Path:
        """Write ``eval.json`` (and the answers inside it) to ``out``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        path = out / "eval.json"
        data = self.model_dump()
        path.write_text(json.dumps({"simulated": data.pop("simulated"), **data}, indent=2))  # the mark first
        return path


def _winners(result) -> list[str | None]:
    """Per pair: a, b or tie; identical answers (never sent to a judge) are ties; None = failed."""
    outcome = dict(zip(result.outcomes.index, result.outcomes["winner"])) if len(result.outcomes) else {}
    out = []
    for pid, identical in zip(result.pairs["id"], result.pairs["identical"]):
        w = outcome.get(pid)
        out.append("tie" if identical else (str(w) if isinstance(w, str) else None))
    return out


def _empty_winner(pair: dict[str, Any]) -> str:
    """An empty answer (a model that stops at once) is not sent to the judges: it loses to any
    non-empty answer, and two empty answers tie (counted in ``outcomes['empty_answer']``)."""
    a, b = bool(pair["response_a"].strip()), bool(pair["response_b"].strip())
    return "tie" if a == b else ("a" if a else "b")


def _win_rate(winners: list[str | None]) -> dict[str, Any]:
    from prefjudge.stats.intervals import wilson

    scores = [SCORE[w] for w in winners if w in SCORE]
    if not scores:
        return {"value": None, "ci": None, "n": 0, "reason": "no pair got a verdict"}
    lo, hi = wilson(sum(scores), len(scores))
    return {"value": sum(scores) / len(scores), "ci": [lo, hi], "n": len(scores), "reason": None}


def _lc_win_rate(result) -> dict[str, Any]:
    try:
        from prefjudge.audit import audit
    except ImportError:
        return {"value": None, "ci": None, "n": 0, "reason": "prefjudge.audit is not available"}
    if result.judgments.empty:
        return {"value": None, "ci": None, "n": 0, "reason": "no judge call was made (identical answers are ties)"}
    models = audit(result).to_dict().get("generators", {}).get("models", {})
    entry = models.get("trained")
    if entry is None:
        return {"value": None, "ci": None, "n": 0, "reason": "no decided pair between the two models"}
    return dict(entry["lc_win_rate"])


def _simulated(result, judges: Any) -> dict[str, Any] | None:
    """The SIMULATED marker of the judging (also when every pair was decided without a call)."""
    from prefjudge.simulated import from_meta

    if result is not None:
        return from_meta(result.meta)
    listed = judges.judges if hasattr(judges, "judges") else judges if isinstance(judges, list) else [judges]
    return from_meta({"judges": [{"name": j.name, "model": getattr(j, "model", None), "base_url": getattr(j, "base_url", None)}
                                 for j in listed]})  # a reward model has no endpoint


def _mean_lengths(trained: list[str], base: list[str]) -> dict[str, float]:
    def mean(xs):
        return sum(xs) / len(xs) if xs else 0.0

    t, b = mean([len(a) for a in trained]), mean([len(a) for a in base])
    return {"trained_chars": t, "base_chars": b, "delta_chars": t - b,
            "trained_words": mean([len(a.split()) for a in trained]),
            "base_words": mean([len(a.split()) for a in base])}


def evaluate(trained: str, base: str, prompts: list, judges: Any, *, order: str = "random", seed: int = 0,
             max_new_tokens: int = 64, chat_template: str | None = None, store: str | None = None,
             device: str = "auto", quantization: str = "none", batch_size: int = 8,
             update_card: bool = True, temperature: float = 0.0, samples: int = 1) -> EvalResult:
    """Answers of ``trained`` and ``base`` to ``prompts``, judged pairwise by ``judges`` (a Judge,
    a list or a Jury) with seeded random order; win rate of the trained model with a Wilson CI
    (a tie counts 0.5), length-controlled win rate and mean answer lengths.

    Both models are loaded one after the other with the policy of training and merging
    (:func:`prefjudge.train.runtime.plan_inference`: bf16, or 4-bit with ``quantization="4bit"``, on
    a GPU; float32 on the CPU) and answer in batches of ``batch_size``: greedily, or, with
    ``temperature`` > 0, ``samples`` answers per prompt drawn with the same seeded random numbers
    for both models (each sample is one pair; ``n`` of the rates counts pairs). With
    ``update_card`` the result goes into the trained folder's model card when prefjudge wrote that card."""
    from prefjudge.judging.rank_pairs import rank_pairs
    from prefjudge.train.runtime import current_inference_plan

    if not prompts:
        raise InputError("no prompts to evaluate on", field="prompts")
    if temperature < 0:
        raise InputError(f"temperature must be >= 0, got {temperature}", field="temperature")
    if samples < 1:
        raise InputError(f"samples must be >= 1, got {samples}", field="samples")
    if samples > 1 and temperature == 0:
        raise InputError(f"samples={samples}: more than one answer per prompt needs temperature > 0 "
                         "(greedy answers repeat)", field="samples")
    plan = current_inference_plan(device, quantization)
    asked = [p for p in prompts for _ in range(samples)]
    ids = [f"eval-{i}" if samples == 1 else f"eval-{i}-{k}" for i in range(len(prompts)) for k in range(samples)]
    decode = {"max_new_tokens": max_new_tokens, "chat_template": chat_template, "batch_size": batch_size,
              "plan": plan, "temperature": temperature, "seed": seed}
    a = generate_answers(trained, asked, **decode)
    b = generate_answers(base, asked, **decode)
    pairs = [{"id": pid, "prompt": p, "response_a": x, "response_b": y, "model_a": "trained",
              "model_b": "base"} for pid, p, x, y in zip(ids, asked, a, b)]
    judged = [p for p in pairs if p["response_a"].strip() and p["response_b"].strip()]
    result = rank_pairs(judged, judges=judges, order=order, seed=seed, store=store) if judged else None
    decided = dict(zip([p["id"] for p in judged], _winners(result))) if result is not None else {}
    winners = [decided[p["id"]] if p["id"] in decided else _empty_winner(p) for p in pairs]
    counts = {k: winners.count(k) for k in ("a", "b", "tie")}
    counts["failed"] = sum(w not in SCORE for w in winners)
    counts["empty_answer"] = len(pairs) - len(judged)
    names = [j.name for j in (judges.judges if hasattr(judges, "judges") else
                              judges if isinstance(judges, list) else [judges])]
    answers = [{"prompt": p["prompt"], "trained": p["response_a"], "base": p["response_b"], "winner": w}
               for p, w in zip(pairs, winners)]
    lc = _lc_win_rate(result) if result is not None else {"value": None, "ci": None, "n": 0,
                                                           "reason": "every pair had an empty answer"}
    evaluation = EvalResult(trained=trained, base=base, n_prompts=len(prompts), win_rate=_win_rate(winners),
                            lc_win_rate=lc, outcomes=counts,
                            mean_length=_mean_lengths(a, b), judges=names, answers=answers,
                            simulated=_simulated(result, judges), inference=dataclasses.asdict(plan),
                            decoding={"temperature": temperature, "samples": samples, "seed": seed})
    if update_card:
        from prefjudge.train.card import add_evaluation

        add_evaluation(trained, evaluation.model_dump(exclude={"answers"}))
    return evaluation
