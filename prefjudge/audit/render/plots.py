"""The report's plots, drawn with matplotlib (imported lazily) as inline SVG strings.

Text is drawn as paths (``svg.fonttype = "path"``) and matplotlib's comments (which repeat each
text) are removed, so no data string reaches the SVG markup: the HTML template inserts these SVGs
unescaped. Ids are salted per plot so several SVGs can share one HTML page.
"""

from __future__ import annotations

import io
import math
import re
from typing import Any

RATIO_LABELS = ("1-1.25", "1.25-1.5", "1.5-2", "2-3", "3+")


def _label(s: Any, limit: int = 40) -> str:
    """A data string safe for matplotlib text (no mathtext), cut to ``limit`` characters."""
    s = str(s)
    s = s if len(s) <= limit else s[: limit - 1] + "…"
    return s.replace("$", r"\$")


def error_bar(entry: dict) -> tuple[float, float, float]:
    """(value, error below, error above) of a rate entry for matplotlib: the value and its CI clipped
    to [0, 1] and both errors >= 0, so an estimate at (or, by rounding, just past) a bound still draws.

    >>> error_bar({"value": 1.0, "ci": [0.9, 0.9999999999999999]})
    (1.0, 0.09999999999999998, 0.0)
    """
    v = min(1.0, max(0.0, float(entry["value"])))
    lo, hi = (min(1.0, max(0.0, float(x))) for x in (entry.get("ci") or (v, v)))
    return v, max(0.0, v - lo), max(0.0, hi - v)


def _svg(fig, salt: str) -> str:
    import matplotlib

    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": salt}):
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    text = buf.getvalue()
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text[text.index("<svg"):], flags=re.S)
    # matplotlib writes each drawn text again as a comment (<!-- judge name -->): drop them all
    return re.sub(r"[ \t]*<!--.*?-->\n?", "", text, flags=re.S)


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    return fig, fig.subplots()


def p_first_plot(judges: dict[str, dict]) -> str | None:
    """P(first shown answer wins) per judge with its 95% CI; 50% means no position bias."""
    rows = [(n, e["p_first"]) for n, e in judges.items() if (e.get("p_first") or {}).get("value") is not None]
    if not rows:
        return None
    fig, ax = _figure(6.5, 0.5 + 0.45 * len(rows))
    for i, (_, e) in enumerate(rows):
        v, below, above = error_bar(e)
        ax.errorbar(v, i, xerr=[[below], [above]], fmt="o", color="C0", capsize=4)
    ax.axvline(0.5, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(range(len(rows)), [_label(n) for n, _ in rows])
    ax.set_xlim(0, 1)
    ax.set_xlabel("P(answer shown first wins), 95% CI")
    ax.invert_yaxis()
    return _svg(fig, "pfirst")


def longer_plot(judges: dict[str, dict]) -> str | None:
    """P(longer answer wins) against the length ratio (longer / shorter), one line per judge."""
    series = [(n, e["longer_by_ratio"]) for n, e in judges.items() if any(b.get("value") is not None for b in e.get("longer_by_ratio") or [])]
    if not series:
        return None
    fig, ax = _figure(6.5, 3.6)
    for k, (name, bins) in enumerate(series):
        xs = [i + (k - len(series) / 2) * 0.05 for i, b in enumerate(bins) if b.get("value") is not None]
        bars = [error_bar(b) for b in bins if b.get("value") is not None]
        ys, err = [b[0] for b in bars], [[b[1] for b in bars], [b[2] for b in bars]]
        ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=_label(name), color=f"C{k % 10}")
    ax.axhline(0.5, color="grey", linestyle="--", linewidth=1)
    ax.set_xticks(range(len(RATIO_LABELS)), RATIO_LABELS)
    ax.set_ylim(0, 1)
    ax.set_xlabel("length ratio, longer / shorter answer (characters)")
    ax.set_ylabel("P(longer answer wins)")
    ax.legend(fontsize=8, loc="lower right")
    return _svg(fig, "longer")


def _heatmap(matrix: list[list[float | None]], rows: list[str], cols: list[str], *, vmin: float, vmax: float,
             cmap: str, fmt: str, label: str, salt: str) -> str:
    import matplotlib
    import numpy as np

    data = np.array([[np.nan if v is None else v for v in r] for r in matrix], dtype=float)
    fig, ax = _figure(1.6 + 1.1 * len(cols), 1.0 + 0.5 * len(rows))
    masked = np.ma.masked_invalid(data)
    cm = matplotlib.colormaps[cmap].with_extremes(bad="#dddddd")
    im = ax.imshow(masked, cmap=cm, vmin=vmin, vmax=vmax, aspect="auto")
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            if not math.isnan(data[i, j]):
                ax.text(j, i, format(data[i, j], fmt), ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(cols)), [_label(c) for c in cols], rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), [_label(r) for r in rows])
    fig.colorbar(im, ax=ax, label=label)
    return _svg(fig, salt)


def family_plot(judges: dict[str, dict]) -> str | None:
    """Judge x generator family: preference for that family's answers vs the reference, in points."""
    fams = sorted({f for e in judges.values() for f in (e.get("family_preference") or {})})
    if not fams:
        return None
    names = list(judges)
    matrix = [[(judges[n]["family_preference"].get(f) or {}).get("value") for f in fams] for n in names]
    if all(v is None for r in matrix for v in r):
        return None
    pts = [[None if v is None else v * 100 for v in r] for r in matrix]
    return _heatmap(pts, names, fams, vmin=-30, vmax=30, cmap="RdBu_r", fmt="+.0f",
                    label="preference for the family's answers (points)", salt="family")


def agreement_plot(jury: dict) -> str | None:
    """Cohen's kappa between every two judges (on the pairs both judged)."""
    pairs = (jury.get("agreement") or {}).get("cohen_kappa_pairs") or {}
    names = list(pairs)
    if len(names) < 2:
        return None
    matrix = [[1.0 if a == b else (pairs[a].get(b) or {}).get("value") for b in names] for a in names]
    return _heatmap(matrix, names, names, vmin=-0.2, vmax=1.0, cmap="viridis", fmt=".2f", label="Cohen's kappa", salt="agree")


def reliability_plot(entries: list[tuple[str, dict]]) -> str | None:
    """Reliability diagram: per equal-width bin, the share won by *a* (gold ties 0.5) against the
    mean predicted p_a, one line per judge (and the jury); the diagonal is perfect calibration."""
    series = [(name, [b for b in c.get("bins") or [] if b.get("n")]) for name, c in entries if c and c.get("n")]
    series = [(name, bins) for name, bins in series if bins]
    if not series:
        return None
    fig, ax = _figure(5.2, 4.4)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    for k, (name, bins) in enumerate(series):
        ax.plot([b["mean_pred"] for b in bins], [b["frac_pos"] for b in bins], marker="o", label=_label(name),
                color=f"C{k % 10}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted P(a wins) in the bin")
    ax.set_ylabel("share won by a (human labels, ties 0.5)")
    ax.legend(fontsize=8, loc="upper left")
    return _svg(fig, "calib")
