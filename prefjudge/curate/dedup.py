"""Exact and near-duplicate prompts: normalized-text hashing, then MinHash LSH (datasketch).

Near duplicates are candidates from MinHash LSH over character 5-gram shingles, confirmed by the
exact Jaccard similarity of the shingle sets, so the threshold is a real Jaccard threshold (LSH
only decides which rows are compared).

>>> normalize("  Hello,   WORLD! ")
'hello world'
>>> find_duplicates(["What is DPO?", "what is dpo", "Explain LoRA."])
{1: 0}
>>> find_duplicates(["Write a short poem about the sea at night.", "write a SHORT poem about the sea, at night please",
...                  "Write a short poem about the mountains in winter."], near=0.8)
{1: 0}
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from prefjudge.content import prompt_text
from prefjudge.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from prefjudge.curate.report import CurationReport

_PUNCT = re.compile(r"[^\w\s]+")
_SPACE = re.compile(r"\s+")
Keep = Literal["first", "max_margin"]


def normalize(text: str) -> str:
    """Lower case, punctuation removed, runs of whitespace collapsed."""
    return _SPACE.sub(" ", _PUNCT.sub(" ", text.lower())).strip()


def shingles(text: str, k: int = 5) -> set[str]:
    """Character k-grams of the normalized text (the whole text when shorter than k)."""
    t = normalize(text)
    return {t[i : i + k] for i in range(max(1, len(t) - k + 1))}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def find_duplicates(texts: Sequence[str], *, exact: bool = True, near: float | None = None,
                    num_perm: int = 128, seed: int = 1) -> dict[int, int]:
    """Map the index of each duplicate text to the index of the earlier text it duplicates.

    ``exact`` compares normalized texts; ``near`` (a Jaccard threshold in (0, 1]) also removes texts
    whose shingle sets are at least that similar to an earlier kept text.
    """
    if near is not None and not 0 < near <= 1:
        raise InputError(f"near-duplicate threshold must be in (0, 1], not {near}", field="dedup")
    dups: dict[int, int] = {}
    if exact:
        seen: dict[str, int] = {}
        for i, t in enumerate(texts):
            key = hashlib.sha1(normalize(t).encode()).hexdigest()
            if key in seen:
                dups[i] = seen[key]
            else:
                seen[key] = i
    if near is not None:
        dups.update(_near_duplicates(texts, near, set(dups), num_perm, seed))
    return dict(sorted(dups.items()))


def _near_duplicates(texts: Sequence[str], threshold: float, skip: set[int], num_perm: int, seed: int) -> dict[int, int]:
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    kept: dict[int, set[str]] = {}
    out: dict[int, int] = {}
    for i, t in enumerate(texts):
        if i in skip:
            continue
        sh = shingles(t)
        mh = MinHash(num_perm=num_perm, seed=seed)
        mh.update_batch([s.encode() for s in sh])
        match = [j for j in lsh.query(mh) if jaccard(sh, kept[j]) >= threshold]
        if match:
            out[i] = min(match)
            continue
        lsh.insert(i, mh)
        kept[i] = sh
    return out


def deduplicate(df: pd.DataFrame, report: CurationReport, *, exact: bool = True, near: float | None = None,
                keep: Keep = "first") -> pd.DataFrame:
    """Drop rows whose prompt duplicates another row's (exactly, then nearly); one report step each.

    ``keep="max_margin"`` keeps the duplicate with the largest margin instead of the first one.
    """
    if keep not in ("first", "max_margin"):
        raise InputError(f"keep must be 'first' or 'max_margin', not {keep!r}", field="dedup.keep")
    order = _priority(df, keep)
    texts = [prompt_text(df["prompt"].iloc[i]) for i in order]
    if exact:
        dup = find_duplicates(texts, exact=True)
        df = _drop(df, order, dup, report, "dedup:exact", "prompt repeats an earlier prompt (after normalization)")
        order = _priority(df, keep)
        texts = [prompt_text(df["prompt"].iloc[i]) for i in order]
    if near is not None:
        dup = find_duplicates(texts, exact=False, near=near)
        df = _drop(df, order, dup, report, "dedup:near", f"prompt near-duplicates an earlier prompt (Jaccard >= {near})")
    return df


def _priority(df: pd.DataFrame, keep: Keep) -> list[int]:
    idx = list(range(len(df)))
    if keep == "max_margin" and "margin" in df:
        m = [-(x if x is not None and x == x else -1.0) for x in df["margin"]]
        idx.sort(key=lambda i: (m[i], i))
    return idx


def _drop(df: pd.DataFrame, order: list[int], dup: dict[int, int], report: CurationReport, step: str, reason: str) -> pd.DataFrame:
    import pandas as pd

    ids = list(df["id"])
    drop = pd.Series(False, index=range(len(df)))
    why = [reason] * len(df)
    for pos, of in dup.items():
        drop[order[pos]] = True
        why[order[pos]] = f"{reason}: duplicate of {ids[order[of]]}"
    return report.record(step, reason, df, drop, why)
