"""Judge a trained model against its base: win rate with CI, length-controlled win rate, lengths.

Both models answer the same held-out prompts (greedy decoding); each pair (trained answer as
``a``, base answer as ``b``) goes to ``prefjudge.rank_pairs`` with seeded random display order,
so position bias cannot favour either side. The seeds warn that DPO makes answers longer and
more formal: the result reports the change in mean answer length beside the length-controlled
win rate (AlpacaEval 2's regression, from ``prefjudge.audit``).

Offline example with a simulated jury whose latent quality is a score function::

    from prefjudge.train.evaluation import evaluate, simulated_jury
    with simulated_jury(score=lambda prompt, answer: answer.count("carefully")) as judges:
        result = evaluate("runs/x/merged", "base-model-dir", ["Explain the water cycle."], judges)
    print(result.win_rate, result.mean_length)
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from prefjudge.errors import InputError
from prefjudge.types import clean_model_text

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

    def save(self, out: str | Path) -> Path:
        """Write ``eval.json`` (and the answers inside it) to ``out``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        path = out / "eval.json"
        path.write_text(json.dumps(self.model_dump(), indent=2))
        return path


def _load(model_path: str, dtype: str = "float32"):
    """A causal LM from a merged model dir, or base + adapter when ``model_path`` is an adapter."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter_cfg = Path(model_path) / "adapter_config.json"
    tok = AutoTokenizer.from_pretrained(model_path)
    if adapter_cfg.exists():
        from peft import PeftModel

        base = json.loads(adapter_cfg.read_text())["base_model_name_or_path"]
        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, dtype=getattr(torch, dtype)),
                                          model_path)
    else:
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=getattr(torch, dtype))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return model.eval(), tok


def _render(tok, prompt: str | list[dict], chat_template: str | None) -> str:
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
    if chat_template:
        from prefjudge.train.chat_templates import render_prompt

        return render_prompt(chat_template, messages)
    return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def generate_answers(model_path: str, prompts: list, *, max_new_tokens: int = 64, batch_size: int = 8,
                     chat_template: str | None = None) -> list[str]:
    """Greedy answers of a model (or base + adapter) to ``prompts`` (strings or message lists)."""
    import torch

    model, tok = _load(model_path)
    texts = [_render(tok, p, chat_template) for p in prompts]
    answers: list[str] = []
    for i in range(0, len(texts), batch_size):
        batch = tok(texts[i:i + batch_size], return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        new = out[:, batch["input_ids"].shape[1]:]
        answers.extend(clean_model_text(t).strip() for t in tok.batch_decode(new, skip_special_tokens=True))
    return answers


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
    from prefjudge.audit.ci import wilson

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


def _mean_lengths(trained: list[str], base: list[str]) -> dict[str, float]:
    def mean(xs):
        return sum(xs) / len(xs) if xs else 0.0

    t, b = mean([len(a) for a in trained]), mean([len(a) for a in base])
    return {"trained_chars": t, "base_chars": b, "delta_chars": t - b,
            "trained_words": mean([len(a.split()) for a in trained]),
            "base_words": mean([len(a.split()) for a in base])}


def evaluate(trained: str, base: str, prompts: list, judges: Any, *, order: str = "random", seed: int = 0,
             max_new_tokens: int = 64, chat_template: str | None = None, store: str | None = None) -> EvalResult:
    """Answers of ``trained`` and ``base`` to ``prompts``, judged pairwise by ``judges`` (a Judge,
    a list or a Jury) with seeded random order; win rate of the trained model with a Wilson CI
    (a tie counts 0.5), length-controlled win rate and mean answer lengths."""
    from prefjudge.rank import rank_pairs

    if not prompts:
        raise InputError("no prompts to evaluate on", field="prompts")
    a = generate_answers(trained, prompts, max_new_tokens=max_new_tokens, chat_template=chat_template)
    b = generate_answers(base, prompts, max_new_tokens=max_new_tokens, chat_template=chat_template)
    pairs = [{"id": f"eval-{i}", "prompt": p, "response_a": x, "response_b": y, "model_a": "trained",
              "model_b": "base"} for i, (p, x, y) in enumerate(zip(prompts, a, b))]
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
    return EvalResult(trained=trained, base=base, n_prompts=len(prompts), win_rate=_win_rate(winners),
                      lc_win_rate=lc, outcomes=counts,
                      mean_length=_mean_lengths(a, b), judges=names, answers=answers)


@contextlib.contextmanager
def simulated_jury(score: Callable[[str, str], float] | str, *, seed: int = 0, noise: float = 0.3) -> Iterator[list]:
    """Judges on a loopback ``SimServer`` whose latent quality of an answer is ``score(prompt,
    answer)`` (a callable or a ``"module:function"`` string). SIMULATED: not real LLM verdicts."""
    from prefjudge.judge import Judge
    from prefjudge.testing import SimJudge, SimServer, SimWorld

    jury = [SimJudge(name="gpt-sim", family="openai", noise=noise, position_bias=0.1),
            SimJudge(name="claude-sim", family="anthropic", noise=noise, length_bias=0.3),
            SimJudge(name="llama-sim", family="meta", noise=2 * noise, position_bias=0.05)]
    with SimServer(judges=jury, world=SimWorld(score=score), seed=seed) as server:
        yield [Judge(j.name, base_url=server.base_url, api_key="simulated") for j in jury]
