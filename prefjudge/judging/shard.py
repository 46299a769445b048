"""Deterministic shards: ``shard=(i, n)`` keeps the items whose id hashes to ``i`` modulo ``n``.

The hash is SHA-256 of the id (a pair id, or a prompt id for candidates and prompts), the same on
every machine, Python version and run, so ``n`` machines given the same input and ``shard=(0, n)``
... ``shard=(n-1, n)`` judge disjoint parts whose union is the whole input. Nothing else changes:
a sharded run sends exactly the requests (same request hashes, same display orders) the unsharded
run sends for those items, so merged stores replay the unsharded run.

>>> shard_index("pair-1", 4) == shard_index("pair-1", 4)
True
>>> parse_shard("1/4"), parse_shard((0, 1)), parse_shard(None)
((1, 4), (0, 1), None)
"""

from __future__ import annotations

import hashlib
from typing import Any

from prefjudge.errors import InputError

Shard = tuple[int, int]


def parse_shard(shard: Any) -> Shard | None:
    """``(i, n)`` from a pair of integers or an ``"i/n"`` string; InputError naming the field otherwise."""
    if shard is None:
        return None
    value = shard
    if isinstance(value, str):
        parts = value.split("/")
        try:
            value = tuple(int(p) for p in parts)
        except ValueError:
            value = None
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise InputError(f"shard must be (i, n) with integers 0 <= i < n (or the string 'i/n'), not {shard!r}",
                         field="shard")
    i, n = value
    if n < 1 or not 0 <= i < n:
        raise InputError(f"shard must be (i, n) with 0 <= i < n and n >= 1, not {shard!r}", field="shard")
    return (i, n)


def shard_index(key: str, n: int) -> int:
    """Which of ``n`` shards ``key`` belongs to (a stable hash, the same everywhere)."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()[:8], "big") % n


def in_shard(key: str, shard: Shard | None) -> bool:
    """Whether ``key`` belongs to ``shard`` (always, without a shard)."""
    return shard is None or shard[1] == 1 or shard_index(key, shard[1]) == shard[0]
