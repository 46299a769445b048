"""Verdict parser speed: prefjudge.judging.parsing vs the pre-hardening parse_verdict (kept below as the baseline).

Judge replies of 10 KB, 100 KB and 1 MB, each with two answers of a tenth of its size, of three kinds:

- random       words, with a verdict token now and then; the answers are other random words
- adversarial  verdict tokens in every format, keywords followed by long whitespace runs, near-copies
               of the answers (their verdict strings with one character changed), blockquotes, quotes
- no-brackets  the adversarial reply with every "[[" changed to "((" (the old parser reads phrases only
               when it finds no bracket token, so only here does its phrase pattern meet the runs)
- ws-run       one keyword followed by a single whitespace run the size of the reply (the ReDoS input)

parse_json_verdict gets a JSON reply of the same size (its "comparison" holds the same text; the
answers hold near-copies of the JSON). The new parsers take the best of 3 runs. The old parser runs
in a child process stopped after --old-limit seconds (it is polynomial in whitespace runs: n^4.6), and
only on sizes up to --old-max-size.

    .venv/bin/python bench/bench_parse.py [--sizes 10000 100000 1000000] [--old-limit 10]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prefjudge.judging.parsing import parse_json_verdict, parse_verdict  # noqa: E402

# ------------------------------------------------------------------ baseline: the old parse_verdict, verbatim
_OLD_BRACKET = re.compile(r"\[\[\s*([ABC])\s*\]\]")
_OLD_PHRASE = re.compile(
    r"(?:final\s+verdict|verdict|better\s+(?:answer|response)|best\s+(?:answer|response)|winner)"
    r"\s*(?:is|:)?\s*[:\-]?\s*\**\s*(?:assistant\s+)?\[?\(?\s*([ABC]|tie)\b\s*\)?\]?",
    re.I,
)
_OLD_CHOICE = {"A": "first", "B": "second", "C": "tie", "TIE": "tie"}
_OLD_MIN_SPAN = 16


def _old_is_quoted(text: str, start: int, end: int, answers: Sequence[str]) -> bool:
    for answer in answers:
        if text[start:end] not in answer:
            continue
        for lo in range(start, max(-1, start - _OLD_MIN_SPAN - 1), -1):
            if text[lo:end] not in answer:
                break
            hi = end
            while hi < len(text) and hi - lo < _OLD_MIN_SPAN and text[lo:hi + 1] in answer:
                hi += 1
            if hi - lo >= _OLD_MIN_SPAN:
                return True
    return False


def _old_last_unquoted(pattern: re.Pattern, text: str, answers: Sequence[str]) -> str | None:
    found = None
    for m in pattern.finditer(text):
        if not _old_is_quoted(text, m.start(), m.end(), answers):
            found = m.group(1).upper()
    return found


def old_parse_verdict(text: str, answers: Sequence[str] = ()) -> str | None:
    choice = _old_last_unquoted(_OLD_BRACKET, text, answers) or _old_last_unquoted(_OLD_PHRASE, text, answers)
    return None if choice is None else _OLD_CHOICE[choice]


# ------------------------------------------------------------------ inputs
WORDS = ("the answer is clear and complete but the other one misses a step in the proof so I "
         "prefer it overall because it explains why").split()
TOKENS = ["[[A]]", "[[B]]", "[[C]]", "[[b]]", "Final verdict: A", "The winner is a tie", "Best answer: B",
          "**Verdict:** [[B]]", "> [[A]]", '"[[B]]"', "`[[C]]`", "verdict is a", "winner: (b)"]


def _fill(rng: random.Random, size: int, token_rate: float) -> str:
    out, n = [], 0
    while n < size:
        w = rng.choice(TOKENS) if rng.random() < token_rate else rng.choice(WORDS)
        out.append(w)
        n += len(w) + 1
    return " ".join(out)[:size]


def _adversarial(rng: random.Random, size: int) -> str:
    parts, n = [], 0
    while n < size:
        kind = rng.randrange(5)
        if kind == 0:
            p = rng.choice(["Final verdict:", "Verdict:", "The winner is", "best answer", "[["]) + rng.choice(
                [" ", "\n", " \t", "*"]) * rng.randrange(50, 2000) + rng.choice([".", "x", ""])
        elif kind == 1:
            p = " ".join(rng.choice(TOKENS) for _ in range(rng.randrange(5, 50)))
        elif kind == 2:
            p = "> " + rng.choice(TOKENS) + "\n"
        elif kind == 3:
            p = '"' + _fill(rng, rng.randrange(20, 200), 0.3) + '"'
        else:
            p = _fill(rng, rng.randrange(50, 500), 0.05) + "\n"
        parts.append(p)
        n += len(p)
    return "".join(parts)[:size]


def _near_copy(rng: random.Random, text: str) -> str:
    """The text with one character changed every 40 (the old parser's worst case for quote search)."""
    chars = list(text)
    for i in range(0, len(chars), 40):
        chars[i] = rng.choice("xyz ")
    return "".join(chars)


def make_inputs(kind: str, size: int, seed: int = 0) -> tuple[str, tuple[str, str], str]:
    """(reply, answers, json_reply) of ``kind`` and ``size`` characters."""
    rng = random.Random(f"{kind}-{size}-{seed}")
    if kind == "random":
        reply = _fill(rng, size, 0.002) + "\n[[A]]"
        answers = (_fill(rng, size // 10, 0.002), _fill(rng, size // 10, 0.002))
    elif kind in ("adversarial", "no-brackets"):
        reply = _adversarial(rng, size)
        if kind == "no-brackets":
            reply = reply.replace("[[", "((")
        answers = (_near_copy(rng, reply[: size // 10]), reply[size // 3: size // 3 + size // 10])
    else:
        reply = "Final verdict:" + " " * size + "."
        answers = (" " * (size // 10), "Final verdict: " + " " * (size // 10))
    body = json.dumps({"comparison": reply, "verdict": "B"})
    answers_json = (answers[0] + _near_copy(rng, body[: size // 10]), answers[1])
    return reply, answers_json, body


# ------------------------------------------------------------------ timing
def best_of(fn, *args, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - t)
    return best


def _old_child(kind: str, size: int, queue) -> None:
    reply, answers, _ = make_inputs(kind, size)
    t = time.perf_counter()
    old_parse_verdict(reply, answers)
    queue.put(time.perf_counter() - t)


def time_old(kind: str, size: int, limit: float) -> float | None:
    """Seconds the old parser takes, or None when stopped after ``limit`` seconds."""
    queue: mp.Queue = mp.Queue()
    proc = mp.Process(target=_old_child, args=(kind, size, queue), daemon=True)
    proc.start()
    proc.join(limit)
    if proc.is_alive():
        proc.terminate()
        proc.join()
        return None
    return queue.get() if not queue.empty() else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--kinds", nargs="+", default=["random", "adversarial", "no-brackets", "ws-run"])
    ap.add_argument("--old-limit", type=float, default=10.0, help="seconds before the old parser is stopped")
    ap.add_argument("--old-max-size", type=int, default=10_000, help="largest reply the old parser is given")
    args = ap.parse_args()

    print(f"{'input':<12} {'reply':>9} {'answers':>9} {'parse_verdict':>14} {'parse_json':>11} {'old parse_verdict':>18}")
    for kind in args.kinds:
        for size in args.sizes:
            reply, answers, body = make_inputs(kind, size)
            new = best_of(parse_verdict, reply, answers)
            js = best_of(parse_json_verdict, body, answers)
            if size <= args.old_max_size:
                old_s = time_old(kind, size, args.old_limit)
                old = f"{old_s * 1000:.1f} ms" if old_s is not None else f"> {args.old_limit:g} s (stopped)"
            else:
                old = "not run"
            print(f"{kind:<12} {len(reply):>9,} {len(answers[0]) + len(answers[1]):>9,} "
                  f"{new * 1000:>11.1f} ms {js * 1000:>8.1f} ms {old:>18}")


if __name__ == "__main__":
    main()
