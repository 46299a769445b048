"""The provider batch APIs of the simulator, answered by the same simulated judges and generators
as ``/v1/chat/completions`` (:meth:`prefjudge.testing.app.SimApp.answer`).

OpenAI's Batch API (shared by Azure OpenAI and several open-model providers)::

    POST /v1/files                      multipart upload (purpose=batch) of a JSONL of requests
    GET  /v1/files/{id}, /v1/files/{id}/content
    POST /v1/batches                    {input_file_id, endpoint, completion_window, metadata}
    GET  /v1/batches, /v1/batches/{id}  (list newest first; retrieve)
    POST /v1/batches/{id}/cancel

Anthropic's Message Batches::

    POST /v1/messages/batches           {requests: [{custom_id, params}]}
    GET  /v1/messages/batches/{id}, /v1/messages/batches/{id}/results (JSONL)
    POST /v1/messages/batches/{id}/cancel

A batch's requests are answered when it ends, which happens on its ``polls_to_end``-th retrieve
(or ``seconds_to_end`` after its creation, whichever comes first; never while ``hold`` is set).
:class:`BatchSimConfig` scripts per-request errors, expired batches and malformed output lines.
Every request submitted and every outcome is logged in :attr:`BatchApi.events` (per custom_id), and
each answered request is also in the server's request log, like a live request.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from prefjudge.testing.protocol import error_body
from prefjudge.testing.sim import seeded_rng

if TYPE_CHECKING:
    from prefjudge.testing.app import SimApp

ProviderName = Literal["openai", "anthropic"]
CHAT_URL = "/v1/chat/completions"
_ANTHROPIC_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_OPENAI_ACTIVE = ("validating", "in_progress", "finalizing", "cancelling")


class BatchSimConfig(BaseModel):
    """How the simulated batch APIs progress and fail."""

    model_config = ConfigDict(extra="forbid")
    polls_to_end: int = Field(2, ge=1)
    """A batch ends on its N-th retrieve (1: the first retrieve already sees it ended)."""
    seconds_to_end: float | None = Field(None, ge=0)
    """Or once this many seconds passed since its creation, whichever comes first (None: polls only)."""
    hold: bool = False
    """While set, no batch ends (tests release it with :meth:`BatchApi.release`)."""
    fail_custom_ids: list[str] = Field(default_factory=list)
    """These requests are answered with an ``error_status`` error, every time they are submitted."""
    fail_rate: float = Field(0.0, ge=0, le=1)
    """Share of the other requests answered with an error (drawn per custom_id and submission)."""
    error_status: int = Field(500, ge=400, le=599)
    expire_batches: int = Field(0, ge=0)
    """The first N batches created expire instead of completing..."""
    expire_answered: float = Field(0.5, ge=0, le=1)
    """...after answering this share of their requests (the first ones, in input order)."""
    fail_batches: int = Field(0, ge=0)
    """The first N batches created fail as a whole (OpenAI's ``failed`` status, as when its input does
    not validate; Anthropic has no such status, its batches are not affected)."""
    extra_output_lines: list[str] = Field(default_factory=list)
    """Raw lines appended to every OpenAI output file and Anthropic results stream (malformed output)."""


@dataclass(frozen=True, slots=True)
class BatchEvent:
    """One request of a batch: submitted, then succeeded, errored, expired or canceled."""

    timestamp: float
    provider: ProviderName
    batch_id: str
    custom_id: str
    event: Literal["submitted", "succeeded", "errored", "expired", "canceled"]
    status: int | None = None
    """The HTTP status of the answer (errored or succeeded)."""


@dataclass
class _Batch:
    id: str
    provider: ProviderName
    number: int
    requests: list[tuple[str, dict]]
    """(custom_id, chat-completions body) in input order."""
    created_at: float = field(default_factory=time.time)
    polls: int = 0
    status: str = "validating"
    cancel_requested: bool = False
    ended_at: float | None = None
    cancel_at: float | None = None
    meta: dict = field(default_factory=dict)
    """OpenAI: input_file_id, endpoint, completion_window, metadata, errors; output/error file ids."""
    counts: Counter = field(default_factory=Counter)
    results: list[str] = field(default_factory=list)
    """Anthropic: the results JSONL lines once ended."""


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(body).encode(), status=status, content_type="application/json")


def _anthropic_error(status: int, type_: str, message: str) -> web.Response:
    return _json({"type": "error", "error": {"type": type_, "message": message}}, status)


def _anthropic_error_type(status: int) -> str:
    return {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error",
            413: "request_too_large", 429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error")


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def anthropic_to_chat(params: dict) -> dict:
    """The chat-completions body the simulator answers for Anthropic Messages ``params``: the system
    prompt first as a system message, ``output_config.format`` (JSON schema) as ``response_format``."""
    messages = []
    system = _text(params.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    for m in params.get("messages") or []:
        messages.append({"role": m.get("role"), "content": m.get("content")} if isinstance(m, dict) else m)
    body = {"model": params.get("model"), "messages": messages, "max_tokens": params.get("max_tokens")}
    if "temperature" in params:
        body["temperature"] = params["temperature"]
    fmt = (params.get("output_config") or {}).get("format") if isinstance(params.get("output_config"), dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "output", "schema": fmt.get("schema")}}
    return body


def chat_to_message(payload: dict, custom_id: str) -> dict:
    """An Anthropic Message from the simulator's chat completion."""
    choice = payload["choices"][0]
    usage = payload.get("usage") or {}
    return {
        "id": f"msg_sim_{hashlib.sha256(custom_id.encode()).hexdigest()[:20]}", "type": "message", "role": "assistant",
        "model": payload.get("model"), "content": [{"type": "text", "text": choice["message"]["content"] or ""}],
        "stop_reason": "max_tokens" if choice.get("finish_reason") == "length" else "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": usage.get("prompt_tokens", 0), "output_tokens": usage.get("completion_tokens", 0)},
    }


class BatchApi:
    """The batch routes and their state; ``server.batches`` in a test."""

    def __init__(self, app: SimApp, config: BatchSimConfig | None = None):
        self.app = app
        self.config = config or BatchSimConfig()
        self.files: dict[str, dict] = {}
        self.batches: dict[str, _Batch] = {}
        self.lock = threading.Lock()
        self._events: list[BatchEvent] = []
        self._ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._submissions: Counter = Counter()

    # ------------------------------------------------------------------ for tests
    def release(self) -> None:
        """Let held batches end (from any thread)."""
        self.config = self.config.model_copy(update={"hold": False})

    def configure(self, **changes: Any) -> None:
        """Change the config from any thread (e.g. ``hold=True``, ``fail_custom_ids=[...]``)."""
        self.config = BatchSimConfig.model_validate({**self.config.model_dump(), **changes})

    @property
    def events(self) -> list[BatchEvent]:
        """A snapshot of the batch log."""
        with self.lock:
            return list(self._events)

    def submitted(self) -> Counter:
        """How many times each custom_id was submitted in a batch."""
        return Counter(e.custom_id for e in self.events if e.event == "submitted")

    def retrieves(self, batch_id: str | None = None) -> int:
        """How many times a batch (or any) was retrieved."""
        with self.lock:
            return sum(b.polls for b in self.batches.values() if batch_id is None or b.id == batch_id)

    def clear(self) -> None:
        """Forget the batch log (the batches and files stay)."""
        with self.lock:
            self._events.clear()

    # ------------------------------------------------------------------ wiring
    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/files", self.upload)
        router.add_get("/v1/files/{id}", self.file_object)
        router.add_get("/v1/files/{id}/content", self.file_content)
        router.add_post("/v1/batches", self.openai_create)
        router.add_get("/v1/batches", self.openai_list)
        router.add_get("/v1/batches/{id}", self.openai_retrieve)
        router.add_post("/v1/batches/{id}/cancel", self.openai_cancel)
        router.add_post("/v1/messages/batches", self.anthropic_create)
        router.add_get("/v1/messages/batches/{id}", self.anthropic_retrieve)
        router.add_post("/v1/messages/batches/{id}/cancel", self.anthropic_cancel)
        router.add_get("/v1/messages/batches/{id}/results", self.anthropic_results)

    def _log(self, batch: _Batch, custom_id: str, event: str, status: int | None = None) -> None:
        with self.lock:
            self._events.append(BatchEvent(time.time(), batch.provider, batch.id, custom_id, event, status))  # type: ignore[arg-type]

    def _new(self, provider: ProviderName, prefix: str, requests: list[tuple[str, dict]]) -> _Batch:
        number = next(self._ids)
        batch = _Batch(id=f"{prefix}{number:06d}", provider=provider, number=number, requests=requests)
        with self.lock:
            self.batches[batch.id] = batch
        for custom_id, _ in requests:
            self._submissions[custom_id] += 1
            self._log(batch, custom_id, "submitted")
        return batch

    def _due(self, batch: _Batch) -> bool:
        """Whether the batch ends now (at this retrieve)."""
        cfg = self.config
        if cfg.hold:
            return False
        if batch.polls >= cfg.polls_to_end:
            return True
        return cfg.seconds_to_end is not None and time.time() - batch.created_at >= cfg.seconds_to_end

    def _answer(self, batch: _Batch, custom_id: str, body: dict) -> tuple[int, dict]:
        """(status, chat-completion body or OpenAI error body) of one request of a batch."""
        cfg = self.config
        attempt = self._submissions[custom_id]
        if custom_id in cfg.fail_custom_ids or (
                cfg.fail_rate and seeded_rng(self.app.seed, "batch-fail", custom_id, attempt).random() < cfg.fail_rate):
            return cfg.error_status, error_body(f"simulated per-request error ({cfg.error_status})",
                                                "server_error" if cfg.error_status >= 500 else "invalid_request_error", None)
        reply = self.app.answer(body)
        return reply.status, reply.payload

    def _run(self, batch: _Batch, outcome: Literal["completed", "expired", "cancelled"]):
        """Answer the requests of an ending batch; yields (custom_id, status or 'expired'/'canceled', body)."""
        n = len(batch.requests)
        answered = n if outcome == "completed" else int(self.config.expire_answered * n) if outcome == "expired" else 0
        for i, (custom_id, body) in enumerate(batch.requests):
            if i >= answered:
                missing = "expired" if outcome == "expired" else "canceled"
                self._log(batch, custom_id, missing)  # type: ignore[arg-type]
                yield custom_id, missing, None
                continue
            status, payload = self._answer(batch, custom_id, body)
            self._log(batch, custom_id, "succeeded" if status == 200 else "errored", status)
            yield custom_id, status, payload

    def _outcome(self, batch: _Batch) -> Literal["completed", "expired", "cancelled"]:
        if batch.cancel_requested:
            return "cancelled"
        return "expired" if batch.number <= self.config.expire_batches else "completed"

    # ------------------------------------------------------------------ OpenAI: files
    async def upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload, purpose = form.get("file"), form.get("purpose")
        if upload is None or not hasattr(upload, "file"):
            return _json(error_body("a 'file' part is required", "invalid_request_error", None, "file"), 400)
        if purpose != "batch":
            return _json(error_body(f"the simulator stores purpose='batch' files only, not {purpose!r}",
                                    "invalid_request_error", None, "purpose"), 400)
        data = upload.file.read()
        file_id = f"file-sim-{next(self._file_ids):06d}"
        self.files[file_id] = {"id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                               "filename": upload.filename or "input.jsonl", "purpose": "batch", "status": "processed",
                               "data": data}
        return _json(self._file_object(file_id))

    def _file_object(self, file_id: str) -> dict:
        return {k: v for k, v in self.files[file_id].items() if k != "data"}

    async def file_object(self, request: web.Request) -> web.Response:
        file_id = request.match_info["id"]
        if file_id not in self.files:
            return _json(error_body(f"No such File object: {file_id}", "invalid_request_error", None, "id"), 404)
        return _json(self._file_object(file_id))

    async def file_content(self, request: web.Request) -> web.Response:
        file_id = request.match_info["id"]
        if file_id not in self.files:
            return _json(error_body(f"No such File object: {file_id}", "invalid_request_error", None, "id"), 404)
        return web.Response(body=self.files[file_id]["data"], content_type="application/octet-stream")

    def _write_file(self, lines: list[str], purpose: str, name: str) -> str | None:
        if not lines:
            return None
        data = ("\n".join(lines) + "\n").encode()
        file_id = f"file-sim-{next(self._file_ids):06d}"
        self.files[file_id] = {"id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                               "filename": name, "purpose": purpose, "status": "processed", "data": data}
        return file_id

    # ------------------------------------------------------------------ OpenAI: batches
    async def openai_create(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError as exc:
            return _json(error_body(f"request body is not JSON: {exc}", "invalid_request_error", None), 400)
        file_id = body.get("input_file_id") if isinstance(body, dict) else None
        if file_id not in self.files:
            return _json(error_body(f"No such File object: {file_id}", "invalid_request_error", None, "input_file_id"), 404)
        if body.get("endpoint") != CHAT_URL:
            return _json(error_body(f"the simulator batches {CHAT_URL} only, not {body.get('endpoint')!r}",
                                    "invalid_request_error", None, "endpoint"), 400)
        if body.get("completion_window") != "24h":
            return _json(error_body("completion_window must be '24h'", "invalid_request_error", None,
                                    "completion_window"), 400)
        requests, errors = self._read_input(self.files[file_id]["data"])
        batch = self._new("openai", "batch_sim_", [] if errors else requests)
        batch.meta = {"input_file_id": file_id, "endpoint": CHAT_URL, "completion_window": "24h",
                      "metadata": body.get("metadata"), "n_input": len(requests)}
        if not errors and batch.number <= self.config.fail_batches:
            errors = [{"code": "simulated_failure", "message": "This batch failed (simulated).", "param": None, "line": None}]
        if errors:
            batch.status, batch.ended_at = "failed", time.time()
            batch.meta["errors"] = {"object": "list", "data": errors}
        return _json(self._openai_object(batch))

    @staticmethod
    def _read_input(data: bytes) -> tuple[list[tuple[str, dict]], list[dict]]:
        """(custom_id, body) of each line of an input file, and OpenAI's validation errors."""
        requests, errors, seen = [], [], set()
        for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError:
                errors.append({"code": "invalid_json_line", "message": "This line is not parseable as valid JSON.",
                               "param": None, "line": number})
                continue
            custom_id = item.get("custom_id") if isinstance(item, dict) else None
            if not isinstance(custom_id, str) or custom_id in seen:
                errors.append({"code": "duplicate_custom_id" if custom_id in seen else "missing_required_parameter",
                               "message": "custom_id must be a unique string", "param": "custom_id", "line": number})
                continue
            if item.get("method") != "POST" or item.get("url") != CHAT_URL or not isinstance(item.get("body"), dict):
                errors.append({"code": "invalid_request", "message": f"each line must POST a body to {CHAT_URL}",
                               "param": "url", "line": number})
                continue
            seen.add(custom_id)
            requests.append((custom_id, item["body"]))
        if not requests and not errors:
            errors.append({"code": "empty_file", "message": "The input file is empty.", "param": None, "line": None})
        models = list(dict.fromkeys(body.get("model") for _, body in requests))
        if len(models) > 1:  # OpenAI's rule: one model per batch
            errors.append({"code": "mismatched_model", "message": f"A batch may use one model; this file uses {models}.",
                           "param": "model", "line": None})
        return requests, errors

    def _openai_object(self, batch: _Batch) -> dict:
        meta = batch.meta
        total = len(batch.requests)
        done = batch.counts
        return {
            "id": batch.id, "object": "batch", "endpoint": meta.get("endpoint", CHAT_URL), "errors": meta.get("errors"),
            "input_file_id": meta.get("input_file_id"), "completion_window": meta.get("completion_window", "24h"),
            "status": batch.status, "output_file_id": meta.get("output_file_id"), "error_file_id": meta.get("error_file_id"),
            "created_at": int(batch.created_at), "in_progress_at": None, "expires_at": int(batch.created_at) + 86400,
            "finalizing_at": None, "completed_at": int(batch.ended_at) if batch.status == "completed" and batch.ended_at else None,
            "failed_at": int(batch.ended_at) if batch.status == "failed" and batch.ended_at else None,
            "expired_at": int(batch.ended_at) if batch.status == "expired" and batch.ended_at else None,
            "cancelling_at": int(batch.cancel_at) if batch.cancel_at else None,
            "cancelled_at": int(batch.ended_at) if batch.status == "cancelled" and batch.ended_at else None,
            "request_counts": {"total": total, "completed": done["completed"], "failed": done["failed"]},
            "metadata": meta.get("metadata"),
        }

    def _openai_get(self, request: web.Request) -> _Batch | web.Response:
        batch = self.batches.get(request.match_info["id"])
        if batch is None or batch.provider != "openai":
            return _json(error_body(f"No such Batch object: {request.match_info['id']}", "invalid_request_error",
                                    None, "id"), 404)
        return batch

    async def openai_retrieve(self, request: web.Request) -> web.Response:
        batch = self._openai_get(request)
        if isinstance(batch, web.Response):
            return batch
        batch.polls += 1
        if batch.status in _OPENAI_ACTIVE:
            if batch.cancel_requested or self._due(batch):
                self._openai_end(batch, self._outcome(batch))
            else:
                batch.status = "in_progress"
        return _json(self._openai_object(batch))

    def _openai_end(self, batch: _Batch, outcome: Literal["completed", "expired", "cancelled"]) -> None:
        output, errors = [], []
        for number, (custom_id, status, payload) in enumerate(self._run(batch, outcome), start=1):
            line_id = f"batch_req_sim_{batch.number:06d}_{number:06d}"
            if status in ("expired", "canceled"):
                code = "batch_expired" if status == "expired" else "batch_cancelled"
                errors.append(json.dumps({"id": line_id, "custom_id": custom_id, "response": None, "error": {
                    "code": code, "message": f"This request could not be executed before the batch was {outcome}."}}))
                batch.counts["failed"] += 1
                continue
            line = json.dumps({"id": line_id, "custom_id": custom_id, "error": None, "response": {
                "status_code": status, "request_id": f"req_sim_{number}", "body": payload}})
            (output if status == 200 else errors).append(line)
            batch.counts["completed" if status == 200 else "failed"] += 1
        output.extend(self.config.extra_output_lines)
        batch.meta["output_file_id"] = self._write_file(output, "batch_output", f"{batch.id}_output.jsonl")
        batch.meta["error_file_id"] = self._write_file(errors, "batch_output", f"{batch.id}_error.jsonl")
        batch.status, batch.ended_at = outcome, time.time()

    async def openai_cancel(self, request: web.Request) -> web.Response:
        batch = self._openai_get(request)
        if isinstance(batch, web.Response):
            return batch
        if batch.status in _OPENAI_ACTIVE:
            batch.cancel_requested, batch.cancel_at, batch.status = True, time.time(), "cancelling"
        return _json(self._openai_object(batch))

    async def openai_list(self, request: web.Request) -> web.Response:
        with self.lock:
            found = sorted((b for b in self.batches.values() if b.provider == "openai"), key=lambda b: -b.number)
        after = request.query.get("after")
        if after is not None:
            ids = [b.id for b in found]
            found = found[ids.index(after) + 1:] if after in ids else []
        limit = max(1, min(int(request.query.get("limit", "20")), 100))
        page = found[:limit]
        return _json({"object": "list", "data": [self._openai_object(b) for b in page],
                      "first_id": page[0].id if page else None, "last_id": page[-1].id if page else None,
                      "has_more": len(found) > limit})

    # ------------------------------------------------------------------ Anthropic
    async def anthropic_create(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError as exc:
            return _anthropic_error(400, "invalid_request_error", f"request body is not JSON: {exc}")
        items = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            return _anthropic_error(400, "invalid_request_error", "requests: a non-empty list is required")
        requests, seen = [], set()
        for i, item in enumerate(items):
            custom_id = item.get("custom_id") if isinstance(item, dict) else None
            if not isinstance(custom_id, str) or not _ANTHROPIC_ID.match(custom_id):
                return _anthropic_error(400, "invalid_request_error",
                                        f"requests.{i}.custom_id: must match ^[a-zA-Z0-9_-]{{1,64}}$, got {custom_id!r}")
            if custom_id in seen:
                return _anthropic_error(400, "invalid_request_error", f"requests.{i}.custom_id: {custom_id!r} is repeated")
            params = item.get("params")
            if not isinstance(params, dict) or not isinstance(params.get("max_tokens"), int) \
                    or not isinstance(params.get("messages"), list) or not isinstance(params.get("model"), str):
                return _anthropic_error(400, "invalid_request_error",
                                        f"requests.{i}.params: model, max_tokens and messages are required")
            if any(isinstance(m, dict) and m.get("role") == "system" for m in params["messages"]):
                return _anthropic_error(400, "invalid_request_error",
                                        f"requests.{i}.params.messages: the system prompt goes in 'system', not in messages")
            seen.add(custom_id)
            requests.append((custom_id, anthropic_to_chat(params)))
        batch = self._new("anthropic", "msgbatch_sim_", requests)
        batch.status = "in_progress"
        return _json(self._anthropic_object(batch, request))

    def _anthropic_object(self, batch: _Batch, request: web.Request) -> dict:
        counts = batch.counts
        ended = batch.status == "ended"
        processing = 0 if ended else len(batch.requests)
        return {
            "id": batch.id, "type": "message_batch", "processing_status": batch.status,
            "request_counts": {"processing": processing, "succeeded": counts["succeeded"], "errored": counts["errored"],
                               "canceled": counts["canceled"], "expired": counts["expired"]},
            "created_at": _iso(batch.created_at), "expires_at": _iso(batch.created_at + 86400),
            "ended_at": _iso(batch.ended_at), "cancel_initiated_at": _iso(batch.cancel_at), "archived_at": None,
            "results_url": f"{request.scheme}://{request.host}/v1/messages/batches/{batch.id}/results" if ended else None,
        }

    def _anthropic_get(self, request: web.Request) -> _Batch | web.Response:
        batch = self.batches.get(request.match_info["id"])
        if batch is None or batch.provider != "anthropic":
            return _anthropic_error(404, "not_found_error", f"No such message batch: {request.match_info['id']}")
        return batch

    async def anthropic_retrieve(self, request: web.Request) -> web.Response:
        batch = self._anthropic_get(request)
        if isinstance(batch, web.Response):
            return batch
        batch.polls += 1
        if batch.status != "ended" and (batch.cancel_requested or self._due(batch)):
            self._anthropic_end(batch, self._outcome(batch))
        return _json(self._anthropic_object(batch, request))

    def _anthropic_end(self, batch: _Batch, outcome: Literal["completed", "expired", "cancelled"]) -> None:
        lines = []
        for custom_id, status, payload in self._run(batch, outcome):
            if status in ("expired", "canceled"):
                result: dict = {"type": status}
                batch.counts[status] += 1
            elif status == 200:
                result = {"type": "succeeded", "message": chat_to_message(payload, custom_id)}
                batch.counts["succeeded"] += 1
            else:
                message = (payload.get("error") or {}).get("message", "error") if isinstance(payload, dict) else "error"
                result = {"type": "errored", "error": {"type": "error", "error": {
                    "type": _anthropic_error_type(int(status)), "message": message}}}
                batch.counts["errored"] += 1
            lines.append(json.dumps({"custom_id": custom_id, "result": result}))
        batch.results = lines + list(self.config.extra_output_lines)
        batch.status, batch.ended_at = "ended", time.time()

    async def anthropic_cancel(self, request: web.Request) -> web.Response:
        batch = self._anthropic_get(request)
        if isinstance(batch, web.Response):
            return batch
        if batch.status != "ended":
            batch.cancel_requested, batch.cancel_at, batch.status = True, time.time(), "canceling"
        return _json(self._anthropic_object(batch, request))

    async def anthropic_results(self, request: web.Request) -> web.Response:
        batch = self._anthropic_get(request)
        if isinstance(batch, web.Response):
            return batch
        if batch.status != "ended":
            return _anthropic_error(400, "invalid_request_error", f"batch {batch.id} is still {batch.status}")
        data = ("\n".join(batch.results) + "\n").encode() if batch.results else b""
        return web.Response(body=data, content_type="application/binary")
