"""Plausible text for the simulator: generated answers, judge comparisons, garbled replies.

Every function takes a seeded :class:`random.Random`, so the same seed gives the same text.
Nothing here ever writes a bracketed verdict except :func:`verdict_reply`, on its last line, nor
a score except :func:`rating_reply`, in the score lines of the format asked for.
"""

from __future__ import annotations

import random
import re

_WORDS = (
    "the model data answer question result method system value process example step case "
    "point reason change effect part form level rate order area term rule idea source test "
    "first second simple clear useful common small large main good better important often "
    "usually also then because however therefore while when where which this that these each "
    "every some many most other same different new given known specific general careful "
    "explains shows gives makes uses helps keeps takes finds checks builds compares measures "
    "describes improves reduces increases depends requires means allows follows returns "
    "function variable input output memory time cost error loss training learning layer "
    "network language text word sentence summary list table chart number count sum average "
    "energy water plant light heat cell market price trade history city river mountain"
).split()

_LIST_LEAD = ("Here are the main points:", "In short:", "Key steps:", "To summarise:")

_BETTER = (
    "{W} gives a more complete and accurate answer than {L}.",
    "{W} addresses the question more directly, while {L} drifts off topic.",
    "{L} leaves out details that {W} covers clearly.",
    "{W} is better organised and easier to follow than {L}.",
    "{W} is more helpful overall; {L} is vaguer.",
)
_NEUTRAL = (
    "Neither answer contains an obvious factual error.",
    "Both answers are written clearly.",
    "The difference in length matters less than the content.",
    "Accuracy and completeness decide this comparison.",
    "",
)
_TIE = (
    "Both answers are comparable in accuracy and helpfulness.",
    "{X} and {Y} are about equally good; each has minor gaps.",
    "The two answers cover the same ground with similar quality.",
)
_GARBLED = (
    "Both assistants make reasonable points about the question, and each answer has its own "
    "strengths. It is hard to say more without further context.",
    "I have read the two answers carefully. Each one addresses part of the question.",
    "Let me think about this step by step. The question asks for an explanation, and",
)
_NAMES = {"first": ("Assistant A", "the first answer"), "second": ("Assistant B", "the second answer")}


def _sentence(rng: random.Random, lo: int = 6, hi: int = 14) -> list[str]:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(lo, hi))]
    words[0] = words[0].capitalize()
    words[-1] += "."
    return words


def compose_answer(rng: random.Random, n_words: int, with_list: bool) -> str:
    """An answer of about ``n_words`` words, with a markdown list when ``with_list``."""
    words: list[str] = []
    while len(words) < n_words:
        words.extend(_sentence(rng))
    words = words[: max(n_words, 1)]
    if not words[-1].endswith("."):
        words[-1] += "."
    text = " ".join(words)
    if with_list:
        items = [" ".join(_sentence(rng, 3, 7)) for _ in range(rng.randint(2, 5))]
        marker = rng.choice(("- ", "* ", "1. "))
        lines = [
            (f"{i + 1}. " if marker == "1. " else marker) + item for i, item in enumerate(items)
        ]
        text = text + "\n\n" + rng.choice(_LIST_LEAD) + "\n" + "\n".join(lines)
    return text


def _name(rng: random.Random, side: str) -> str:
    formal, plain = _NAMES[side]
    return formal if rng.random() < 0.6 else plain


def comparison(rng: random.Random, choice: str) -> str:
    """One or two sentences justifying ``choice`` ("first", "second" or "tie"), no brackets."""
    if choice == "tie":
        first = rng.choice(_TIE).format(X=_name(rng, "first"), Y=_name(rng, "second"))
    else:
        loser = "second" if choice == "first" else "first"
        first = rng.choice(_BETTER).format(W=_name(rng, choice), L=_name(rng, loser))
    second = rng.choice(_NEUTRAL)
    text = (first + " " + second).strip()
    return text[0].upper() + text[1:]


_TAG = {"first": "A", "second": "B", "tie": "C"}


def verdict_reply(rng: random.Random, choice: str) -> str:
    """A judge reply: a comparison, then ``[[A]]``/``[[B]]``/``[[C]]`` alone on the last line."""
    return f"{comparison(rng, choice)}\n\n[[{_TAG[choice]}]]"


def garbled_reply(rng: random.Random) -> str:
    """A plausible judge reply that contains no verdict at all."""
    return rng.choice(_GARBLED)


_LIST_LINE = re.compile(r"^[ \t]*(?:[*\u2022\-]|\d{1,3}[.)]|[A-Za-z][.)])[ \t]+\S", re.M)


def has_list(text: str) -> bool:
    """True when a line starts with ``*``, ``•``, ``-`` or an enumerator (``1.``, ``a)``...).

    >>> has_list("intro\\n - one\\n - two"), has_list("1) first"), has_list("no list - here")
    (True, True, False)
    """
    return _LIST_LINE.search(text) is not None


_RATING_NOTES = (
    ("The answer misses the point of the question and contains errors.",
     "Much of the answer is vague or incorrect."),
    ("The answer is partly correct but leaves out important details.",
     "The answer addresses the question only in part."),
    ("The answer is correct and reasonably clear.", "The answer covers the question adequately."),
    ("The answer is accurate, clear and complete.", "The answer is helpful and well organised."),
)


def _note(rng: random.Random, level: float) -> str:
    """A sentence for a score at ``level`` in [0, 1] of the scale (no digits, no brackets)."""
    return rng.choice(_RATING_NOTES[min(int(level * len(_RATING_NOTES)), len(_RATING_NOTES) - 1)])


def rating_reply(rng: random.Random, score: float, aspects: dict[str, float], marker: str,
                 scale: tuple[float, float] = (1, 10)) -> str:
    """A rating judge's reply: an explanation, then ``Rating: [[7]]`` (``marker="brackets"``), or
    ``Feedback: ... [RESULT] 4`` (``"result"``), or one ``Aspect: [[N]]`` line and a rationale per aspect.

    >>> rating_reply(random.Random(0), 7, {}, "brackets").endswith("Rating: [[7]]")
    True
    """
    lo, hi = scale
    level = (score - lo) / (hi - lo) if hi > lo else 0.5
    if aspects:
        lines = []
        for aspect, value in aspects.items():
            label = aspect.replace("_", " ")
            lines += [f"{label[:1].upper()}{label[1:]}: [[{value:g}]]", f"Rationale: {_note(rng, level)}"]
        return "\n".join(lines)
    if marker == "result":
        return f"Feedback: {_note(rng, level)} {_note(rng, level)} [RESULT] {score:g}"
    return f"{_note(rng, level)} {rng.choice(_NEUTRAL)}".strip() + f"\n\nRating: [[{score:g}]]"
