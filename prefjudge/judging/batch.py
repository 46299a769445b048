"""Half-price asynchronous judging through provider batch APIs: the batch layer prefills the store.

::

    engine = Engine(store)
    requests = [BatchRequest(judge, judge.render(pair, order), engine.params(judge)) for ...]
    summary = await prefill(engine, requests)      # submit, wait, write every result to the store
    log.info("%s", summary)
    ...                                            # the normal engine path: every call is a cache hit

Each request is hashed exactly as :meth:`Engine.request <prefjudge.judging.engine.Engine.request>`
hashes it and that hash is its ``custom_id``, so a result lands under the key the engine looks up.
Requests already finished in the store are skipped; the rest are grouped by endpoint (provider and
base URL) and submitted in batches. Every batch is recorded in the store *before* it is sent and
again with the provider's id as soon as it exists, then polled until it ends (or until ``timeout_s``:
it stays recorded and the next call polls it). Completions go to the store with ``Store.put`` at the
batch price (``price_factor`` times the list price), per-request errors with ``Store.put_failure``.
Requests an expired, cancelled or partly failed batch did not answer are submitted again, alone.

Resuming: a killed process loses nothing. The next call polls the batches recorded as not collected
(never submitting again a request whose batch is still running or finished), reads their results,
and submits only what no batch holds. :func:`batch_provider` says which API an endpoint uses.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from pydantic import BaseModel, Field

from prefjudge.backends.base import CallParams
from prefjudge.backends.errors_map import map_exception
from prefjudge.backends.pricing import cost_usd
from prefjudge.errors import ConfigError, InputError, StoreError
from prefjudge.judging.batching.base import PROVIDERS, BatchProvider, BatchState, ResultLine, custom_id_for, read_request
from prefjudge.judging.engine import usable
from prefjudge.secrets import redact, register_secret

if TYPE_CHECKING:
    from prefjudge.backends.endpoint import Endpoint
    from prefjudge.judging.engine import Engine
    from prefjudge.types import Completion

log = logging.getLogger("prefjudge")

Provider = Literal["openai", "anthropic"]
DEFAULT_POLL_INTERVAL_S = 30.0
DEFAULT_TIMEOUT_S = 25 * 3600.0
"""The providers' 24 h completion window and an hour more: past it, prefill returns (batches stay recorded)."""
STALE_CLAIM_S = 600.0
"""A batch recorded but never given a provider id (a process killed while submitting) is given up
after this long when the provider cannot find it; its requests are then submitted again."""
_KEEP = 20
"""How many error and problem messages a summary keeps (the counts are complete)."""
_RETRY_STATES = ("retry", "expired", "cancelled", "missing")


class BatchRequest(NamedTuple):
    """One call to prefill: what :meth:`Engine.complete` would be given."""

    caller: Any
    """A Judge or a Generator (anything with the endpoint fields and a name)."""
    messages: list[dict]
    params: CallParams
    kind: str = "judge"


class BatchInfo(BaseModel):
    """One batch this call submitted or polled."""

    provider: str
    endpoint: str
    batch_id: str | None
    status: str
    requests: int
    resumed: bool = False
    """Recorded by an earlier call (a killed or timed-out run) and polled by this one."""


class BatchSummary(BaseModel):
    """What :func:`prefill` did; ``str(summary)`` is one line for a log."""

    requested: int = 0
    """Distinct requests given (by request hash)."""
    reused_from_store: int = 0
    """Already finished in the store: not submitted."""
    submitted: int = 0
    """Requests sent in new batches by this call (a request sent twice counts twice)."""
    resubmitted: int = 0
    """Of ``submitted``: requests sent again because their batch expired, was cancelled or failed them."""
    awaited: int = 0
    """Requests not submitted because a batch recorded earlier already holds them."""
    resumed_batches: int = 0
    """Batches recorded earlier (not collected) that this call polled."""
    succeeded: int = 0
    """Completions written to the store (from any batch this call collected)."""
    failed: int = 0
    """Requests that ended without a usable completion (recorded as failures; the engine calls them live)."""
    pending: int = 0
    """Requests in batches still running when this call returned (``timed_out``); the next call polls them."""
    not_submitted: int = 0
    """Requests whose batch could not be created (see ``problems``)."""
    timed_out: bool = False
    cost_usd: float | None = None
    """Cost of the completions written, at the batch price (None when no price is known)."""
    price_factor: float = 0.5
    batch_ids: list[str] = Field(default_factory=list)
    batches: list[BatchInfo] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    """The first per-request errors (``failed`` counts them all)."""
    problems: list[str] = Field(default_factory=list)
    """The first things that went wrong outside a request: unreadable result lines, unknown custom_ids,
    batches that could not be created or polled."""
    n_problems: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        parts = [f"batch prefill: {self.requested} request(s)", f"{self.reused_from_store} already in the store"]
        if self.submitted:
            parts.append(f"{self.submitted} submitted" + (f" ({self.resubmitted} again)" if self.resubmitted else ""))
        if self.awaited or self.resumed_batches:
            parts.append(f"{self.awaited} awaited in {self.resumed_batches} resumed batch(es)")
        parts.append(f"{self.succeeded} succeeded, {self.failed} failed, {self.pending} pending")
        if self.not_submitted:
            parts.append(f"{self.not_submitted} not submitted")
        ids = ", ".join(self.batch_ids[:5]) + (f" +{len(self.batch_ids) - 5}" if len(self.batch_ids) > 5 else "")
        parts.append(f"{len(self.batch_ids)} batch(es)" + (f" [{ids}]" if ids else ""))
        if self.cost_usd is not None:
            parts.append(f"${self.cost_usd:.4f} at {self.price_factor:g}x list price")
        parts.append(f"{self.seconds:.0f} s")
        if self.timed_out:
            parts.append("TIMED OUT: rerun to collect the pending batches")
        if self.n_problems:
            parts.append(f"{self.n_problems} problem(s), first: {self.problems[0]}")
        return "; ".join(parts)


def batch_provider(caller: Any) -> Provider:
    """The batch API an endpoint uses by default.

    - ``backend="openai"``: the OpenAI Batch API at its base_url (OpenAI when none; any server that
      implements ``/v1/files`` and ``/v1/batches``: Azure OpenAI's v1 API, compatible providers).
    - ``backend="litellm"``: Anthropic Message Batches for ``anthropic/...`` (and bare ``claude...``)
      models; otherwise the OpenAI Batch API (at base_url, which other litellm providers need).
    - anything else (a local ``transformers`` model): ConfigError, there is no batch API.

    >>> from prefjudge.judging.judge import Judge
    >>> batch_provider(Judge("gpt-4o-mini")), batch_provider(Judge("anthropic/claude-3-5-haiku-latest", backend="litellm"))
    ('openai', 'anthropic')
    """
    backend, model = caller.backend, caller.model
    if backend == "openai":
        return "openai"
    if backend == "litellm":
        prefix = model.split("/", 1)[0] if "/" in model else ""
        if prefix == "anthropic" or (not prefix and model.startswith("claude")):
            return "anthropic"
        if prefix not in ("", "openai", "text-completion-openai") and caller.base_url is None:
            raise ConfigError(f"judge {getattr(caller, 'name', model)!r}: litellm provider {prefix!r} has no batch API "
                              "prefjudge knows; give base_url= of its OpenAI-compatible batch API, or provider=")
        return "openai"
    raise ConfigError(f"judge {getattr(caller, 'name', model)!r}: backend {backend!r} has no batch API; batch judging "
                      "needs an 'openai' or 'litellm' endpoint")


def _adapter(provider: str, endpoint: Endpoint, completion_window: str) -> BatchProvider:
    if provider == "anthropic":
        from prefjudge.judging.batching.anthropic_api import AnthropicBatches

        return AnthropicBatches(endpoint)
    from prefjudge.judging.batching.openai_api import OpenAIBatches

    return OpenAIBatches(endpoint, completion_window=completion_window)


@dataclass
class _Group:
    """The requests of one account: one provider at one base URL with one key."""

    provider: str
    where: str
    endpoint: Endpoint
    identity: tuple
    adapter: BatchProvider
    todo: dict[str, tuple[str, str, str, str]] = field(default_factory=dict)
    """key -> (kind, backend, model, request JSON), waiting for submission."""
    checked: set = field(default_factory=set)


@dataclass
class _Watched:
    record: str
    batch_id: str
    group: _Group
    requests: int
    info: BatchInfo
    poll_error: str | None = None


class _Run:
    def __init__(self, engine: Engine, *, provider: Provider | Mapping[str, Provider] | None, poll_interval_s: float,
                 timeout_s: float, price_factor: float, max_submissions: int, max_batch_requests: int | None,
                 completion_window: str):
        self.engine, self.store = engine, engine.store
        self.provider = provider
        self.poll_interval_s, self.timeout_s = poll_interval_s, timeout_s
        self.price_factor, self.max_submissions = price_factor, max_submissions
        self.max_batch_requests, self.window = max_batch_requests, completion_window
        self.summary = BatchSummary(price_factor=price_factor)
        self.groups: dict[tuple[str, str], _Group] = {}
        self.watch: list[_Watched] = []
        self.watched: set[str] = set()
        self.requested: set[str] = set()
        self.submissions: dict[str, int] = {}
        self.retry: dict[tuple[str, str], list[tuple[str, str, str, str, str]]] = {}
        self.secrets: set[str] = set()
        self._endpoints: dict[int, tuple[Any, Endpoint]] = {}
        self._priced: dict[tuple, bool] = {}
        self.seen: set[str] = set()
        self.elsewhere: dict[str, int] = {}
        """Records another process may be creating right now (no provider id yet) -> their request count."""
        self._cost = 0.0
        self._priced_any = False

    # ------------------------------------------------------------------ bookkeeping
    def problem(self, message: str) -> None:
        message = redact(message, self.secrets)
        log.warning("batch: %s", message)
        self.summary.n_problems += 1
        if len(self.summary.problems) < _KEEP:
            self.summary.problems.append(message)

    def error(self, message: str) -> None:
        if len(self.summary.errors) < _KEEP:
            self.summary.errors.append(redact(message, self.secrets))

    def _endpoint(self, caller: Any) -> Endpoint:
        held = self._endpoints.get(id(caller))
        if held is None or held[0] is not caller:
            held = self._endpoints[id(caller)] = (caller, caller.endpoint)
        return held[1]

    def _provider_of(self, caller: Any) -> str:
        chosen = self.provider
        if isinstance(chosen, Mapping):
            chosen = chosen.get(caller.name)
        if chosen is None:
            return batch_provider(caller)
        if chosen not in PROVIDERS:
            raise ConfigError(f"provider must be one of {', '.join(PROVIDERS)}, not {chosen!r}")
        return chosen

    # ------------------------------------------------------------------ groups and resuming
    async def group(self, caller: Any) -> _Group:
        endpoint = self._endpoint(caller)
        provider = self._provider_of(caller)
        where = endpoint.where() or "default"
        secrets = endpoint.secrets()
        identity = (endpoint.resolved_api_key(), repr(sorted((endpoint.params.get("extra_headers") or {}).items())))
        found = self.groups.get((provider, where))
        if found is not None:
            if found.identity != identity:
                raise ConfigError(f"judge {endpoint.label or endpoint.model!r}: another judge on {provider} at {where} uses "
                                  "another key or other headers; batch judging needs one account per endpoint URL")
            return found
        for value in secrets:
            register_secret(value)
        self.secrets |= secrets
        group = _Group(provider, where, endpoint, identity, _adapter(provider, endpoint, self.window))
        self.groups[(provider, where)] = group
        await self.resume(group)
        return group

    async def resume(self, group: _Group) -> None:
        """Watch the batches an earlier call recorded for this account and did not collect."""
        for rec in self.store.batch_records(open_only=True, provider=group.provider, endpoint=group.where):
            batch_id = rec["batch_id"]
            if batch_id is None:
                batch_id = await self._find(group, rec["id"], rec["created_at"])
                if batch_id is None:
                    if time.time() - rec["updated_at"] < STALE_CLAIM_S:
                        self.elsewhere[rec["id"]] = rec["n_requests"]  # another process may be creating it: its requests stay claimed
                        continue
                    self.problem(f"batch record {rec['id']} ({group.provider}, {rec['n_requests']} requests) never got "
                                 "a provider id (killed while submitting?) and the provider cannot find it: given up, "
                                 "its requests are submitted again")
                    self.give_up(rec["id"], "abandoned")
                    continue
                self.store.update_batch(rec["id"], batch_id=batch_id)
            self.summary.resumed_batches += 1
            self.add_watch(group, rec["id"], batch_id, rec["n_requests"], rec["status"], resumed=True)

    async def _find(self, group: _Group, record: str, since: float) -> str | None:
        try:
            return await group.adapter.find(record, since)
        except Exception as exc:  # looking is best effort
            self.problem(f"could not look for the batch of record {record}: {map_exception(exc)}")
            return None

    def give_up(self, record: str, status: str, detail: dict | None = None) -> None:
        rows = self.store.batch_requests(record, state="submitted")
        self.store.set_batch_request_states(record, [(r["custom_id"], "not_submitted") for r in rows])
        self.store.update_batch(record, status=status, collected=1, detail=detail or {})

    def add_watch(self, group: _Group, record: str, batch_id: str, n: int, status: str, resumed: bool) -> None:
        if record in self.watched:
            return
        self.watched.add(record)
        info = BatchInfo(provider=group.provider, endpoint=group.where, batch_id=batch_id, status=status, requests=n,
                         resumed=resumed)
        self.summary.batches.append(info)
        self.summary.batch_ids.append(batch_id)
        self.watch.append(_Watched(record, batch_id, group, n, info))

    # ------------------------------------------------------------------ reading requests
    async def add(self, request: Any, index: int) -> None:
        caller, messages, params, kind = _unpack(request, index)
        key, request_json = self.engine.request(caller, messages, params, kind)
        if key in self.seen:
            return
        self.seen.add(key)
        self.summary.requested += 1
        hit = self.store.get(key)
        if hit is not None and usable(hit[0], params) is None:
            self.summary.reused_from_store += 1
            return
        self.requested.add(key)
        group = await self.group(caller)
        if (id(caller), id(params)) not in group.checked:  # what the provider cannot run fails before any submission
            group.adapter.line(custom_id_for(key), request_json)
            group.checked.add((id(caller), id(params)))
        group.todo[key] = (kind, caller.backend, caller.model, request_json)
        if len(group.todo) >= self.chunk(group):
            await self.flush(group)

    def chunk(self, group: _Group) -> int:
        limit = group.adapter.max_requests
        return min(limit, self.max_batch_requests) if self.max_batch_requests else limit

    async def flush(self, group: _Group) -> None:
        items = [(key, *value) for key, value in group.todo.items()]
        group.todo.clear()
        await self.submit(group, items, again=False)

    # ------------------------------------------------------------------ submitting
    async def submit(self, group: _Group, items: list[tuple[str, str, str, str, str]], *, again: bool) -> None:
        """Submit (key, kind, backend, model, request JSON) items in as many batches as the limits need
        (and one batch per model where the provider wants that)."""
        if group.adapter.one_model:
            by_model: dict[str, list[tuple[str, str, str, str, str]]] = {}
            for item in items:
                by_model.setdefault(item[3], []).append(item)
            if len(by_model) > 1:
                for model_items in by_model.values():
                    await self._submit_chunks(group, model_items, again)
                return
        await self._submit_chunks(group, items, again)

    async def _submit_chunks(self, group: _Group, items: list[tuple[str, str, str, str, str]], again: bool) -> None:
        size, limit, max_bytes = 0, self.chunk(group), group.adapter.max_bytes
        lines: dict[str, bytes] = {}
        batch: list[tuple] = []
        for key, kind, backend, model, request_json in items:
            custom_id = custom_id_for(key)
            line = group.adapter.line(custom_id, request_json)
            if batch and (len(batch) >= limit or size + len(line) + 1 > max_bytes):
                await self._submit_one(group, batch, lines, again)
                batch, lines, size = [], {}, 0
            batch.append((custom_id, key, kind, backend, model, request_json))
            lines[custom_id] = line
            size += len(line) + 1
        if batch:
            await self._submit_one(group, batch, lines, again)

    async def _submit_one(self, group: _Group, batch: list[tuple], lines: dict[str, bytes], again: bool) -> None:
        record = uuid.uuid4().hex
        claimed = self.store.claim_batch(record, provider=group.provider, endpoint=group.where, items=batch)
        kept = set(claimed)
        held = [key for custom_id, key, *_ in batch if custom_id not in kept]
        self.summary.awaited += len(held)
        others = {self.store.open_batch_of(key) for key in held} - {None} - self.watched - set(self.elsewhere)
        if others:  # held by batches recorded since this call started (another process): wait for them too
            for rec in self.store.batch_records(open_only=True, provider=group.provider, endpoint=group.where):
                if rec["id"] not in others:
                    continue
                if rec["batch_id"] is None:
                    self.elsewhere[rec["id"]] = rec["n_requests"]  # still being created by another process
                else:
                    self.summary.resumed_batches += 1
                    self.add_watch(group, rec["id"], rec["batch_id"], rec["n_requests"], rec["status"], resumed=True)
        if not claimed:
            return
        created = time.time()
        try:
            state = await group.adapter.submit([lines[c] for c in claimed], record,
                                               lambda file_id: self.store.update_batch(record, input_file_id=file_id))
        except (ConfigError, StoreError):
            raise
        except Exception as exc:
            error = map_exception(exc)
            found = await self._find(group, record, created)  # created after all, the answer lost?
            if found is None:
                self.problem(f"could not create a {group.provider} batch of {len(claimed)} requests at {group.where}: {error}")
                self.give_up(record, "not_submitted", {"error": redact(str(error), self.secrets)})
                self.summary.not_submitted += len(claimed)
                return
            state = BatchState(found, "submitted", False)
        self.store.update_batch(record, batch_id=state.batch_id, status=state.status, detail=state.detail)
        log.info("batch: submitted %d request(s) to %s at %s as %s", len(claimed), group.provider, group.where, state.batch_id)
        for custom_id, key, *_ in batch:
            if custom_id in kept:
                self.submissions[key] = self.submissions.get(key, 0) + 1
        self.summary.submitted += len(claimed)
        if again:
            self.summary.resubmitted += len(claimed)
        self.add_watch(group, record, state.batch_id, len(claimed), state.status, resumed=False)

    # ------------------------------------------------------------------ waiting and collecting
    async def wait(self) -> None:
        deadline = time.monotonic() + self.timeout_s
        while self.watch:
            for watched in list(self.watch):
                state = await self.poll(watched)
                if state is not None and state.ended:
                    await self.collect(watched, state)
                    self.watch.remove(watched)
            retry, self.retry = self.retry, {}
            for (provider, where), items in retry.items():
                await self.submit(self.groups[(provider, where)], items, again=True)
            if not self.watch:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                self.summary.timed_out = True
                break
            await asyncio.sleep(min(self.poll_interval_s, left))
        self.summary.pending = sum(w.requests for w in self.watch) + sum(self.elsewhere.values())
        if self.summary.timed_out:
            log.warning("batch: %d request(s) in %d batch(es) still running after %g s; they stay recorded in the store "
                        "and the next call collects them", self.summary.pending, len(self.watch), self.timeout_s)

    async def poll(self, watched: _Watched) -> BatchState | None:
        try:
            state = await watched.group.adapter.poll(watched.batch_id)
        except Exception as exc:  # the batch stays recorded: polled again next round (and by the next call)
            error = map_exception(exc)
            message = f"polling {watched.group.provider} batch {watched.batch_id} failed: {error}"
            if message != watched.poll_error:
                self.problem(message)
                watched.poll_error = message
            if getattr(error, "status", None) == 404:  # gone (deleted, or another account): its requests are missing
                self.give_up(watched.record, "not_found")
                self.watch.remove(watched)
                self.retry_missing(watched)
            return None
        watched.info.status = state.status
        self.store.update_batch(watched.record, status=state.status, detail={**state.detail, "counts": state.counts})
        return state

    def retry_missing(self, watched: _Watched) -> None:
        for row in self.store.batch_requests(watched.record, state="not_submitted"):
            self.resubmit_or_fail(watched.group, row, "its batch was not found", recorded=False)

    async def collect(self, watched: _Watched, state: BatchState) -> None:
        """Write the results of an ended batch to the store; queue what it did not answer."""
        group, record, batch_id = watched.group, watched.record, watched.batch_id
        states: list[tuple[str, str]] = []
        again: list[tuple[dict, str, bool]] = []
        if state.failed is not None:
            for row in self.store.batch_requests(record, state="submitted"):
                message = f"{group.provider} batch {batch_id} failed: {state.failed}"
                self.fail(row, message)
                states.append((row["custom_id"], "failed"))
                self.final_failure(row, message)
        else:
            seen: set[str] = set()
            async for result in self._results(group, state, batch_id):
                if result.problem is not None or result.custom_id is None:
                    self.problem(f"{group.provider} batch {batch_id}: {result.problem}")
                    continue
                row = self.store.batch_request(record, result.custom_id)
                if row is None:
                    self.problem(f"{group.provider} batch {batch_id}: a result for custom_id {result.custom_id!r}, "
                                 "which this batch never held: ignored")
                    continue
                if result.custom_id in seen:
                    self.problem(f"{group.provider} batch {batch_id}: a second result for {result.custom_id!r}: ignored")
                    continue
                seen.add(result.custom_id)
                outcome = self.write(group, row, result, batch_id)
                states.append((result.custom_id, outcome))
                if outcome in _RETRY_STATES:
                    again.append((row, outcome, result.error is not None))
                elif outcome == "failed":
                    self.final_failure(row, result.error or "")
            for row in self.store.batch_requests(record, state="submitted"):
                if row["custom_id"] not in seen:
                    states.append((row["custom_id"], "missing"))
                    again.append((row, "missing", False))
        self.store.set_batch_request_states(record, states)
        self.store.update_batch(record, status=state.status, collected=1,
                                detail={**state.detail, "counts": state.counts, "failed": state.failed})
        for row, outcome, recorded in again:
            self.resubmit_or_fail(group, row, {"retry": "failed", "missing": "got no result"}.get(outcome, outcome),
                                  recorded=recorded)
        log.info("batch: %s batch %s %s: results collected", group.provider, batch_id, state.status)

    async def _results(self, group: _Group, state: BatchState, batch_id: str):
        try:
            async for result in group.adapter.results(state):
                yield result
        except Exception as exc:  # the batch is then collected with what was read; the rest is resubmitted
            self.problem(f"reading the results of {group.provider} batch {batch_id} failed part way: {map_exception(exc)}")

    def write(self, group: _Group, row: dict, result: ResultLine, batch_id: str) -> str:
        """Store one result; returns the request's new state."""
        if row["request"] is None:  # collected before (a kill between writing results and marking the batch)
            return "succeeded"
        if result.missing is not None:
            return result.missing
        error = result.error
        if result.completion is not None:
            _, params, _ = read_request(row["request"])
            error = usable(result.completion, params)
            if error is None:
                hit = self.store.get(row["key"])
                if hit is None or usable(hit[0], params) is not None:
                    cost = self.cost(group, row, result.completion)
                    self.store.put(row["key"], kind=row["kind"], backend=row["backend"], model=row["model"],
                                   request_json=row["request"], completion=result.completion, latency_s=None, cost_usd=cost)
                self.summary.succeeded += 1
                return "succeeded"
        self.fail(row, f"batch {batch_id}: {error}")
        return "retry" if result.transient else "failed"

    def fail(self, row: dict, message: str) -> None:
        message = redact(message, self.secrets)
        self.store.put_failure(row["key"], kind=row["kind"], model=row["model"], error=message,
                               attempts=self.submissions.get(row["key"], 1))

    def final_failure(self, row: dict, message: str) -> None:
        if row["key"] in self.requested:
            self.summary.failed += 1
            self.error(f"{row['model']} {row['key'][:12]}: {message}")
            self.requested.discard(row["key"])

    def resubmit_or_fail(self, group: _Group, row: dict, why: str, *, recorded: bool) -> None:
        """Queue a request its batch did not answer for another batch, unless it was submitted
        ``max_submissions`` times already (then it is a failure) or this call does not need it."""
        key = row["key"]
        if key not in self.requested or row["request"] is None:
            return  # a request of a resumed batch nobody asked for now: collected, not resubmitted
        if self.submissions.get(key, 0) >= self.max_submissions:
            message = f"{why} in {self.submissions.get(key, 0)} batch(es)"
            if not recorded:
                self.fail(row, message)
            self.final_failure(row, message)
            return
        self.retry.setdefault((group.provider, group.where), []).append(
            (key, row["kind"], row["backend"], row["model"], row["request"]))

    def cost(self, group: _Group, row: dict, completion: Completion) -> float | None:
        """The batch price of a completion: ``price_factor`` times the list price, where the endpoint
        is priced (its own ``price``, or a hosted API in litellm's map: :meth:`Endpoint.call_cost`)."""
        from prefjudge.backends.endpoint import Endpoint

        if getattr(group.endpoint, "model", None) == row["model"] and hasattr(group.endpoint, "call_cost"):
            listed = group.endpoint.call_cost(completion.prompt_tokens, completion.completion_tokens)
        else:
            slot = (row["backend"], row["model"], group.endpoint.base_url)
            if slot not in self._priced:
                self._priced[slot] = Endpoint(model=row["model"], backend=row["backend"], base_url=slot[2]).priced
            if not self._priced[slot]:
                return None
            listed = cost_usd(row["model"], completion.prompt_tokens, completion.completion_tokens)
        if listed is None:
            return None
        cost = listed * self.price_factor
        self._cost += cost
        self._priced_any = True
        return cost

    async def aclose(self) -> None:
        for group in self.groups.values():
            try:
                await group.adapter.aclose()
            except Exception as exc:  # closing must not hide the result
                log.debug("closing a batch client failed: %s", exc)


def _unpack(request: Any, index: int) -> tuple[Any, list[dict], CallParams, str]:
    if isinstance(request, tuple) and len(request) in (3, 4):
        caller, messages, params, *rest = request
        kind = rest[0] if rest else "judge"
        if isinstance(params, CallParams) and isinstance(messages, list) and hasattr(caller, "endpoint"):
            return caller, messages, params, kind
    raise InputError("expected a BatchRequest (caller, messages, CallParams, kind)", row=index, field="requests")


async def prefill(
    engine: Engine,
    requests: Iterable[BatchRequest | tuple],
    *,
    provider: Provider | Mapping[str, Provider] | None = None,
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    price_factor: float = 0.5,
    max_submissions: int = 3,
    max_batch_requests: int | None = None,
    completion_window: str = "24h",
) -> BatchSummary:
    """Run ``requests`` through provider batch APIs and write every result into ``engine.store``.

    ``requests``: :class:`BatchRequest` values (or (caller, messages, params[, kind]) tuples), read
    once, in order; a batch is submitted as soon as one endpoint has ``max_batch_requests`` of them
    (default: the provider's limit, 50,000 for OpenAI, 100,000 for Anthropic), the rest at the end.
    ``provider``: ``"openai"`` or ``"anthropic"`` for every caller, a mapping caller name -> provider,
    or None for :func:`batch_provider` of each caller. ``poll_interval_s`` between two polls of the
    running batches; ``timeout_s``: return after this long even if batches still run (they stay
    recorded; the next call collects them). ``price_factor``: the batch price as a share of the
    list price (the cost recorded per call). ``max_submissions``: how many batches one request may
    be sent in by this call (expired, cancelled, transient errors) before it counts as failed.

    Never raises for a provider's error (a batch that cannot be created or polled, a result that
    cannot be read: see ``problems``); raises ConfigError before submitting what a provider cannot
    run (a logprob judge on Anthropic, a backend without a batch API) and StoreError for a broken store.
    """
    for name, value, low in (("poll_interval_s", poll_interval_s, 0.0), ("timeout_s", timeout_s, 0.0),
                             ("price_factor", price_factor, 0.0)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < low:
            raise InputError(f"must be a finite number >= {low:g}, not {value!r}", field=name)
    if not isinstance(max_submissions, int) or max_submissions < 1:
        raise InputError(f"must be a whole number >= 1, not {max_submissions!r}", field="max_submissions")
    if max_batch_requests is not None and (not isinstance(max_batch_requests, int) or max_batch_requests < 1):
        raise InputError(f"must be a whole number >= 1 or None, not {max_batch_requests!r}", field="max_batch_requests")
    started = time.monotonic()
    run = _Run(engine, provider=provider, poll_interval_s=poll_interval_s, timeout_s=timeout_s,
               price_factor=price_factor, max_submissions=max_submissions, max_batch_requests=max_batch_requests,
               completion_window=completion_window)
    try:
        for index, request in enumerate(requests):
            await run.add(request, index)
        for group in list(run.groups.values()):
            if group.todo:
                await run.flush(group)
        await run.wait()
    finally:
        await run.aclose()
    run.summary.cost_usd = run._cost if run._priced_any else None
    run.summary.seconds = time.monotonic() - started
    log.info("%s", run.summary)
    return run.summary
