"""Requests-per-minute and tokens-per-minute limits over a sliding 60-second window."""

from __future__ import annotations

import asyncio
import time
from collections import deque


class RateLimiter:
    """Waits until one more request of ``tokens`` fits in the last minute's budget.

    >>> limiter = RateLimiter(rpm=None, tpm=None)
    >>> limiter.enabled
    False
    """

    window = 60.0

    def __init__(self, rpm: int | None, tpm: int | None, clock=time.monotonic):
        self.rpm, self.tpm = rpm, tpm
        self._events: deque[tuple[float, int]] = deque()
        self._tokens = 0
        self._lock = asyncio.Lock()
        self._clock = clock

    @property
    def enabled(self) -> bool:
        return bool(self.rpm or self.tpm)

    def _expire(self, now: float) -> None:
        while self._events and now - self._events[0][0] >= self.window:
            _, t = self._events.popleft()
            self._tokens -= t

    def _wait_needed(self, now: float, tokens: int) -> float:
        self._expire(now)
        waits = [0.0]
        if self.rpm and len(self._events) >= self.rpm:
            waits.append(self._events[len(self._events) - self.rpm][0] + self.window - now)
        if self.tpm and self._events and self._tokens + tokens > self.tpm:
            excess, acc = self._tokens + tokens - self.tpm, 0
            for t0, t in self._events:
                acc += t
                if acc >= excess:
                    waits.append(t0 + self.window - now)
                    break
        return max(waits)

    async def acquire(self, tokens: int = 0) -> None:
        if not self.enabled:
            return
        async with self._lock:
            while (wait := self._wait_needed(self._clock(), tokens)) > 0:
                await asyncio.sleep(wait)
            self._events.append((self._clock(), tokens))
            self._tokens += tokens
