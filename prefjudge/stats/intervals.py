"""Confidence intervals: Wilson score intervals for proportions, percentile bootstrap for means.

>>> [round(x, 4) for x in wilson(8, 10)]
[0.4902, 0.9433]
>>> wilson(0, 0)
(None, None)
"""

from __future__ import annotations

import numpy as np

Z95 = 1.959963984540054


def wilson(k: float, n: float, z: float = Z95) -> tuple[float | None, float | None]:
    """Wilson score interval of k successes out of n (k may be fractional: ties count 0.5).

    The interval always contains the estimate k / n (at k == n the upper bound is exactly 1.0,
    not a rounding error below it) and lies in [0, 1].

    >>> wilson(40, 40)[1], wilson(0, 40)[0]
    (1.0, 0.0)
    """
    if n <= 0:
        return None, None
    p = min(1.0, max(0.0, k / n))
    den = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return float(min(p, max(0.0, centre - half))), float(max(p, min(1.0, centre + half)))


def bootstrap_mean(values: np.ndarray, *, n_boot: int = 2000, seed: int = 0, alpha: float = 0.05,
                   max_distinct: int = 512) -> tuple[float | None, float | None]:
    """Percentile bootstrap CI of the mean of ``values`` (resampling the entries with replacement).

    When the values take few distinct values (verdict scores usually do) the resampled means are
    drawn exactly through multinomial counts over the distinct values, which costs
    O(n_boot x distinct) instead of O(n_boot x n); otherwise indices are resampled in chunks.
    """
    v = np.asarray(values, dtype=float)
    n = len(v)
    if n == 0:
        return None, None
    rng = np.random.default_rng(seed)
    uniq, counts = np.unique(v, return_counts=True)
    if len(uniq) <= max_distinct:
        draws = rng.multinomial(n, counts / n, size=n_boot)
        means = draws @ uniq / n
    else:
        chunk = max(1, 4_000_000 // n)
        means = np.concatenate([v[rng.integers(0, n, size=(min(chunk, n_boot - s), n))].mean(axis=1)
                                for s in range(0, n_boot, chunk)])
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def bootstrap_clustered(values: np.ndarray, cluster: np.ndarray, *, n_boot: int = 2000, seed: int = 0,
                        alpha: float = 0.05, max_distinct: int = 512) -> tuple[float | None, float | None]:
    """Percentile bootstrap CI of the mean of ``values``, resampling whole clusters (e.g. pairs).

    The statistic is sum(values) / count over the resampled clusters. Clusters with the same
    (sum, count) are interchangeable, so when there are few such kinds the resample is drawn
    exactly as multinomial counts over the kinds.
    """
    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        return None, None
    cluster = np.asarray(cluster)
    if cluster.dtype.kind in "iu" and cluster.min() >= 0 and cluster.max() < 4 * len(v) + 1024:
        counts = np.bincount(cluster).astype(float)  # dense integer ids: no sort needed
        sums = np.bincount(cluster, weights=v)[counts > 0]
        counts = counts[counts > 0]
    else:
        _, inv = np.unique(cluster, return_inverse=True)
        sums, counts = np.bincount(inv, weights=v), np.bincount(inv).astype(float)
    key = counts * (np.abs(sums).max() * 2 + 1) + sums  # one number per distinct (sum, count)
    _, first, freq = np.unique(key, return_index=True, return_counts=True)
    kinds = np.column_stack([sums[first], counts[first]])
    rng = np.random.default_rng(seed)
    n_c = len(sums)
    if len(kinds) <= max_distinct:
        draws = rng.multinomial(n_c, freq / n_c, size=n_boot)
        stats = (draws @ kinds[:, 0]) / (draws @ kinds[:, 1])
    else:
        chunk = max(1, 4_000_000 // n_c)
        parts = []
        for s in range(0, n_boot, chunk):
            idx = rng.integers(0, n_c, size=(min(chunk, n_boot - s), n_c))
            parts.append(sums[idx].sum(axis=1) / counts[idx].sum(axis=1))
        stats = np.concatenate(parts)
    lo, hi = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)
