"""Calibration of probabilistic verdicts against gold labels: Brier score, expected calibration
error with its reliability table, and two recalibration maps (temperature scaling, isotonic).

Pure numpy. ``p`` is a predicted probability that answer *a* is better; ``y`` the gold outcome
for *a* (1 = a, 0 = b; a gold tie is 0.5, see :func:`gold_targets`).

Binning: ``n_bins`` equal-width bins on [0, 1], bin k = [k/B, (k+1)/B), the last one closed
([1 - 1/B, 1]), so p = 0.5 falls in the bin that starts at 0.5 and p = 1 in the last bin.

>>> p = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.5, 0.9, 1.0])
>>> y = np.array([0.0, 1.0, 0.5, 1.0, 0.0, 1.0, 1.0, 1.0])
>>> round(brier(p, y), 6), round(ece(p, y, n_bins=4), 6)
(0.2, 0.15)

Both recalibration maps are symmetric, f(1 - p) = 1 - f(p): which answer is called *a* carries
no information, so a map that treated *a* and *b* differently would only fit noise. Temperature
scaling has no intercept for that reason, and the isotonic fit is made on the data together with
its mirror image (1 - p, 1 - y).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from prefjudge.errors import InputError

Method = Literal["temperature", "isotonic"]
METHODS: tuple[str, ...] = ("temperature", "isotonic")
#: Probabilities are clipped to [EPS, 1 - EPS] before taking logits (|logit| <= 13.8).
EPS = 1e-6
#: The isotonic fit rounds p to this many decimals.
ISOTONIC_DECIMALS = 4
#: Largest inverse temperature the fit considers (a judge whose hard 0/1 verdicts are never wrong).
MAX_SCALE = 1e4


def gold_targets(codes: np.ndarray, known: np.ndarray, ties: Literal["half", "exclude"] = "half") -> tuple[np.ndarray, np.ndarray]:
    """Gold class codes (0 = a, 1 = b, 2 = tie) to targets for a, and which entries to use.

    ``ties="half"`` (the audit's choice) counts a gold tie as 0.5: a judge that says 0.5 on a tie
    is right, and one that says 0.9 is penalized as much as on a pair half won by a.
    ``ties="exclude"`` leaves gold ties out.

    >>> y, use = gold_targets(np.array([0, 1, 2, 0]), np.array([True, True, True, False]))
    >>> y.tolist(), use.tolist()
    ([1.0, 0.0, 0.5, 1.0], [True, True, True, False])
    """
    codes = np.asarray(codes)
    y = np.array([1.0, 0.0, 0.5])[np.clip(codes, 0, 2).astype(np.int64)]
    use = np.asarray(known, dtype=bool).copy()
    if ties == "exclude":
        use &= codes != 2
    elif ties != "half":
        raise InputError(f"ties must be 'half' or 'exclude', not {ties!r}", field="ties")
    return y, use


def _check(p: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(p, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if p.shape != y.shape:
        raise InputError(f"p and y differ in length ({len(p)} vs {len(y)})", field="y")
    bad = ~np.isfinite(p) | (p < 0) | (p > 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"a probability must be a number in [0, 1], got {p[i]!r}", row=i, field="p")
    bad = ~np.isfinite(y) | (y < 0) | (y > 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"a gold target must be in [0, 1], got {y[i]!r}", row=i, field="y")
    return p, y


def brier(p: Any, y: Any) -> float | None:
    """Mean squared difference between prediction and outcome (0 best; 0.25 for always saying 0.5).

    >>> brier([0.9, 0.2], [1, 0])
    0.025
    """
    p, y = _check(p, y)
    return float(np.mean((p - y) ** 2)) if len(p) else None


def bin_index(p: np.ndarray, n_bins: int = 10) -> np.ndarray:
    """Equal-width bin of each probability: k with k/B <= p < (k+1)/B, p = 1 in the last bin.

    >>> bin_index(np.array([0.0, 0.3, 0.5, 0.99, 1.0]), 10).tolist()
    [0, 3, 5, 9, 9]
    """
    if n_bins < 1:
        raise InputError(f"n_bins must be at least 1, got {n_bins}", field="n_bins")
    edges = np.arange(n_bins + 1) / n_bins  # k / B, each the double nearest to the decimal
    return np.clip(np.searchsorted(edges, p, side="right") - 1, 0, n_bins - 1)


def reliability_table(p: Any, y: Any, n_bins: int = 10) -> list[dict]:
    """One entry per bin (empty bins included): ``{"lo", "hi", "n", "mean_pred", "frac_pos"}``.

    ``mean_pred`` is the mean prediction in the bin, ``frac_pos`` the mean outcome (the share won
    by a, gold ties counting 0.5); both None for an empty bin.
    """
    p, y = _check(p, y)
    k = bin_index(p, n_bins)
    n = np.bincount(k, minlength=n_bins)
    sp = np.bincount(k, weights=p, minlength=n_bins)
    sy = np.bincount(k, weights=y, minlength=n_bins)
    return [{"lo": i / n_bins, "hi": (i + 1) / n_bins, "n": int(n[i]),
             "mean_pred": float(sp[i] / n[i]) if n[i] else None, "frac_pos": float(sy[i] / n[i]) if n[i] else None}
            for i in range(n_bins)]


def ece(p: Any, y: Any, n_bins: int = 10) -> float | None:
    """Expected calibration error: sum over bins of (n_bin / n) * |mean_pred - frac_pos|
    (equal-width bins, see the module docstring). None when there is nothing to score."""
    p, y = _check(p, y)
    if not len(p):
        return None
    return float(_ece_counts(bin_index(p, n_bins), p, y[None, :], n_bins)[0])


def _ece_counts(k: np.ndarray, p: np.ndarray, ys: np.ndarray, n_bins: int) -> np.ndarray:
    """ECE of the same predictions against each row of ``ys`` (vectorized over rows)."""
    order = np.argsort(k, kind="stable")
    ks = k[order]
    starts = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])  # the non-empty bins
    sp = np.add.reduceat(p[order], starts)
    sy = np.add.reduceat(ys[:, order], starts, axis=1)
    return np.abs(sy - sp).sum(axis=1) / len(p)  # sum over bins of n_b / n * |mean p - mean y|


def ece_null(p: Any, n_bins: int = 10, *, groups: Any = None, n_draws: int = 200, seed: int = 0, q: float = 0.95) -> float | None:
    """The ``q`` quantile of the ECE a perfectly calibrated judge would show with these very
    predictions: outcomes drawn as y ~ Bernoulli(p) ("consistency resampling", Broecker & Smith
    2007), ``n_draws`` seeded draws. An observed ECE above it is more than finite-sample noise.

    ``groups``: predictions that share one gold label (a judge's calls on one pair) share one
    draw, y ~ Bernoulli(mean p of the group); otherwise the bound would be too tight."""
    p = np.asarray(p, dtype=float).ravel()
    if not len(p):
        return None
    code = np.arange(len(p)) if groups is None else np.unique(np.asarray(groups), return_inverse=True)[1].ravel()
    n_groups = int(code.max()) + 1
    pg = np.bincount(code, weights=p, minlength=n_groups) / np.bincount(code, minlength=n_groups)
    rng = np.random.default_rng(seed)
    k = bin_index(p, n_bins)
    out = []
    chunk = max(1, min(n_draws, 2_000_000 // len(p)))
    for start in range(0, n_draws, chunk):
        m = min(chunk, n_draws - start)
        ys = (rng.random((m, n_groups)) < pg).astype(float)[:, code]
        out.append(_ece_counts(k, p, ys, n_bins))
    return float(np.quantile(np.concatenate(out), q))


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=float)))


def pav(y: Any, w: Any = None) -> np.ndarray:
    """Pool-adjacent-violators: the non-decreasing sequence closest to ``y`` in weighted squared error.

    >>> pav([1.0, 3.0, 2.0, 4.0, 3.0]).tolist()
    [1.0, 2.5, 2.5, 3.5, 3.5]
    """
    y = np.asarray(y, dtype=float)
    w = np.ones_like(y) if w is None else np.asarray(w, dtype=float)
    means: list[float] = []
    weights: list[float] = []
    sizes: list[int] = []
    for v, wt in zip(y.tolist(), w.tolist()):
        means.append(v)
        weights.append(wt)
        sizes.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            w2 = weights[-2] + weights[-1]
            means[-2] = (means[-2] * weights[-2] + means[-1] * weights[-1]) / w2 if w2 > 0 else (means[-2] + means[-1]) / 2
            weights[-2] = w2
            sizes[-2] += sizes[-1]
            del means[-1], weights[-1], sizes[-1]
    return np.repeat(np.array(means), sizes)


@dataclass(frozen=True)
class Calibrator:
    """A fitted map from a raw probability for a to a calibrated one.

    ``method="temperature"``: f(p) = sigmoid(logit(p) / temperature); temperature > 1 softens an
    overconfident judge, < 1 sharpens an underconfident one, None (infinite) maps everything to 0.5.
    ``method="isotonic"``: f(p) is piecewise linear through the knots (``x``, ``y``), constant
    beyond the first and last knot.

    ``to_dict()`` / :meth:`from_dict` round-trip it through JSON (the audit report stores both fits
    under ``calibration["recalibration"]``).
    """

    method: Method
    temperature: float | None = None
    x: tuple[float, ...] = field(default=())
    y: tuple[float, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"method must be 'temperature' or 'isotonic', not {self.method!r}", field="method")
        if self.method == "temperature" and self.temperature is not None and not self.temperature > 0:
            raise InputError(f"temperature must be positive (or None for infinite), got {self.temperature!r}",
                             field="temperature")
        if self.method == "isotonic":
            x, y = np.asarray(self.x, dtype=float), np.asarray(self.y, dtype=float)
            if not len(x) or len(x) != len(y):
                raise InputError("an isotonic calibrator needs knots x and y of the same non-zero length", field="x")
            if np.any(np.diff(x) < 0) or np.any(np.diff(y) < 0) or not (np.all((x >= 0) & (x <= 1)) and np.all((y >= 0) & (y <= 1))):
                raise InputError("isotonic knots must be non-decreasing and lie in [0, 1]", field="x")

    def __call__(self, p: Any) -> np.ndarray:
        """Calibrated probabilities for ``p`` (array-like, values in [0, 1])."""
        p = np.asarray(p, dtype=float)
        if self.method == "temperature":
            if self.temperature is None:
                return np.full_like(p, 0.5)
            return sigmoid(logit(p) / self.temperature)
        return np.interp(p, np.asarray(self.x), np.asarray(self.y))

    def margin(self, m: Any) -> np.ndarray:
        """A margin |2 p - 1| recalibrated: 2 f((1 + m) / 2) - 1, clipped to [0, 1]. For the
        symmetric maps this package fits, that equals |2 f(p) - 1| whichever side p is for."""
        m = np.asarray(m, dtype=float)
        return np.clip(2.0 * self((1.0 + m) / 2.0) - 1.0, 0.0, 1.0)

    def describe(self) -> str:
        """One line for a dataset card: ``temperature 1.80`` or ``isotonic (6 knots)``."""
        if self.method == "temperature":
            return "temperature infinite (all 0.5)" if self.temperature is None else f"temperature {self.temperature:.3g}"
        return f"isotonic ({len(self.x)} knots)"

    def to_dict(self) -> dict[str, Any]:
        if self.method == "temperature":
            return {"method": "temperature", "temperature": self.temperature}
        return {"method": "isotonic", "x": list(self.x), "y": list(self.y)}

    @classmethod
    def from_dict(cls, d: Any) -> Calibrator:
        """From :meth:`to_dict` output (other keys, e.g. the report's ``ece_cv``, are ignored)."""
        if isinstance(d, Calibrator):
            return d
        if not isinstance(d, dict) or d.get("method") not in METHODS:
            raise InputError("a calibrator is a dict with method 'temperature' (and temperature) or 'isotonic' (and x, y); "
                             f"got {d!r:.200}", field="method")
        if d["method"] == "temperature":
            return cls("temperature", temperature=None if d.get("temperature") is None else float(d["temperature"]))
        return cls("isotonic", x=tuple(float(v) for v in d.get("x") or ()), y=tuple(float(v) for v in d.get("y") or ()))


def fit_temperature(p: Any, y: Any) -> Calibrator:
    """Temperature scaling: the T minimizing the cross-entropy of sigmoid(logit(p) / T) against y.

    The loss is convex in s = 1 / T, so its minimum is the root of the derivative
    g(s) = sum z (sigmoid(s z) - y), z = logit(p), which increases with s; it is found by
    bisection. g(0) >= 0 (predictions no better than 0.5) gives T = None (infinite).

    >>> p1 = float(sigmoid(2.0))
    >>> round(fit_temperature([p1, p1, p1, p1], [1, 1, 1, 0]).temperature, 4)  # sigmoid(2 / T) = 0.75
    1.8205
    """
    p, y = _check(p, y)
    if not len(p):
        raise InputError("nothing to fit: no labelled probabilities", field="p")
    z = logit(p)

    def grad(s: float) -> tuple[float, float]:  # derivative of the loss in s, and the second derivative
        q = sigmoid(s * z)
        return float(np.dot(z, q - y)), float(np.dot(z * z, q * (1.0 - q)))

    if grad(0.0)[0] >= 0:
        return Calibrator("temperature", temperature=None)
    lo, hi = 0.0, 1.0
    while grad(hi)[0] < 0 and hi < MAX_SCALE:
        lo, hi = hi, hi * 2.0
    hi = min(hi, MAX_SCALE)
    if grad(hi)[0] < 0:
        return Calibrator("temperature", temperature=1.0 / hi)
    s = 0.5 * (lo + hi)  # Newton steps inside the bracket [lo, hi], bisection when one would leave it
    for _ in range(200):
        g, h = grad(s)
        if g < 0:
            lo = s
        else:
            hi = s
        step = s - g / h if h > 0 else -1.0
        s_new = step if lo < step < hi else 0.5 * (lo + hi)
        if abs(s_new - s) <= 1e-12 * s_new or hi - lo <= 1e-12 * hi:
            s = s_new
            break
        s = s_new
    return Calibrator("temperature", temperature=1.0 / s)


def fit_isotonic(p: Any, y: Any) -> Calibrator:
    """Isotonic regression of y on p by pool-adjacent-violators, on the data and its mirror image
    (1 - p, 1 - y), so that f(1 - p) = 1 - f(p), with p rounded to :data:`ISOTONIC_DECIMALS`
    decimals. Knots: the first and last distinct p of each constant block, linear in between.

    >>> fit_isotonic([0.2, 0.4, 0.6, 0.8], [0, 1, 0, 1]).y
    (0.0, 0.5, 0.5, 1.0)
    """
    p, y = _check(p, y)
    if not len(p):
        raise InputError("nothing to fit: no labelled probabilities", field="p")
    # on a grid of 1e-4 (far finer than any reliability bin), which keeps PAV to at most 10,001
    # points and makes 1 - (1 - p), which may differ from p in the last bit, equal to p
    xs = np.round(np.concatenate([p, 1.0 - p]), ISOTONIC_DECIMALS)
    ys = np.concatenate([y, 1.0 - y])
    ux, inv = np.unique(xs, return_inverse=True)
    w = np.bincount(inv, minlength=len(ux)).astype(float)
    mean = np.bincount(inv, weights=ys, minlength=len(ux)) / w
    fitted = np.clip(pav(mean, w), 0.0, 1.0)
    change = np.flatnonzero(np.diff(fitted) != 0)
    keep = np.unique(np.concatenate([[0, len(ux) - 1], change, change + 1]))
    return Calibrator("isotonic", x=tuple(float(v) for v in ux[keep]), y=tuple(float(v) for v in fitted[keep]))


def fit_calibrator(p: Any, y: Any, method: Method = "temperature") -> Calibrator:
    """Fit a :class:`Calibrator` by ``method`` ("temperature" or "isotonic")."""
    if method == "temperature":
        return fit_temperature(p, y)
    if method == "isotonic":
        return fit_isotonic(p, y)
    raise InputError(f"method must be 'temperature' or 'isotonic', not {method!r}", field="method")


def cross_fitted(p: Any, y: Any, method: Method, groups: Any = None, *, n_folds: int = 5, seed: int = 0) -> np.ndarray | None:
    """Out-of-fold recalibrated predictions: the groups (e.g. pairs, so that both display orders
    of one pair stay together) are split into ``n_folds`` seeded folds, each predicted by the map
    fitted on the others. None with fewer than ``n_folds`` groups."""
    p, y = _check(p, y)
    g = np.arange(len(p)) if groups is None else np.asarray(groups)
    uniq, code = np.unique(g, return_inverse=True)
    if len(uniq) < n_folds:
        return None
    fold_of_group = np.random.default_rng(seed).permutation(len(uniq)) % n_folds
    fold = fold_of_group[code]
    out = np.empty_like(p)
    for f in range(n_folds):
        test = fold == f
        out[test] = fit_calibrator(p[~test], y[~test], method)(p[test])
    return out


def calibration_summary(p: Any, y: Any, *, groups: Any = None, n_bins: int = 10, n_folds: int = 5, seed: int = 0) -> dict:
    """Brier, ECE, the reliability table, the ECE bound of a calibrated judge, and both
    recalibration fits (on all the data) with their cross-fitted Brier and ECE."""
    p, y = _check(p, y)
    out: dict[str, Any] = {"n": len(p), "brier": brier(p, y), "ece": ece(p, y, n_bins), "bins": reliability_table(p, y, n_bins),
                           "ece_calibrated_95": ece_null(p, n_bins, groups=groups, seed=seed)}
    fits: dict[str, Any] = {"n_folds": n_folds}
    for method in METHODS:
        cal = fit_calibrator(p, y, method)  # type: ignore[arg-type]
        oof = cross_fitted(p, y, method, groups, n_folds=n_folds, seed=seed)  # type: ignore[arg-type]
        fits[method] = {**cal.to_dict(), "brier_cv": None if oof is None else brier(oof, y),
                        "ece_cv": None if oof is None else ece(oof, y, n_bins)}
    out["recalibration"] = fits
    return out
