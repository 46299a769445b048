"""Merge call stores: the stores of a sharded run (or of several machines) into one.

Calls are keyed by their request hash, so merging is a union. Two stores holding the same request
with the same answer is no conflict (one copy is kept); the same request with different answers (a
judge sampled at temperature > 0 on two machines, or a store edited by hand) is a conflict: the
first store given keeps its answer, and every conflict is reported with the stores involved. Failed
attempts are history and are all kept. Sources are read, never changed (beyond the schema upgrade
that opening an old store does).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, Field

from prefjudge.errors import StoreError
from prefjudge.judging.store import Store

_SAME_ANSWER = ("text", "top_logprobs")
_BATCH = 2000


class MergeConflict(BaseModel):
    """One request answered differently in two stores; ``kept`` is the answer in the merged store."""

    key: str
    kept_from: str
    other: str
    kept: str
    dropped: str


class MergeReport(BaseModel):
    """What :func:`merge_stores` did: rows per source, duplicates, conflicts."""

    out: str
    sources: list[str]
    calls: int = 0
    """Calls in the merged store."""
    added: dict[str, int] = Field(default_factory=dict)
    """New calls taken from each source."""
    duplicates: int = 0
    """Calls found in more than one store with the same answer (kept once)."""
    conflicts: list[MergeConflict] = Field(default_factory=list)
    failures: int = 0
    """Failed attempts copied (all of them: they are the run's history)."""

    def summary(self) -> str:
        parts = [f"{self.calls} calls in {self.out}"]
        parts += [f"{n} from {src}" for src, n in self.added.items()]
        parts.append(f"{self.duplicates} duplicate(s) with the same answer")
        parts.append(f"{len(self.conflicts)} conflict(s)")
        return "; ".join(parts)


def merge_stores(sources: Sequence[str | Path], out: str | Path) -> MergeReport:
    """Merge the stores ``sources`` into ``out`` (created, or added to when it is a store already).

    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> for name in ("a.db", "b.db"):
    ...     Store(os.path.join(d, name)).close()
    >>> merge_stores([os.path.join(d, "a.db"), os.path.join(d, "b.db")], os.path.join(d, "all.db")).calls
    0
    """
    if not sources:
        raise StoreError("no stores to merge")
    out_path = Path(out).expanduser()
    resolved = [Path(s).expanduser() for s in sources]
    for src in resolved:
        if not src.is_file():
            raise StoreError("no such store file", path=src)
        if out_path.exists() and src.resolve() == out_path.resolve():
            raise StoreError("the output is also a source; write the merge to a new file", path=src)
    if len({s.resolve() for s in resolved}) != len(resolved):
        raise StoreError(f"a store is given twice: {[str(s) for s in resolved]}")
    report = MergeReport(out=str(out_path), sources=[str(s) for s in resolved])
    with Store(out_path) as target:
        for src in resolved:
            with Store(src) as source:
                report.added[str(src)] = _merge_calls(source, target, str(src), report)
                failures = list(source.rows("failures"))
                target.insert_rows("failures", failures)
                report.failures += len(failures)
        report.calls = target.count("calls")
    return report


def _merge_calls(source: Store, target: Store, name: str, report: MergeReport) -> int:
    added = 0
    batch: list[dict] = []
    for row in source.rows("calls"):
        existing = target.row(row["key"])
        if existing is None:
            batch.append(row)
            if len(batch) >= _BATCH:
                added += _flush(target, batch)
            continue
        if all(existing[c] == row[c] for c in _SAME_ANSWER):
            report.duplicates += 1
        else:
            report.conflicts.append(MergeConflict(key=row["key"], kept_from=_origin(report, row["key"]), other=name,
                                                  kept=_excerpt(existing["text"]), dropped=_excerpt(row["text"])))
    added += _flush(target, batch)
    return added


def _flush(target: Store, batch: list[dict]) -> int:
    n = len(batch)
    # a key repeated inside one batch cannot happen (key is the source's primary key)
    target.insert_rows("calls", batch)
    batch.clear()
    return n


def _origin(report: MergeReport, key: str) -> str:
    """Where the kept answer came from: one of the stores merged before (first wins), or the output
    store itself when it held the call already."""
    return ", ".join(report.added) or f"{report.out} (already there)"


def _excerpt(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
