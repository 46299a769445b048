"""Benchmark: how much of the judges' prompt tokens a provider's prompt cache can serve.

    /work/main/.venv/bin/python bench/bench_cache.py --prompts 200

Providers cache the longest prefix a request shares with a recent one (OpenAI: automatically, for
prompts of >= 1024 tokens, in 128-token steps; Anthropic: up to an explicit cache marker). prefjudge's
templates put what calls share first: the system instructions (the same for every call of a judge),
then the question (the same for every pair of one prompt and for both orders), then the answers.
This script renders the real messages of a run (prefjudge's own Judge.render, the built-in
`pairwise` template) and counts, call by call in the order a run sends them, the prefix each shares
with an earlier call of the same judge. Tokens are counted as characters / 4 (no tokenizer here).

Runs measured: `order="both"` over pairs (the second order shares system + question), and a
rank_responses-style full round over N candidates per prompt (every pair of one prompt shares
system + question). Baseline in the same run: the same messages with the question placed after the
answers (what a template that leads with the answers would give).
"""

from __future__ import annotations

import argparse
import itertools
import random

from prefjudge.judging.judge import Judge
from prefjudge.types import Pair

WORDS = "the model answer data value because therefore while result explain step example first second".split()


def _text(rng: random.Random, n_tokens: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(int(n_tokens * 0.75)))  # ~4 chars per token


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _flat(messages: list[dict]) -> str:
    return "".join(f"<{m['role']}>{m['content']}" for m in messages)


def measure(calls: list[str], min_tokens: int = 0, step: int = 1) -> tuple[int, int]:
    """(cacheable prompt tokens, all prompt tokens) over ``calls`` sent in this order."""
    seen: list[str] = []
    cached = total = 0
    for text in calls:
        total += _tokens(text)
        best = max((_prefix(text, s) for s in seen[-64:]), default=0)  # a recent-calls window, like a provider's cache
        tok = best // 4
        if _tokens(text) >= min_tokens:
            cached += (tok // step) * step
        seen.append(text)
    return cached, total


def run(n_prompts: int, n_candidates: int, seed: int) -> list[tuple[str, str, float, float]]:
    rng = random.Random(seed)
    judge = Judge("bench-judge", base_url="http://127.0.0.1:9/v1", api_key="x")
    prompts = [(_text(rng, rng.randint(40, 400)), [_text(rng, rng.randint(150, 600)) for _ in range(n_candidates)])
               for _ in range(n_prompts)]
    both, both_late, rounds, rounds_late = [], [], [], []
    for q, answers in prompts:
        pair = Pair(id="p", prompt=q, response_a=answers[0], response_b=answers[1])
        for order in ("ab", "ba"):
            msgs = judge.render(pair, order)
            both.append(_flat(msgs))
            both_late.append(_late(msgs, q))
        for i, j in itertools.combinations(range(n_candidates), 2):
            msgs = judge.render(Pair(id="p", prompt=q, response_a=answers[i], response_b=answers[j]), "ab")
            rounds.append(_flat(msgs))
            rounds_late.append(_late(msgs, q))
    rows = []
    for name, calls, late in (("order=both", both, both_late), (f"full round, N={n_candidates}", rounds, rounds_late)):
        for label, kwargs in (("any shared prefix", {}), ("OpenAI rule (>=1024 tok, 128 steps)", {"min_tokens": 1024, "step": 128})):
            c, t = measure(calls, **kwargs)
            cl, tl = measure(late, **kwargs)
            rows.append((name, label, c / t, cl / tl))
    return rows


def _late(messages: list[dict], question: str) -> str:
    """The baseline: the same call with the question moved after the answers."""
    out = []
    for m in messages:
        content = m["content"]
        if m["role"] == "user" and question in content:
            content = content.replace(question, "", 1) + "\n" + question
        out.append({"role": m["role"], "content": content})
    return _flat(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=200)
    ap.add_argument("--candidates", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(f"{args.prompts} prompts (40-400 tokens), answers 150-600 tokens, {args.candidates} candidates per prompt")
    print(f"{'run':<22} {'counting':<38} {'prefjudge order':>16} {'question last':>14}")
    for name, label, share, late in run(args.prompts, args.candidates, args.seed):
        print(f"{name:<22} {label:<38} {share:>15.1%} {late:>14.1%}")


if __name__ == "__main__":
    main()
