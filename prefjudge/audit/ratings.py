"""The audit of single-answer ratings: a ratings table in, numbers out (pure: never calls a judge).

Per judge (rows of ``RatingResult.ratings``: ``id``, ``response``, ``model``, ``judge``,
``judge_family``, ``kind``, ``score``, ``aspects``):

- **length**: Pearson correlation of the score with the answer's length in characters (95% CI by
  Fisher's z) and the least-squares slope, in score points per 100 characters (95% CI from its
  standard error);
- **scale use**: the share of each score value (Wilson 95% CIs; aspect templates count every aspect
  score) and the *compression*, the share of ratings in the two most used values (1.0: the judge
  uses two values at most);
- **self-preference**: on answers whose generator is of the judge's family, the judge's mean score
  minus that of the other judges on the same answers, minus the same difference on the other
  answers (a difference of differences: a judge that is lenient overall shows none); with no other
  judge of the same kind, the plain difference of the judge's mean scores (own family minus others),
  which also holds any quality difference between the families. 95% CI from the two groups'
  standard errors (normal approximation).

Between the judges: **Krippendorff's alpha** with the interval metric, computed from its definition
(answers are the units, judges the coders, missing ratings allowed), with a percentile bootstrap
CI over answers. Reward models are left out of alpha and of the self-preference reference (their
scale differs from the LLM judges').

Every number is ``{"value", "ci": [lo, hi], "n", "reason"}``; value None comes with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefjudge.audit.report import DictReport
from prefjudge.families import infer_family
from prefjudge.stats.intervals import Z95, wilson

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


def _entry(value: float | None, ci: Sequence[float | None] | None, n: int, reason: str | None = None, **extra: Any) -> dict:
    if value is not None and (not isinstance(value, (int, float)) or not math.isfinite(value)):
        value, ci, reason = None, None, reason or "not a finite number"
    return {"value": value, "ci": list(ci) if ci is not None and value is not None else None, "n": n,
            "reason": None if value is not None else reason, **extra}


def length_correlation(scores: np.ndarray, lengths: np.ndarray) -> dict:
    """Pearson r of score with length, 95% CI by Fisher's z (needs n >= 4 and both varying).

    >>> import numpy as np
    >>> round(length_correlation(np.array([1., 2., 3., 5.]), np.array([10., 20., 30., 40.]))["value"], 4)
    0.9827
    """
    import numpy as np

    n = len(scores)
    if n < 4:
        return _entry(None, None, n, f"too few ratings ({n} < 4)")
    if np.ptp(scores) == 0 or np.ptp(lengths) == 0:
        return _entry(None, None, n, "the scores (or the lengths) do not vary")
    r = float(np.corrcoef(scores, lengths)[0, 1])
    if abs(r) >= 1.0:
        return _entry(r, [r, r], n)
    z, half = math.atanh(r), Z95 / math.sqrt(n - 3)
    return _entry(r, [math.tanh(z - half), math.tanh(z + half)], n)


def length_slope(scores: np.ndarray, lengths: np.ndarray, per: float = 100.0) -> dict:
    """Least-squares slope of score on length, in points per ``per`` characters, 95% CI ``b ± 1.96 SE``.

    >>> import numpy as np
    >>> length_slope(np.array([1., 2., 3., 4.]), np.array([0., 100., 200., 300.]))["value"]
    1.0
    """

    n = len(scores)
    if n < 3:
        return _entry(None, None, n, f"too few ratings ({n} < 3)")
    x = lengths / per
    sxx = float(((x - x.mean()) ** 2).sum())
    if sxx == 0:
        return _entry(None, None, n, "every answer has the same length")
    b = float(((x - x.mean()) * (scores - scores.mean())).sum() / sxx)
    resid = scores - scores.mean() - b * (x - x.mean())
    se = math.sqrt(float((resid ** 2).sum()) / (n - 2) / sxx)
    return _entry(b, [b - Z95 * se, b + Z95 * se], n, per_chars=per)


def scale_use(values: np.ndarray, scale: tuple[float, float] | None) -> dict:
    """Share of each score value (Wilson CIs) and the compression (share in the two most used values)."""
    import numpy as np

    n = len(values)
    if n == 0:
        return {"values": [], "compression": _entry(None, None, 0, "no scores"), "scale": list(scale) if scale else None}
    uniq, counts = np.unique(values, return_counts=True)
    if scale is None and len(uniq) > 20:
        return {"values": [], "scale": None,
                "compression": _entry(None, None, n, "continuous scores (a reward model): no scale to use")}
    shares = []
    for v, c in zip(uniq, counts):
        lo, hi = wilson(int(c), n)
        shares.append({"score": float(v), "n": int(c), "share": c / n, "ci": [lo, hi]})
    top2 = int(np.sort(counts)[::-1][:2].sum())
    lo, hi = wilson(top2, n)
    used = len(uniq)
    return {"values": shares, "scale": list(scale) if scale else None, "n_values_used": used,
            "compression": _entry(top2 / n, [lo, hi], n)}


def krippendorff_alpha_interval(units: Sequence[Sequence[float]]) -> float | None:
    """Krippendorff's alpha with the interval metric, from its definition.

    ``units``: the values each unit (answer) got from the coders (judges) who rated it; units with
    fewer than two values are not pairable and left out. With n the number of pairable values,
    D_o = (1/n) sum_u 1/(m_u - 1) sum_{i != j in u} (v_i - v_j)^2 and
    D_e = 1/(n (n - 1)) sum_{i != j over all pairable values} (v_i - v_j)^2; alpha = 1 - D_o / D_e.
    None when nothing is pairable or D_e = 0 (every value equal).

    Krippendorff's (2011) worked example (4 coders, 12 units, missing values) gives 0.849:

    >>> units = [[1, 1, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2], [1, 2, 3, 4], [4, 4, 4, 4],
    ...          [1, 1, 2, 1], [2, 2, 2, 2], [5, 5, 5], [1, 1], [3]]
    >>> round(krippendorff_alpha_interval(units), 3)
    0.849
    """
    import numpy as np

    pairable = [np.asarray(u, dtype=float) for u in units if len(u) >= 2]
    if not pairable:
        return None
    m = np.array([len(u) for u in pairable], dtype=float)
    s1 = np.array([u.sum() for u in pairable])
    s2 = np.array([(u * u).sum() for u in pairable])
    return _alpha(m, s1, s2)


def _alpha(m: np.ndarray, s1: np.ndarray, s2: np.ndarray) -> float | None:
    """Alpha from per-unit counts, sums and sums of squares: sum_{i != j} (v_i - v_j)^2 = 2 (m S2 - S1^2)."""
    n = float(m.sum())
    if n < 2:
        return None
    d_o = float((2.0 * (m * s2 - s1 * s1) / (m - 1.0)).sum()) / n
    d_e = 2.0 * (n * float(s2.sum()) - float(s1.sum()) ** 2) / (n * (n - 1.0))
    if d_e <= 1e-12 * max(1.0, abs(float(s2.sum()))):
        return None
    return 1.0 - d_o / d_e


def alpha_entry(units: Sequence[Sequence[float]], n_judges: int, *, n_boot: int = 1000, seed: int = 0) -> dict:
    """Krippendorff's alpha (interval) with a percentile bootstrap 95% CI resampling units."""
    import numpy as np

    pairable = [np.asarray(u, dtype=float) for u in units if len(u) >= 2]
    if n_judges < 2:
        return _entry(None, None, len(pairable), "agreement needs at least two LLM judges", n_judges=n_judges)
    value = krippendorff_alpha_interval(pairable)
    if value is None:
        return _entry(None, None, len(pairable), "no answer rated by two judges, or every score equal", n_judges=n_judges)
    m = np.array([len(u) for u in pairable], dtype=float)
    s1 = np.array([u.sum() for u in pairable])
    s2 = np.array([(u * u).sum() for u in pairable])
    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(m), len(m))
        a = _alpha(m[idx], s1[idx], s2[idx])
        if a is not None:
            stats.append(a)
    ci = [min(float(np.quantile(stats, 0.025)), value), max(float(np.quantile(stats, 0.975)), value)] if stats else None
    return _entry(value, ci, len(pairable), n_judges=n_judges, metric="interval")


def _diff(a: np.ndarray, b: np.ndarray) -> tuple[float | None, list[float] | None]:
    if len(a) < 2 or len(b) < 2:
        return None, None
    d = float(a.mean() - b.mean())
    se = math.sqrt(float(a.var(ddof=1)) / len(a) + float(b.var(ddof=1)) / len(b))
    return d, [d - Z95 * se, d + Z95 * se]


def self_preference(table: pd.DataFrame, judge: str, family: str | None, reference: list[str]) -> dict:
    """The judge's score advantage for answers of its own family (see the module docstring)."""
    import numpy as np

    if not family:
        return _entry(None, None, 0, "the judge has no family")
    mine = table[(table["judge"] == judge) & table["score"].notna()]
    own = mine["model_family"] == family
    n_own, n_other = int(own.sum()), int((~own & mine["model_family"].notna()).sum())
    if n_own == 0:
        return _entry(None, None, 0, f"no rated answer was written by the family {family!r}", n_own=0, n_other=n_other)
    known = mine[mine["model_family"].notna()]
    if reference:
        others = table[table["judge"].isin(reference) & table["score"].notna()]
        ref_mean = others.groupby("id")["score"].apply(lambda s: float(np.mean(s.astype(float))))
        known = known[known["id"].isin(ref_mean.index)]
        gap = known["score"].astype(float).to_numpy() - known["id"].map(ref_mean).astype(float).to_numpy()
        is_own = (known["model_family"] == family).to_numpy()
        value, ci = _diff(gap[is_own], gap[~is_own])
        label = f"the other judges' mean score on the same answers ({', '.join(reference)})"
    else:
        s = known["score"].astype(float).to_numpy()
        is_own = (known["model_family"] == family).to_numpy()
        value, ci = _diff(s[is_own], s[~is_own])
        label = "none (no other judge of the same kind): own-family minus other answers, quality differences included"
    n_o, n_x = int(is_own.sum()), int((~is_own).sum())
    reason = None if value is not None else f"needs two rated answers of each kind (own family {n_o}, others {n_x})"
    return _entry(value, ci, n_o + n_x, reason, n_own=n_o, n_other=n_x, reference=label)


def audit_ratings(ratings: pd.DataFrame, *, scale: tuple[float, float] | None = None, seed: int = 0,
                  meta: dict | None = None, n_boot: int = 1000) -> RatingAudit:
    """The ratings audit of a ratings table (``RatingResult.ratings``, or any table with ``id``,
    ``response``, ``judge``, ``score``; optional ``model``, ``judge_family``, ``kind``, ``aspects``)."""
    import numpy as np

    missing = [c for c in ("id", "response", "judge", "score") if c not in ratings.columns]
    if missing:
        from prefjudge.errors import InputError

        raise InputError(f"a ratings table needs {missing}", field=missing[0])
    table = ratings.copy()
    for col, default in (("model", None), ("judge_family", None), ("kind", "llm"), ("aspects", None)):
        if col not in table.columns:
            table[col] = default
    table["model_family"] = [infer_family(m) if isinstance(m, str) and m else None for m in table["model"]]
    judges = list(dict.fromkeys(table["judge"].astype(str)))
    kinds = {j: str(table.loc[table["judge"] == j, "kind"].iloc[0]) for j in judges}
    families = {j: table.loc[table["judge"] == j, "judge_family"].iloc[0] for j in judges}
    out: dict[str, Any] = {"judges": {}, "agreement": {}, "meta": {}}
    for j in judges:
        rows = table[table["judge"] == j]
        ok = rows[rows["score"].notna()]
        s = ok["score"].astype(float).to_numpy()
        lengths = np.array([len(r) for r in ok["response"]], dtype=float)
        aspect_values = [float(v) for a in ok["aspects"] if isinstance(a, dict) for v in a.values()]
        kind = kinds[j]
        values = np.array(aspect_values) if aspect_values else s
        same_kind = [o for o in judges if o != j and kinds[o] == kind and kind == "llm"]
        out["judges"][j] = {
            "kind": kind, "family": families[j], "n": len(rows), "n_failed": int(rows["score"].isna().sum()),
            "mean": float(s.mean()) if len(s) else None, "sd": float(s.std(ddof=1)) if len(s) > 1 else None,
            "length": {"correlation": length_correlation(s, lengths), "slope": length_slope(s, lengths)},
            "scale_use": scale_use(values, scale if kind == "llm" else None),
            "self_preference": self_preference(table, j, families[j], same_kind),
        }
    llm = [j for j in judges if kinds[j] == "llm"]
    ok = table[table["score"].notna() & table["judge"].isin(llm)]
    units = [g["score"].astype(float).tolist() for _, g in ok.groupby("id", sort=False)]
    out["agreement"]["krippendorff_alpha"] = alpha_entry(units, len(llm), n_boot=n_boot, seed=seed)
    out["meta"] = {"n_ratings": len(table), "n_answers": int(table["id"].nunique()), "n_judges": len(judges),
                   "scale": list(scale) if scale else None, "seed": seed,
                   **{k: (meta or {}).get(k) for k in ("template", "template_sha256", "simulated") if (meta or {}).get(k)}}
    return RatingAudit(out)


def _num(x: Any, digits: int = 2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _ci(e: dict, digits: int = 2) -> str:
    if e.get("value") is None:
        return f"– ({e.get('reason')})"
    ci = e.get("ci")
    tail = f" [{_num(ci[0], digits)}, {_num(ci[1], digits)}]" if ci else ""
    return f"{_num(e['value'], digits)}{tail}"


class RatingAudit(DictReport):
    """The ratings audit's numbers (``to_dict()``, ``to_json()``) and a Markdown rendering (``to_markdown()``)."""

    def to_markdown(self, path: str | Path | None = None) -> str:
        """Tables: per judge (length, scale use, self-preference), then agreement between judges;
        written to ``path`` too when given."""
        d = self._data
        lines = ["## Ratings audit", "",
                 "| judge | kind | ratings | failed | mean | r(score, length) [95% CI] | slope / 100 chars [95% CI] "
                 "| compression [95% CI] | self-preference [95% CI] |",
                 "|---|---|---:|---:|---:|---|---|---|---|"]
        for name, e in d["judges"].items():
            lines.append(f"| {name} | {e['kind']} | {e['n']} | {e['n_failed']} | {_num(e['mean'])} "
                         f"| {_ci(e['length']['correlation'])} | {_ci(e['length']['slope'], 3)} "
                         f"| {_ci(e['scale_use']['compression'])} | {_ci(e['self_preference'])} |")
        lines += ["", "Scale use (share of each score):", ""]
        for name, e in d["judges"].items():
            used = ", ".join(f"{v['score']:g}: {100 * v['share']:.0f}%" for v in e["scale_use"]["values"])
            lines.append(f"- {name}: {used or e['scale_use']['compression'].get('reason')}")
        a = d["agreement"]["krippendorff_alpha"]
        lines += ["", f"Agreement between the LLM judges, Krippendorff's alpha (interval): {_ci(a, 3)}"
                      f" over {a['n']} answers rated by two judges or more.", ""]
        return self._save(path, "\n".join(lines))

    def __repr__(self) -> str:
        return f"RatingAudit({len(self._data.get('judges', {}))} judge(s), {self._data['meta'].get('n_ratings')} ratings)"
