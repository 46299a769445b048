"""Row filters: the LLM Twin recipe's built-ins and user predicates, each reporting what it removed.

A :class:`Filter` keeps the rows for which ``keep(row)`` is True; ``row`` is a dict with the
working-table fields (``prompt``, ``system``, ``chosen``, ``rejected``, ``margin``, ``model_chosen``...).
Any plain callable ``row -> bool`` is accepted where a Filter is, and named after the function.

>>> f = min_chosen_chars(5)
>>> f.keep({"chosen": "Hello there"}), f.keep({"chosen": "Hi"})
(True, False)
>>> chosen_starts_upper().keep({"chosen": "lower case."})
False
>>> chosen_ends_with().keep({"chosen": "Done!"}), chosen_ends_with().keep({"chosen": "Done,"})
(True, False)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prefjudge.content import prompt_text
from prefjudge.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from prefjudge.curate.report import CurationReport

Predicate = Callable[[dict[str, Any]], bool]


@dataclass(frozen=True)
class Filter:
    """A named row predicate. ``reason`` says, in plain words, why a removed row was removed."""

    name: str
    reason: str
    keep: Predicate


def min_chosen_chars(n: int = 100) -> Filter:
    """Keep pairs whose chosen answer has at least ``n`` characters (LLM Twin: 100)."""
    return Filter("min_chosen_chars", f"chosen answer shorter than {n} characters", lambda r: len(r["chosen"]) >= n)


def chosen_starts_upper(strip: bool = True) -> Filter:
    """Keep pairs whose chosen answer starts with an upper-case letter (LLM Twin format filter)."""

    def keep(r: dict[str, Any]) -> bool:
        text = r["chosen"].lstrip() if strip else r["chosen"]
        return bool(text) and text[0].isupper()

    return Filter("chosen_starts_upper", "chosen answer does not start with an upper-case letter", keep)


def chosen_ends_with(chars: str = ".!?", strip: bool = True) -> Filter:
    """Keep pairs whose chosen answer ends with one of ``chars`` (LLM Twin: ``. ! ?``)."""

    def keep(r: dict[str, Any]) -> bool:
        text = r["chosen"].rstrip() if strip else r["chosen"]
        return bool(text) and text[-1] in chars

    return Filter("chosen_ends_with", f"chosen answer does not end with one of {' '.join(chars)}", keep)


def max_prompt_chars(n: int) -> Filter:
    """Keep pairs whose prompt (as text) has at most ``n`` characters (TRL 1.16 has no max_prompt_length)."""
    return Filter("max_prompt_chars", f"prompt longer than {n} characters", lambda r: len(prompt_text(r["prompt"])) <= n)


def different_answers() -> Filter:
    """Drop pairs whose chosen and rejected answers are the same text (after stripping spaces)."""
    return Filter("different_answers", "chosen and rejected are identical", lambda r: r["chosen"].strip() != r["rejected"].strip())


def complete_sentence_filters(min_chars: int = 100) -> list[Filter]:
    """Chosen answers that read as complete prose: >= ``min_chars`` characters, starting upper-case,
    ending in . ! ? (the LLM Twin recipe's filters)."""
    return [min_chosen_chars(min_chars), chosen_starts_upper(), chosen_ends_with(".!?")]


def llm_twin_filters(min_chars: int = 100) -> list[Filter]:
    """Deprecated name of :func:`complete_sentence_filters`."""
    import warnings

    warnings.warn("llm_twin_filters() is deprecated; use prefjudge.curate.complete_sentence_filters()",
                  DeprecationWarning, stacklevel=2)
    return complete_sentence_filters(min_chars)


def predicate(fn: Predicate, name: str | None = None, reason: str | None = None) -> Filter:
    """Wrap a user function ``row -> bool`` (True keeps the row) as a named Filter."""
    label = name or getattr(fn, "__name__", "predicate")
    return Filter(label, reason or f"rejected by {label}", fn)


#: Built-in filters by name: ``BUILTIN_FILTERS["min_chosen_chars"](100)`` is ``min_chosen_chars(100)``.
BUILTIN_FILTERS: dict[str, Callable[..., Filter]] = {
    "min_chosen_chars": min_chosen_chars,
    "chosen_starts_upper": chosen_starts_upper,
    "chosen_ends_with": chosen_ends_with,
    "max_prompt_chars": max_prompt_chars,
    "different_answers": different_answers,
}


def as_filter(f: Filter | Predicate) -> Filter:
    if isinstance(f, Filter):
        return f
    if callable(f):
        return predicate(f)
    raise InputError(f"a filter must be a Filter or a callable row -> bool, not {type(f).__name__}")


def apply_filters(df: pd.DataFrame, filters: Sequence[Filter | Predicate], report: CurationReport) -> pd.DataFrame:
    """Run each filter in turn; each one is a step of ``report`` (rows removed and why)."""
    for f in map(as_filter, filters):
        df = report.record(f"filter:{f.name}", f.reason, df, _drop_mask(df, f))
    return df


def _drop_mask(df: pd.DataFrame, f: Filter) -> pd.Series:
    import pandas as pd

    drop = []
    for i, row in enumerate(df.to_dict("records")):
        try:
            kept = f.keep(row)
        except Exception as e:  # a user predicate failing on a row: say which row
            raise InputError(f"filter {f.name!r} raised {type(e).__name__}: {e}", row=row.get("id", i)) from e
        if not isinstance(kept, bool) and type(kept).__name__ != "bool_":
            raise InputError(f"filter {f.name!r} returned {kept!r}; it must return True (keep) or False", row=row.get("id", i))
        drop.append(not kept)
    return pd.Series(drop, dtype=bool)
