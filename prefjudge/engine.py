"""The engine: caching, concurrency, rate limits and retries for every backend call.

Nobody else sleeps, retries or touches the store. One tenacity policy retries only transient
errors (429 honouring Retry-After, 5xx, timeouts, connection errors) with exponential backoff and
jitter; a call that fails for good comes back as a :class:`CallOutcome` with its error, so the run
goes on. Finished calls are read from the store instead of being made again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from .backends import Backend, CallParams, create_backend
from .cost import cost_usd
from .errors import BackendError, TransientBackendError
from .ratelimit import RateLimiter
from .store import Store, request_hash
from .types import Completion

if TYPE_CHECKING:
    from .judge import Judge

log = logging.getLogger("prefjudge")
_timeout = getattr(asyncio, "timeout", None)  # 3.11+: a deadline without an extra task per call
MAX_RETRY_AFTER_S = 60.0


@dataclass
class CallOutcome:
    """One finished call: a completion, or the error that ended it (never both missing)."""

    completion: Completion | None
    error: str | None
    latency_s: float | None
    cost_usd: float | None
    cached: bool
    attempts: int
    key: str


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, BackendError) and exc.transient


class _Wait:
    """Retry-After when the server sent one, else exponential backoff with jitter."""

    def __init__(self, initial: float):
        # tenacity counts attempts from the second one here, so the backoff starts at 2 x initial
        self._backoff = wait_exponential_jitter(initial=2 * initial, max=30.0, jitter=initial)

        self._initial = initial

    def first(self, exc: BaseException) -> float:
        """The wait before the second attempt (the first one ran outside tenacity)."""
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return min(float(retry_after), MAX_RETRY_AFTER_S)
        return self._initial * (1 + random.random())

    def __call__(self, state) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return min(float(retry_after), MAX_RETRY_AFTER_S)
        return self._backoff(state)


class Engine:
    """Runs calls for many judges at once; one per run of ``rank_pairs``/``generate``."""

    def __init__(self, store: Store):
        self.store = store
        self._backends: dict[str, Backend] = {}
        self._sems: dict[str, asyncio.Semaphore] = {}
        self._limiters: dict[str, RateLimiter] = {}
        self._key_prefix: dict[tuple, tuple[CallParams, str]] = {}
        self._params: dict[str, CallParams] = {}
        self.calls_made = 0
        self.calls_cached = 0

    def _slot(self, judge: Judge) -> str:
        return f"{judge.backend}\x1f{judge.model}\x1f{judge.base_url}\x1f{judge.name}"

    def backend(self, judge: Judge) -> Backend:
        slot = self._slot(judge)
        if slot not in self._backends:
            self._backends[slot] = create_backend(judge)
            self._sems[slot] = asyncio.Semaphore(judge.max_concurrency)
            self._limiters[slot] = RateLimiter(judge.rpm, judge.tpm)
        return self._backends[slot]

    def request(self, judge: Judge, messages: list[dict], params: CallParams, kind: str) -> tuple[str, str]:
        """(request hash, request JSON): backend, model, parameters, template, rendered messages.

        The per-judge part is encoded once per run; the JSON is also what the store records.
        """
        slot = (self._slot(judge), id(params), kind)
        cached = self._key_prefix.get(slot)
        if cached is None or cached[0] is not params:  # the params object is kept, so its id stays unique
            template = judge.load_template().sha256 if kind != "generate" else None
            prefix = json.dumps({"backend": judge.backend, "model": judge.model, "params": params.model_dump(mode="json"),
                                 "template": template, "kind": kind}, sort_keys=True)
            cached = self._key_prefix[slot] = (params, prefix)
        body = '{"call":' + cached[1] + ',"messages":' + json.dumps(messages, ensure_ascii=False, separators=(",", ":")) + "}"
        return request_hash(body), body

    def params(self, judge: Judge) -> CallParams:
        """The judge's call parameters, built once per run."""
        slot = self._slot(judge)
        if slot not in self._params:
            self._params[slot] = judge.call_params()
        return self._params[slot]

    async def complete(self, judge: Judge, messages: list[dict], params: CallParams, *, kind: str = "judge") -> CallOutcome:
        """One call through the cache, the judge's limits and the retry policy."""
        key, request_json = self.request(judge, messages, params, kind)
        hit = self.store.get(key)
        if hit is not None:
            self.calls_cached += 1
            completion, info = hit
            return CallOutcome(completion, None, info["latency_s"], info["cost_usd"], True, 0, key)
        backend = self.backend(judge)
        slot = self._slot(judge)
        sem, limiter = self._sems[slot], self._limiters[slot]
        est_tokens = sum(len(m.get("content") or "") for m in messages) // 4 + params.max_tokens
        attempts = 1
        try:
            try:  # the first attempt runs outside tenacity: most calls need no retry, and it costs
                await limiter.acquire(est_tokens)
                completion, latency = await self._attempt(backend, sem, judge, messages, params)
            except BackendError as first_error:
                if not first_error.transient or judge.max_retries == 0:
                    raise
                completion, latency, attempts = await self._retry(backend, sem, limiter, judge, messages, params, est_tokens, first_error)
        except BackendError as exc:
            attempts = getattr(exc, "attempts", attempts)
            error = f"{type(exc).__name__} after {attempts} attempt(s): {exc}"
            log.warning("call failed for good (%s, %s): %s", judge.name, kind, error)
            self.store.put_failure(key, kind=kind, model=judge.model, error=error, attempts=attempts)
            return CallOutcome(None, error, None, None, False, attempts, key)
        self.calls_made += 1
        cost = cost_usd(judge.model, completion.prompt_tokens, completion.completion_tokens) if judge.priced else None
        self.store.put(key, kind=kind, backend=judge.backend, model=judge.model,
                       request_json=request_json,
                       completion=completion, latency_s=latency, cost_usd=cost)
        return CallOutcome(completion, None, latency, cost, False, attempts, key)

    async def _retry(self, backend, sem, limiter, judge: Judge, messages, params, est_tokens: int,
                     first_error: BackendError) -> tuple[Completion, float, int]:
        """Attempts 2..max_retries+1 under the one tenacity policy (transient errors only)."""
        attempts = 1
        wait = _Wait(judge.retry_wait_s)
        await asyncio.sleep(wait.first(first_error))
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(judge.max_retries), wait=wait,
                retry=retry_if_exception(_is_transient), reraise=True,
            ):
                with attempt:
                    attempts += 1
                    await limiter.acquire(est_tokens)
                    completion, latency = await self._attempt(backend, sem, judge, messages, params)
        except BackendError as exc:
            exc.attempts = attempts  # type: ignore[attr-defined]
            raise
        return completion, latency, attempts

    @staticmethod
    async def _attempt(backend: Backend, sem: asyncio.Semaphore, judge: Judge, messages, params) -> tuple[Completion, float]:
        async with sem:
            t0 = time.perf_counter()
            try:
                if _timeout is not None:
                    async with _timeout(judge.timeout):
                        completion = await backend.complete(messages, params)
                else:  # Python 3.10
                    completion = await asyncio.wait_for(backend.complete(messages, params), judge.timeout)
            except asyncio.TimeoutError as exc:
                raise TransientBackendError(f"no answer within {judge.timeout:g} s") from exc
            return completion, time.perf_counter() - t0

    async def aclose(self) -> None:
        for backend in self._backends.values():
            try:
                await backend.aclose()
            except Exception as exc:  # closing must not hide the run's result
                log.debug("closing backend failed: %s", exc)
