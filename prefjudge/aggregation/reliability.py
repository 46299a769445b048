"""Each judge's estimated accuracy (from a jury rule) beside its measured agreement with the human labels.

>>> import pandas as pd
>>> t = pd.DataFrame({"pair_id": ["p", "p", "q", "q"], "judge": ["A", "B", "A", "B"],
...                   "winner": ["a", "b", "b", "b"], "human": ["a", "a", None, None]})
>>> table = reliability_table({"A": {"accuracy": 0.9, "weight": None, "source": "x"}}, t)
>>> table[["judge", "estimated_accuracy", "human_agreement", "n_labelled"]]
  judge  estimated_accuracy  human_agreement  n_labelled
0     A                 0.9              1.0           1
1     B                 NaN              0.0           1
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = ("judge", "estimated_accuracy", "weight", "source", "human_agreement", "n_labelled", "difference")


def reliability_table(source: Any, judgments: Any = None) -> pd.DataFrame:
    """One row per judge: the rule's label-free estimate next to what the human labels measure.

    ``source``: a :class:`~prefjudge.result.RankResult` (its ``meta["judge_reliability"]`` and, unless
    ``judgments`` is given, its ``judgments``), an outcomes frame (its ``attrs["judge_reliability"]``)
    or the reliability dict itself (judge -> {"accuracy", "weight", "source", ...}).

    Columns: ``judge``, ``estimated_accuracy`` (NaN when the rule estimates none, e.g. "majority"),
    ``weight``, ``source``, ``human_agreement`` (share of the judge's parsed calls on human-labelled
    pairs equal to the label, a tie its own class: the audit's ``human_agreement``; NaN without
    labels), ``n_labelled`` (those calls) and ``difference`` (estimated minus measured). A judge is
    listed when it is in the reliability dict or in the judgments.
    """
    import numpy as np
    import pandas as pd

    from prefjudge.aggregation.jury import normalize
    from prefjudge.aggregation.votes import encode, pair_human

    rel = _reliability_of(source)
    if judgments is None and hasattr(source, "judgments") and hasattr(source, "meta"):
        judgments = source.judgments
    names = list(rel)
    measured: dict[str, tuple[float, int]] = {}
    if judgments is not None:
        table = normalize(judgments)
        if not table.empty:
            enc = encode(table)
            human, known = pair_human(table["human"], enc)
            rows = enc.parsed & known[enc.pair]
            hit = rows & (enc.w == human[enc.pair])
            n = np.bincount(enc.judge[rows], minlength=enc.n_judges)
            k = np.bincount(enc.judge[hit], minlength=enc.n_judges)
            for code, name in enumerate(enc.judges):
                measured[name] = (float(k[code] / n[code]) if n[code] else float("nan"), int(n[code]))
                if name not in rel:
                    names.append(name)
    out = []
    for name in names:
        r = rel.get(name) or {}
        est = r.get("accuracy")
        agree, n_lab = measured.get(name, (float("nan"), 0))
        est_f = float(est) if est is not None else float("nan")
        out.append({"judge": name, "estimated_accuracy": est_f, "weight": r.get("weight"), "source": r.get("source"),
                    "human_agreement": agree, "n_labelled": n_lab, "difference": est_f - agree})
    return pd.DataFrame(out, columns=list(COLUMNS))


def _reliability_of(source: Any) -> dict[str, dict[str, Any]]:
    if source is None:
        return {}
    if isinstance(source, dict):
        return source
    meta = getattr(source, "meta", None)
    if isinstance(meta, dict):
        return meta.get("judge_reliability") or {}
    attrs = getattr(source, "attrs", None)
    if isinstance(attrs, dict):
        return attrs.get("judge_reliability") or {}
    from prefjudge.errors import InputError

    raise InputError(f"reliability_table takes a RankResult, an outcomes DataFrame or a dict, not {type(source).__name__}",
                     field="source")
