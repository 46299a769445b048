"""Progress on stderr: done/total, rate, ETA, failures, dollars spent so far and the projected total.

Shown when stderr is a terminal or when asked (``progress=True``). The numbers are also there
without a display (:meth:`ProgressBar.stats`). The total may be unknown (a generator of rows) or
grow (``rank_responses`` adds each round's calls): the ETA and the projection then cover the calls
known so far. The projection is the spend per finished call times the total (calls read from the
store cost nothing, so a resumed run projects low until new calls dominate).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-:--:--"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class ProgressBar:
    def __init__(self, total: int | None, description: str, enabled: bool | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.total = total
        self.done = 0
        self.failed = 0
        self.spent_usd = 0.0
        self.priced = False
        self._clock = clock
        self._start = clock()
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._progress = None
        self._last_refresh = 0.0
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"), refresh_per_second=4, transient=False,
            )
            self._task = self._progress.add_task(description, total=total, info=self.line())
            self._progress.start()

    def add_total(self, n: int) -> None:
        """``n`` more calls to make (a new round, or rows whose count became known)."""
        self.total = (self.total or 0) + n
        if self._progress is not None:
            self._progress.update(self._task, total=self.total)

    def advance(self, failed: bool = False, cost: float | None = None, n: int = 1) -> None:
        """``n`` finished (``failed``: without a usable verdict/answer; ``cost``: dollars newly spent)."""
        self.done += n
        if failed:
            self.failed += n
        if cost is not None:
            self.spent_usd += cost
            self.priced = True
        if self._progress is not None:
            now = self._clock()
            if now - self._last_refresh >= 0.1 or (self.total is not None and self.done >= self.total):
                self._last_refresh = now
                self._progress.update(self._task, completed=self.done, info=self.line())

    def stats(self) -> dict[str, Any]:
        """done, total, failed, rate (per second), eta_s, spent_usd and projected_usd (None when unknown)."""
        elapsed = max(self._clock() - self._start, 1e-9)
        rate = self.done / elapsed if self.done else 0.0
        remaining = None if self.total is None else max(self.total - self.done, 0)
        eta = None if remaining is None or rate <= 0 else remaining / rate
        projected = None
        if self.priced and self.done and self.total is not None:
            projected = self.spent_usd / self.done * max(self.total, self.done)
        return {"done": self.done, "total": self.total, "failed": self.failed, "rate": rate, "eta_s": eta,
                "spent_usd": self.spent_usd if self.priced else None, "projected_usd": projected}

    def line(self) -> str:
        """``"12.3/s  ETA 0:01:05  failed 2  spent $0.41 (projected $1.90)"``."""
        st = self.stats()
        text = f"{st['rate']:.1f}/s  ETA {_duration(st['eta_s'])}  failed {st['failed']}"
        if st["spent_usd"] is not None:
            text += f"  spent ${st['spent_usd']:.2f}"
            if st["projected_usd"] is not None:
                text += f" (projected ${st['projected_usd']:.2f})"
        return text

    def close(self) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=self.done, info=self.line())
            self._progress.stop()
