"""What the audit knows about each pair (lengths, lists, families, human label) and each verdict.

Pair facts are computed once per pair from its first row, so text work scales with the number
of pairs, not of judgments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..families import infer_family
from ..votes import Encoded, Votes, pair_human

#: A line that starts, after optional spaces, with ``*``, ``•``, ``-`` or an enumerator (``1.``,
#: ``1)``, ``a.``, ``A)``) followed by a space and text: AlpacaEval's "contains a list".
LIST_LINE = re.compile(r"^[ \t]*(?:[*\u2022\-]|\d{1,3}[.)]|[A-Za-z][.)])[ \t]+\S", re.M)
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


def _texts(col: pd.Series) -> pd.Series:
    return col.where(col.map(lambda v: isinstance(v, str)), None)


def pair_facts(table: pd.DataFrame, enc: Encoded, families: dict[str, str] | None = None) -> PairFacts:
    """Facts of every pair from its first row in ``table`` (and its first non-null human label)."""
    first = table.iloc[enc.first_row]
    ra, rb = _texts(first["response_a"]), _texts(first["response_b"])
    known = (ra.notna() & rb.notna()).to_numpy()
    len_a = ra.str.len().to_numpy(dtype=float, na_value=np.nan)
    len_b = rb.str.len().to_numpy(dtype=float, na_value=np.nan)
    list_a = ra.fillna("").str.contains(LIST_LINE).to_numpy(dtype=bool)
    list_b = rb.fillna("").str.contains(LIST_LINE).to_numpy(dtype=bool)
    human, human_known = pair_human(table["human"].to_numpy(dtype=object), enc)
    instr, uniq = pd.factorize(first["prompt"].map(lambda p: p if isinstance(p, str) else str(p)))
    return PairFacts(
        len_a=np.where(known, len_a, np.nan), len_b=np.where(known, len_b, np.nan),
        list_a=list_a, list_b=list_b, texts_known=known,
        model_a=_models(first["model_a"]), model_b=_models(first["model_b"]),
        fam_a=_families(first["model_a"], families), fam_b=_families(first["model_b"], families),
        human=human, human_known=human_known, instruction=instr.astype(np.int64), n_instructions=max(len(uniq), 1),
    )


def _models(col: pd.Series) -> np.ndarray:
    out = col.to_numpy(dtype=object).copy()
    out[pd.isna(out)] = None
    return out


def _families(col: pd.Series, families: dict[str, str] | None) -> np.ndarray:
    codes, models = pd.factorize(col)
    lookup = np.array([infer_family(str(m), families) for m in models] + [None], dtype=object)
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
