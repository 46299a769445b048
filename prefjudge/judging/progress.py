"""A progress bar (rate, ETA, failures) on stderr, shown when stderr is a terminal or when asked."""

from __future__ import annotations

import sys


class ProgressBar:
    def __init__(self, total: int, description: str, enabled: bool | None = None):
        self.failed = 0
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._progress = None
        if self.enabled and total:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("[progress.percentage]{task.percentage:>3.0f}%"),
                TextColumn("{task.fields[rate]}/s"), TimeRemainingColumn(), TextColumn("failed: {task.fields[failed]}"),
                refresh_per_second=4, transient=False,
            )
            self._task = self._progress.add_task(description, total=total, failed=0, rate="0.0")
            self._progress.start()

    def advance(self, failed: bool = False) -> None:
        if failed:
            self.failed += 1
        if self._progress is not None:
            task = self._progress.tasks[0]
            speed = task.speed or 0.0
            self._progress.update(self._task, advance=1, failed=self.failed, rate=f"{speed:.1f}")

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
