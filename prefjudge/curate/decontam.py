"""Decontamination: drop pairs that share an n-gram (13 words by default) with benchmark texts.

Texts are lower-cased and split into words (``\\w+``). A benchmark text shorter than ``n`` words
(but at least ``min_tokens``) is matched as a whole: its full word sequence must appear in the row.

>>> idx = NgramIndex({"gsm8k": ["Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May."]}, n=13)
>>> idx.match("Q: natalia sold clips to 48 of her friends in april and then she sold half as many")[0]
'gsm8k'
>>> idx.match("Natalia sold clips to her friends.") is None
True
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from prefjudge.content import prompt_text
from prefjudge.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from prefjudge.curate.report import CurationReport

_WORD = re.compile(r"\w+")
Benchmarks = Mapping[str, Iterable[str]] | Sequence[str]


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class NgramIndex:
    """All n-grams of the benchmark texts, with the benchmark each came from."""

    def __init__(self, benchmarks: Benchmarks, n: int = 13, min_tokens: int = 8):
        if n < 1:
            raise InputError(f"n must be at least 1, not {n}", field="decontaminate.n")
        self.n = n
        self.grams: dict[int, dict[tuple[str, ...], str]] = {}
        self.n_texts = 0
        self.skipped = 0
        for name, text in _named_texts(benchmarks):
            self._add(name, words(text), min_tokens)

    def _add(self, name: str, toks: list[str], min_tokens: int) -> None:
        self.n_texts += 1
        if len(toks) < min(self.n, min_tokens):
            self.skipped += 1
            return
        size = min(self.n, len(toks))
        table = self.grams.setdefault(size, {})
        for i in range(len(toks) - size + 1):
            table.setdefault(tuple(toks[i : i + size]), name)

    def match(self, text: str) -> tuple[str, str] | None:
        """(benchmark name, the shared n-gram) for the first shared n-gram in ``text``, else None."""
        toks = words(text)
        for size, table in self.grams.items():
            for i in range(len(toks) - size + 1):
                gram = tuple(toks[i : i + size])
                if gram in table:
                    return table[gram], " ".join(gram)
        return None


def _named_texts(benchmarks: Benchmarks) -> Iterable[tuple[str, str]]:
    if isinstance(benchmarks, str):
        raise InputError("benchmarks must be a list of texts or a {name: texts} mapping, not one string", field="decontaminate")
    items = benchmarks.items() if isinstance(benchmarks, Mapping) else [("benchmark", benchmarks)]
    for name, texts in items:
        if isinstance(texts, str):
            texts = [texts]
        for j, t in enumerate(texts):
            if not isinstance(t, str):
                raise InputError(f"benchmark texts must be strings, got {type(t).__name__}", row=j, field=f"decontaminate[{name}]")
            yield name, t


def decontaminate(df: pd.DataFrame, report: CurationReport, benchmarks: Benchmarks | NgramIndex, *, n: int = 13,
                  fields: Sequence[str] = ("prompt", "chosen", "rejected")) -> pd.DataFrame:
    """Drop rows whose ``fields`` share an n-gram with any benchmark text (one report step)."""
    import pandas as pd

    idx = benchmarks if isinstance(benchmarks, NgramIndex) else NgramIndex(benchmarks, n=n)
    bad = [f for f in fields if f not in ("prompt", "chosen", "rejected", "system")]
    if bad:
        raise InputError(f"decontamination fields must be prompt, chosen, rejected or system, not {bad}", field="decontaminate.fields")
    why, drop = [], []
    for row in df.to_dict("records"):
        hit = _row_hit(row, idx, fields)
        drop.append(hit is not None)
        why.append("" if hit is None else f"{hit[0]} overlap in {hit[2]}: '{hit[1]}'")
    reason = f"shares a {idx.n}-gram with benchmark texts"
    details = {"n": idx.n, "benchmark_texts": idx.n_texts, "benchmark_texts_too_short": idx.skipped}
    return report.record("decontaminate", reason, df, pd.Series(drop, dtype=bool), why, **details)


def _row_hit(row: dict[str, Any], idx: NgramIndex, fields: Sequence[str]) -> tuple[str, str, str] | None:
    for f in fields:
        value = row.get(f)
        if value is None:
            continue
        hit = idx.match(prompt_text(value) if f == "prompt" else value)
        if hit:
            return hit[0], hit[1], f
    return None
