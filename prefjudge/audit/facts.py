"""What the audit knows about each pair (lengths, lists, families, human label) and each verdict.

Pair facts are computed once per pair from its first row, so text work scales with the number
of pairs, not of judgments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from prefjudge.aggregation.votes import Encoded, Votes, pair_human
from prefjudge.families import infer_family

#: A line that starts, after optional spaces, with ``*``, ``•``, ``-`` or an enumerator (``1.``,
#: ``1)``, ``a.``, ``A)``) followed by a space and text: AlpacaEval's "contains a list". Written
#: with explicit ASCII classes so Python's ``re`` and pyarrow's RE2 (used on Arrow text columns)
#: match exactly the same strings.
LIST_PATTERN = r"^[ \t]*(?:[*\u2022\-]|[0-9]{1,3}[.)]|[A-Za-z][.)])[ \t]+[^ \t\n\r\f\v]"
LIST_LINE = re.compile(LIST_PATTERN, re.M)
_LIST_RE2 = "(?m)" + LIST_PATTERN.replace("\\u2022", "\\x{2022}")
#: P(prefer longer) only counts pairs whose lengths differ by more than this many characters.
LENGTH_MARGIN = 30


def has_list(text: str) -> bool:
    """AlpacaEval's list detector.

    >>> has_list("Steps:\\n1. mix\\n2. bake"), has_list("  * one"), has_list("a - b"), has_list("-5 degrees")
    (True, True, False, False)
    """
    return LIST_LINE.search(text) is not None


@dataclass
class PairFacts:
    len_a: np.ndarray  # float, NaN where the text is missing
    len_b: np.ndarray
    list_a: np.ndarray  # bool (valid where texts known)
    list_b: np.ndarray
    texts_known: np.ndarray  # bool
    model_a: np.ndarray  # object (None where missing)
    model_b: np.ndarray
    fam_a: np.ndarray  # object family name (None where the model is missing)
    fam_b: np.ndarray
    human: np.ndarray  # int8 code
    human_known: np.ndarray  # bool
    instruction: np.ndarray  # int64 code of the prompt text
    n_instructions: int

    @property
    def dlen(self) -> np.ndarray:
        return self.len_a - self.len_b


def _arrow(col: pd.Series):
    """The column's Arrow data when it is Arrow-backed (pandas' default string dtype), else None."""
    arr = getattr(col, "array", None)
    if not hasattr(arr, "__arrow_array__"):
        return None
    import pyarrow as pa

    data = arr.__arrow_array__()
    return data if isinstance(data, pa.ChunkedArray) else pa.chunked_array([data])


def take_rows(col: pd.Series, idx: np.ndarray) -> np.ndarray:
    """``col`` at the sorted row positions ``idx`` as an object array (None for missing).

    Arrow-backed columns are taken chunk by chunk: a plain ``iloc`` on a multi-chunk Arrow text
    column of a million rows costs seconds.
    """
    chunked = _arrow(col)
    if chunked is None:
        out = col.to_numpy(dtype=object)[idx]
    else:
        out = _take_chunked(chunked, idx).to_numpy(zero_copy_only=False).astype(object)
    out[pd.isna(out)] = None
    return out


def _take_chunked(chunked, idx: np.ndarray):
    import pyarrow as pa

    offsets = np.cumsum([0] + [len(c) for c in chunked.chunks])
    parts = []
    for k, chunk in enumerate(chunked.chunks):
        lo, hi = np.searchsorted(idx, [offsets[k], offsets[k + 1]])
        if hi > lo:
            parts.append(chunk.take(pa.array(idx[lo:hi] - offsets[k])))
    return pa.concat_arrays(parts) if parts else pa.array([], type=chunked.type)


def text_stats(col: pd.Series, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(length in characters, NaN when missing; contains a list) of ``col`` at rows ``idx``."""
    chunked = _arrow(col)
    if chunked is not None and str(chunked.type) in ("string", "large_string"):
        import pyarrow.compute as pc

        arr = _take_chunked(chunked, idx)
        length = pc.utf8_length(arr).to_numpy(zero_copy_only=False).astype(float)
        lists = pc.fill_null(pc.match_substring_regex(arr, _LIST_RE2), False).to_numpy(zero_copy_only=False)
        return np.where(np.isnan(length), np.nan, length), lists.astype(bool)
    values = take_rows(col, idx)
    is_text = np.array([isinstance(v, str) for v in values], dtype=bool)
    length = np.array([len(v) if t else np.nan for v, t in zip(values, is_text)], dtype=float)
    lists = np.array([t and LIST_LINE.search(v) is not None for v, t in zip(values, is_text)], dtype=bool)
    return length, lists


def pair_facts(table: pd.DataFrame, enc: Encoded, families: dict[str, str] | None = None) -> PairFacts:
    """Facts of every pair from its first row in ``table`` (and its first non-null human label)."""
    idx = enc.first_row
    len_a, list_a = text_stats(table["response_a"], idx)
    len_b, list_b = text_stats(table["response_b"], idx)
    known = ~np.isnan(len_a) & ~np.isnan(len_b)
    human, human_known = pair_human(table["human"], enc)
    prompts = take_rows(table["prompt"], idx)
    instr, uniq = pd.factorize(np.array([p if isinstance(p, str) or p is None else str(p) for p in prompts], dtype=object))
    model_a, model_b = take_rows(table["model_a"], idx), take_rows(table["model_b"], idx)
    return PairFacts(
        len_a=np.where(known, len_a, np.nan), len_b=np.where(known, len_b, np.nan),
        list_a=list_a & known, list_b=list_b & known, texts_known=known, model_a=model_a, model_b=model_b,
        fam_a=_families(model_a, families), fam_b=_families(model_b, families),
        human=human, human_known=human_known, instruction=instr.astype(np.int64), n_instructions=max(len(uniq), 1),
    )


def _families(models: np.ndarray, families: dict[str, str] | None) -> np.ndarray:
    codes, uniq = pd.factorize(models)
    lookup = np.array([infer_family(str(m), families) for m in uniq] + [None], dtype=object)
    return lookup[codes]


@dataclass
class VerdictView:
    """Verdicts to compute rates on: judge rows (group = judge) or jury outcomes (one group).

    ``cluster`` ties together the verdicts that are not independent (one judge's calls on one pair,
    e.g. both display orders); confidence intervals account for it.
    """

    group: np.ndarray
    n_groups: int
    pair: np.ndarray  # index into PairFacts
    parsed: np.ndarray
    w: np.ndarray  # int8 class code
    order_known: np.ndarray
    first_is_a: np.ndarray
    cluster: np.ndarray  # dense int code per verdict
    n_clusters: int

    @property
    def decisive(self) -> np.ndarray:
        return self.parsed & (self.w != 2)


def judge_view(enc: Encoded, votes: Votes) -> VerdictView:
    """Judge rows, clustered by (pair, judge)."""
    return VerdictView(enc.judge, enc.n_judges, enc.pair, enc.parsed, enc.w, enc.order_known, enc.first_is_a,
                       votes.row_key, len(votes.pair))


def outcome_view(winner: np.ndarray, has: np.ndarray) -> VerdictView:
    """A one-group view of per-pair outcomes (aligned with the pair codes); display order unknown."""
    n = len(winner)
    return VerdictView(np.zeros(n, dtype=np.int64), 1, np.arange(n), has, winner.astype(np.int8),
                       np.zeros(n, dtype=bool), np.zeros(n, dtype=bool), np.arange(n), n)
