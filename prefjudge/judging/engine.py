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
import math
import random
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

from prefjudge.backends import Backend, CallParams, create_backend
from prefjudge.backends.errors_map import MAX_RETRY_AFTER_S, MAX_RETRY_WAIT_S, clamp_retry_after
from prefjudge.errors import BackendError, PermanentBackendError, TransientBackendError
from prefjudge.judging.ratelimit import RateLimiter
from prefjudge.judging.store import Store, request_hash
from prefjudge.secrets import redact, register_secret
from prefjudge.types import Completion

if TYPE_CHECKING:
    from prefjudge.backends.endpoint import Endpoint
    from prefjudge.backends.endpoint import EndpointSettings as Caller  # a Judge or a Generator: named, with an endpoint
    from prefjudge.judging.budget import Budget
    from prefjudge.judging.templates import Template

log = logging.getLogger("prefjudge")
_timeout = getattr(asyncio, "timeout", None)  # 3.11+: a deadline without an extra task per call
__all__ = ["Engine", "CallOutcome", "endpoint_slot", "retry_wait", "usable", "MAX_RETRY_AFTER_S", "MAX_RETRY_WAIT_S"]


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
    skipped: str | None = None
    """Why the call was not made (a budget: ``"budget: max_calls=100"``); ``error`` says the same."""


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, BackendError) and exc.transient


def retry_wait(exc: BaseException | None, retry: int, initial: float, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number ``retry`` (1: before the second attempt).

    The server's Retry-After when it is a finite number (clamped to [0, MAX_RETRY_AFTER_S]), else
    ``initial * 2**(retry-1)`` plus up to ``initial`` of jitter, at most MAX_RETRY_WAIT_S. Always finite.

    >>> retry_wait(None, 1, 0.5, rng=lambda: 0.0), retry_wait(None, 20, 0.5, rng=lambda: 1.0)
    (0.5, 30.0)
    """
    retry_after = clamp_retry_after(getattr(exc, "retry_after", None))
    if retry_after is not None:
        return retry_after
    initial = initial if isinstance(initial, (int, float)) and math.isfinite(initial) and initial > 0 else 0.5
    backoff = initial * 2.0 ** min(max(retry - 1, 0), 64) + initial * rng()
    return min(backoff, MAX_RETRY_WAIT_S)


class _Wait:
    """tenacity's wait: :func:`retry_wait` of the last error (tenacity's attempt 1 is our second)."""

    def __init__(self, initial: float):
        self._initial = initial

    def first(self, exc: BaseException) -> float:
        """The wait before the second attempt (the first one ran outside tenacity)."""
        return retry_wait(exc, 1, self._initial)

    def __call__(self, state) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return retry_wait(exc, state.attempt_number + 1, self._initial)


def endpoint_slot(endpoint: Endpoint) -> str:
    """Who shares a client, a concurrency limit and the rpm/tpm windows: the backend, the model, the
    URL (as given and as the client resolves it), a hash of the API key (never the key) and the
    client options (``extra_headers``/``extra_query`` values, hashed). Not the judge's name.

    >>> from prefjudge.backends.endpoint import Endpoint
    >>> a = Endpoint(model="m", base_url="http://127.0.0.1:9/v1", api_key="k1", label="judge-1")
    >>> endpoint_slot(a) == endpoint_slot(a.model_copy(update={"label": "judge-2"}))
    True
    >>> endpoint_slot(a) == endpoint_slot(Endpoint(model="m", base_url="http://127.0.0.1:9/v1", api_key="k2"))
    False
    """
    import hashlib

    from prefjudge.errors import ConfigError

    try:
        key = endpoint.resolved_api_key()
    except ConfigError:
        key = None
    if key is None and endpoint.backend == "openai":
        import os

        key = os.environ.get("OPENAI_API_KEY")
    options = {k: endpoint.params.get(k) for k in ("extra_headers", "extra_query") if endpoint.params.get(k)}
    ident = json.dumps([endpoint.backend, endpoint.model, endpoint.base_url, endpoint.where(),
                        hashlib.sha256((key or "").encode()).hexdigest() if key is not None else None,
                        options], sort_keys=True, default=str)
    return hashlib.sha256(ident.encode()).hexdigest()[:24]


def usable(completion: Completion, params: CallParams) -> str | None:
    """None when ``completion`` can be used (non-blank text, or top logprobs when they were asked
    for), else what is missing. Only usable completions are stored as finished calls.

    >>> usable(Completion(text="", finish_reason="length"), CallParams())
    'no usable completion: empty text (finish_reason=length)'
    """
    if completion.text.strip():
        return None
    if params.logprobs:
        if completion.top_logprobs:
            return None
        return f"no usable completion: empty text and no logprobs (finish_reason={completion.finish_reason})"
    return f"no usable completion: empty text (finish_reason={completion.finish_reason})"


class Engine:
    """Runs calls for many judges at once: one per run of ``rank_pairs``/``generate``, one for every
    round of ``rank_responses``.

    A backend client, a concurrency semaphore and a :class:`RateLimiter` belong to an endpoint, not
    to a judge: judges on the same backend, model, URL and key (and client options) share one
    client and one rpm/tpm window, so two judges of one account cannot exceed its limits together.
    Their limits are the tightest of the judges registered with :meth:`register` (``max_concurrency``,
    ``rpm``, ``tpm``) and the client's timeout the longest. A :class:`~prefjudge.judging.budget.Budget`,
    when given, is asked before every call that is not in the store.
    """

    def __init__(self, store: Store, budget: Budget | None = None):
        self.store = store
        self.budget = budget
        self._backends: dict[str, Backend] = {}
        self._sems: dict[str, asyncio.Semaphore] = {}
        self._limiters: dict[str, RateLimiter] = {}
        self._specs: dict[str, Endpoint] = {}
        self._judges: dict[int, tuple[Caller, str, str, bool]] = {}  # id -> (judge kept alive, judge key, slot, priced)
        self._key_prefix: dict[tuple, tuple[CallParams, str]] = {}
        self._params: dict[str, CallParams] = {}
        self._templates: dict[str, Template] = {}
        self._secrets: set[str] = set()
        self.calls_made = 0
        self.calls_cached = 0
        self.cost_usd = 0.0
        """Dollars spent by the calls this engine made (priced calls only; read from the store: free)."""

    def _info(self, judge: Caller) -> tuple[Caller, str, str, bool]:
        info = self._judges.get(id(judge))
        if info is None or info[0] is not judge:
            endpoint = judge.endpoint
            for value in endpoint.secrets():
                register_secret(value)
                self._secrets.add(value)
            info = (judge, f"{judge.backend}\x1f{judge.model}\x1f{judge.base_url}\x1f{judge.name}",
                    endpoint_slot(endpoint), endpoint.priced)
            self._judges[id(judge)] = info
        return info

    def _slot(self, judge: Caller) -> str:
        """The judge's own key (its parameters and request prefix; not shared with another judge)."""
        return self._info(judge)[1]

    def slot(self, judge: Caller) -> str:
        """The endpoint key the judge's client, semaphore and rate limiter are shared under."""
        return self._info(judge)[2]

    def register(self, judges: list[Caller]) -> None:
        """Declare the run's judges before the first call, so that judges sharing an endpoint share
        its tightest limits. Judges met later without registering get their own settings."""
        groups: dict[str, list[Caller]] = {}
        for judge in judges:
            groups.setdefault(self.slot(judge), []).append(judge)
        for slot, members in groups.items():
            if slot in self._specs:
                continue
            first = members[0].endpoint
            conc = min(j.max_concurrency for j in members)
            rpm = min((j.rpm for j in members if j.rpm), default=None)
            tpm = min((j.tpm for j in members if j.tpm), default=None)
            timeout = max(j.timeout for j in members)
            self._specs[slot] = first.model_copy(update={"max_concurrency": conc, "rpm": rpm, "tpm": tpm, "timeout": timeout})
            if len(members) > 1:
                log.debug("judges %s share one endpoint (client, max_concurrency=%s, rpm=%s, tpm=%s)",
                          [j.name for j in members], conc, rpm, tpm)

    def backend(self, judge: Caller) -> Backend:
        slot = self.slot(judge)
        if slot not in self._backends:
            spec = self._specs.setdefault(slot, judge.endpoint)
            self._backends[slot] = create_backend(spec)
            self._sems[slot] = asyncio.Semaphore(spec.max_concurrency)
            self._limiters[slot] = RateLimiter(spec.rpm, spec.tpm)
        return self._backends[slot]

    def limiter(self, judge: Caller) -> RateLimiter:
        """The rpm/tpm limiter of the judge's endpoint (shared with the judges on the same endpoint)."""
        self.backend(judge)
        return self._limiters[self.slot(judge)]

    def max_concurrency(self, judges: list[Caller]) -> int:
        """Calls these judges may have in flight at once: the sum over their distinct endpoints."""
        self.register(judges)
        return sum(self._specs[s].max_concurrency for s in {self.slot(j) for j in judges})

    def request(self, judge: Caller, messages: list[dict], params: CallParams, kind: str) -> tuple[str, str]:
        """(request hash, request JSON): backend, endpoint (credentials stripped; only when not the
        default, so keys of hosted APIs are unchanged), model, parameters (``extra_headers`` left out),
        template content hash, kind, rendered messages.

        The per-judge part is encoded once per run; the JSON is also what the store records.
        """
        slot = (self._slot(judge), id(params), kind)
        cached = self._key_prefix.get(slot)
        template = self.template(judge) if kind != "generate" else None
        if cached is None or cached[0] is not params or cached[2] is not template:  # params are kept: ids stay unique
            dumped = params.model_dump(mode="json")
            dumped["extra"].pop("extra_headers", None)  # may hold secrets; they do not decide the answer
            call = {"backend": judge.backend, "model": judge.model, "params": dumped,
                    "template": template.sha256 if template is not None else None, "kind": kind}
            where = judge.endpoint.where()
            if where is not None:
                call["endpoint"] = where
            cached = self._key_prefix[slot] = (params, json.dumps(call, sort_keys=True), template)
        body = '{"call":' + cached[1] + ',"messages":' + json.dumps(messages, ensure_ascii=False, separators=(",", ":")) + "}"
        return request_hash(body), body

    def template(self, judge: Caller) -> Template:
        """The judge's template, loaded once per run (keyed by its name or path): every call of the run
        renders, hashes and parses with the same template, without looking at its file again. A file
        edited during a run is read again by the next run (the next Engine)."""
        name = judge.template  # type: ignore[attr-defined]
        template = self._templates.get(name)
        if template is None:
            template = self._templates[name] = judge.load_template()  # type: ignore[attr-defined]
        return template

    def params(self, judge: Caller) -> CallParams:
        """The judge's call parameters, built once per run."""
        slot = self._slot(judge)
        if slot not in self._params:
            self._params[slot] = judge.call_params()
        return self._params[slot]

    async def complete(self, judge: Caller, messages: list[dict], params: CallParams, *, kind: str = "judge") -> CallOutcome:
        """One call through the cache, the budget, the judge's limits and the retry policy.

        Never raises for a failed call (only for cancellation and a broken store): a backend error, a
        bug in a backend or an unusable completion comes back as the outcome's (redacted) error; a
        call the budget refuses comes back with ``skipped`` set and is not made.
        """
        key, request_json = self.request(judge, messages, params, kind)
        hit = self.store.get(key)
        if hit is not None and usable(hit[0], params) is None:  # an old store's empty reply is called again
            self.calls_cached += 1
            completion, info = hit
            return CallOutcome(completion, None, info["latency_s"], info["cost_usd"], True, 0, key)
        _, _, slot, priced = self._info(judge)
        chars = sum(len(c) for m in messages if isinstance(c := m.get("content"), str))
        if self.budget is None:
            return await self._call(judge, messages, params, kind, key, request_json, slot, priced, chars)
        reservation = await self.budget.reserve(judge, chars, params.max_tokens)
        if isinstance(reservation, str):
            return CallOutcome(None, reservation, None, None, False, 0, key, skipped=reservation)
        try:
            outcome = await self._call(judge, messages, params, kind, key, request_json, slot, priced, chars)
        except BaseException:  # cancelled (or a broken store) in flight: it may have been sent, count its estimate
            self.budget.settle(reservation, reservation.est_usd)
            raise
        self.budget.settle(reservation, outcome.cost_usd)
        return outcome

    async def _call(self, judge: Caller, messages: list[dict], params: CallParams, kind: str, key: str,
                    request_json: str, slot: str, priced: bool, chars: int) -> CallOutcome:
        backend = self.backend(judge)
        sem, limiter = self._sems[slot], self._limiters[slot]
        est_tokens = chars // 4 + params.max_tokens
        attempts = 1
        try:
            try:  # the first attempt runs outside tenacity: most calls need no retry, and it costs
                await limiter.acquire(est_tokens)
                completion, latency = await self._attempt(backend, sem, judge, messages, params)
            except BackendError as first_error:
                if not first_error.transient or judge.max_retries == 0:
                    raise
                completion, latency, attempts = await self._retry(backend, sem, limiter, judge, messages, params, est_tokens, first_error)
            problem = usable(completion, params)
            if problem is not None:
                raise PermanentBackendError(problem)
        except BackendError as exc:
            attempts = getattr(exc, "attempts", attempts)
            error = redact(f"{type(exc).__name__} after {attempts} attempt(s): {exc}", self._secrets)
            log.warning("call failed for good (%s, %s): %s", judge.name, kind, error)
            self.store.put_failure(key, kind=kind, model=judge.model, error=error, attempts=attempts)
            return CallOutcome(None, error, None, None, False, attempts, key)
        self.calls_made += 1
        cost = (judge.endpoint.call_cost(completion.prompt_tokens, completion.completion_tokens,
                                         completion.cached_prompt_tokens) if priced else None)
        if cost is not None:
            self.cost_usd += cost
        self.store.put(key, kind=kind, backend=judge.backend, model=judge.model,
                       request_json=request_json,
                       completion=completion, latency_s=latency, cost_usd=cost)
        return CallOutcome(completion, None, latency, cost, False, attempts, key)

    async def _retry(self, backend, sem, limiter, judge: Caller, messages, params, est_tokens: int,
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

    async def _attempt(self, backend: Backend, sem: asyncio.Semaphore, judge: Caller, messages, params) -> tuple[Completion, float]:
        """One attempt. A non-prefjudge exception from the backend (a bug, a parsing error) is logged
        with its traceback and becomes a PermanentBackendError; cancellation propagates."""
        async with sem:
            t0 = time.perf_counter()
            try:
                if _timeout is not None:
                    async with _timeout(judge.timeout):
                        completion = await backend.complete(messages, params)
                else:  # Python 3.10
                    completion = await asyncio.wait_for(backend.complete(messages, params), judge.timeout)
                if not isinstance(completion, Completion):
                    raise TypeError(f"backend {judge.backend!r} returned {type(completion).__name__}, not a Completion")
            except asyncio.TimeoutError as exc:
                raise TransientBackendError(f"no answer within {judge.timeout:g} s") from exc
            except BackendError:
                raise
            except Exception as exc:  # never aborts the run, never silently swallowed
                detail = redact(f"{type(exc).__name__}: {exc} (unexpected, in backend {judge.backend!r})", self._secrets)
                trace = redact("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)), self._secrets)
                log.error("%s (%s)\n%s", detail, judge.name, trace)
                raise PermanentBackendError(detail) from exc
            return completion, time.perf_counter() - t0

    async def aclose(self) -> None:
        for backend in self._backends.values():
            try:
                await backend.aclose()
            except Exception as exc:  # closing must not hide the run's result
                log.debug("closing backend failed: %s", exc)
