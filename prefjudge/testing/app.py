"""The aiohttp application of the simulator: request handling and the request log.

:class:`SimApp` runs inside one event loop; :class:`~prefjudge.testing.server.SimServer` puts it
in a background thread. Handlers do no blocking I/O: the JSONL log is written by a periodic task.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from prefjudge.testing.batch_api import BatchApi, BatchSimConfig
from prefjudge.testing.config import SimServerConfig
from prefjudge.testing.protocol import (
    JudgePrompt,
    Kind,
    RatingPrompt,
    classify,
    classify_rating,
    coded_reply,
    completion,
    count_tokens,
    error_body,
    judge_reply,
    message_text,
    rating_answer,
    request_key,
    response_mode,
)
from prefjudge.testing.sim import Fault, SimGenerator, SimJudge, SimWorld, seeded_rng

_FLUSH_EVERY_S = 0.2
_MAX_N = 64


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One request the server answered (or refused)."""

    timestamp: float
    model: str | None
    """None only for a request that could not be read."""
    kind: str
    """"judge", "rate" (a rating prompt: one answer), "reask" (of either), "generate", or "invalid"
    for a request that could not be read."""
    question: str | None
    first: str | None
    """The answer shown first; for a rating, the rated answer."""
    second: str | None
    """The answer shown second; for a rating, the reference answer (None without one)."""
    mode: str | None
    """"verdict", "json", "logprob" for judge requests, "rating" for ratings, "text" for generation."""
    status: int | str
    """HTTP status, or "hang" for a request held for ``hang_s`` before its answer."""
    verdict: str | None
    """"first", "second", "tie" (display terms), or None (garbled, error, generation)."""
    p_first: float | None
    """The judge model's P(first shown answer wins) for this request."""
    key: str | None
    """SHA-256 of the request body minus volatile fields; None for an unreadable request."""
    attempt: int
    fault: Fault | None = None
    score: float | None = None
    """For a rating: the score given (None when garbled, an error, or not a rating)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Refusal(Exception):
    def __init__(self, status: int, message: str, type_: str, code: str | None, param: str | None = None):
        super().__init__(message)
        self.status = status
        self.body = error_body(message, type_, code, param)


@dataclass(frozen=True, slots=True)
class Reply:
    """The simulator's answer to one chat-completions request: status, JSON body, headers, and how long
    the live route waits before sending it (a hang, the judge's latency)."""

    status: int
    payload: dict
    headers: dict | None = None
    delay_s: float = 0.0


def _json(body: dict, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(body=json.dumps(body).encode(), status=status, headers=headers,
                        content_type="application/json")


class SimApp:
    """Serves ``/v1/chat/completions`` and ``/v1/models`` from a :class:`SimServerConfig`, and the
    provider batch APIs (:mod:`prefjudge.testing.batch_api`, configured by ``batch``)."""

    def __init__(self, config: SimServerConfig, log_file: str | Path | None = None,
                 batch: BatchSimConfig | None = None):
        self.config = config
        self.world: SimWorld = config.world
        self.seed = config.seed
        self.judges: dict[str, SimJudge] = {j.name: j for j in config.judges}
        self.generators: dict[str, SimGenerator] = {g.name: g for g in config.generators}
        self.attempts: dict[str, int] = {}
        self.lock = threading.Lock()
        self.records: list[LogRecord] = []
        self._log_path = Path(log_file) if log_file else None
        self._pending: list[str] = []
        self._runner: web.AppRunner | None = None
        self._flusher: asyncio.Task | None = None
        self.addresses: list = []
        self.batches = BatchApi(self, batch)

    # ----------------------------------------------------------------- lifecycle
    async def open(self, host: str, port: int) -> int:
        """Bind and start serving; returns the bound port."""
        app = web.Application(client_max_size=256 * 1024**2)
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_get("/v1/models", self.models)
        self.batches.add_routes(app.router)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        if self._log_path is not None:
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_path.write_text("", encoding="utf-8")
            self._flusher = asyncio.get_running_loop().create_task(self._flush_periodically())
        self.addresses = list(self._runner.addresses)
        return int(self.addresses[0][1])

    async def close(self) -> None:
        """Stop serving, cancel held (hanging) requests, flush the JSONL log."""
        if self._flusher is not None:
            self._flusher.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.flush()

    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(_FLUSH_EVERY_S)
            self.flush()

    def flush(self) -> None:
        """Append pending log lines to the JSONL log file."""
        if self._log_path is None or not self._pending:
            return
        lines, self._pending = self._pending, []
        with self._log_path.open("a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")

    def _record(self, record: LogRecord) -> None:
        with self.lock:
            self.records.append(record)
        if self._log_path is not None:
            self._pending.append(json.dumps(record.to_dict(), ensure_ascii=False))

    # ----------------------------------------------------------------- handlers
    async def models(self, request: web.Request) -> web.Response:
        names = sorted(set(self.judges) | set(self.generators))
        data = [{"id": n, "object": "model", "created": 0, "owned_by": "prefjudge-sim"} for n in names]
        return _json({"object": "list", "data": data})

    async def chat(self, request: web.Request) -> web.Response:
        try:
            body = await self._read_body(request)
        except _Refusal as refusal:
            self._record(LogRecord(time.time(), None, "invalid", None, None, None, None, refusal.status,
                                   None, None, None, 0))
            return _json(refusal.body, refusal.status)
        reply = self.respond(body)
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        return _json(reply.payload, reply.status, reply.headers)

    def answer(self, body: Any) -> Reply:
        """The reply to one chat-completions request body (already parsed), logged like a live request;
        used by the batch routes (:mod:`prefjudge.testing.batch_api`), which answer without delays."""
        try:
            checked = check_body(body)
        except _Refusal as refusal:
            self._record(LogRecord(time.time(), None, "invalid", None, None, None, None, refusal.status,
                                   None, None, None, 0))
            return Reply(refusal.status, refusal.body)
        return self.respond(checked)

    def respond(self, body: dict) -> Reply:
        """Decide and log the reply to a checked request body; the handler waits ``delay_s`` before sending it."""
        kind, prompt, base = classify(body["messages"])
        rating: RatingPrompt | None = None
        if prompt is None:
            kind, rating, base = classify_rating(body["messages"])
        key = request_key(body)
        attempt = self.attempts.get(key, 0)
        self.attempts[key] = attempt + 1
        try:
            actor = self._actor(body["model"], prompt or rating)
        except _Refusal as refusal:
            self._record(self._base_record(body, kind, prompt or rating, key, attempt, refusal.status))
            return Reply(refusal.status, refusal.body)
        fault = actor.faults.draw(self.seed, key, attempt)
        if fault in ("429", "500"):
            return self._fault_response(body, kind, prompt or rating, key, attempt, fault, actor)
        if kind == "reask" and fault == "garbled":
            fault = None
        if prompt is not None:
            payload, record = self._judge(actor, body, kind, prompt, base, key, attempt, fault)
        elif rating is not None:
            payload, record = self._rate(actor, body, kind, rating, base, key, attempt, fault)  # type: ignore[arg-type]
        else:
            payload, record = self._generate(actor, body, key, attempt, fault)
        self._record(record)
        delay = (actor.faults.hang_s if fault == "hang" else 0.0) + (actor.latency_s or 0.0)
        return Reply(200, payload, delay_s=delay)

    async def _read_body(self, request: web.Request) -> dict:
        try:
            body = json.loads(await request.read())
        except ValueError as exc:
            raise _Refusal(400, f"request body is not JSON: {exc}", "invalid_request_error", None) from exc
        return check_body(body)

    def _actor(self, model: str, prompt: JudgePrompt | RatingPrompt | None) -> SimJudge | SimGenerator:
        table, role = (self.judges, "judge") if prompt is not None else (self.generators, "generator")
        actor = table.get(model)
        if actor is None:
            known = ", ".join(sorted(table)) or "none"
            raise _Refusal(404, f"The model `{model}` does not exist as a simulated {role} "
                           f"(configured {role}s: {known}).", "invalid_request_error", "model_not_found", "model")
        return actor

    def _base_record(self, body: dict, kind: Kind, prompt: JudgePrompt | RatingPrompt | None, key: str, attempt: int,
                     status: int | str, fault: Fault | None = None) -> LogRecord:
        question = prompt.question if prompt else _last_user_text(body["messages"])
        if isinstance(prompt, RatingPrompt):
            return LogRecord(time.time(), body["model"], kind, question, prompt.answer, prompt.reference, "rating",
                             status, None, None, key, attempt, fault)
        return LogRecord(time.time(), body["model"], kind, question, prompt.first if prompt else None,
                         prompt.second if prompt else None, None, status, None, None, key, attempt, fault)

    def _fault_response(self, body: dict, kind: Kind, prompt: JudgePrompt | RatingPrompt | None, key: str, attempt: int,
                        fault: Fault, actor: SimJudge | SimGenerator) -> Reply:
        status = int(fault)
        self._record(self._base_record(body, kind, prompt, key, attempt, status, fault))
        if status == 429:
            wait = actor.faults.retry_after_s
            headers = {"Retry-After": f"{wait:g}", "retry-after-ms": f"{wait * 1000:g}"}
            return Reply(429, error_body("Rate limit reached (simulated).", "requests", "rate_limit_exceeded"), headers)
        return Reply(500, error_body("The server had an error processing your request (simulated).", "server_error", None))

    def _judge(self, judge: SimJudge, body: dict, kind: Kind, prompt: JudgePrompt, base: list[dict],
               key: str, attempt: int, fault: Fault | None) -> tuple[dict, LogRecord]:
        mode = response_mode(body)
        decision_key = key if kind == "judge" else request_key({**body, "messages": base})
        rng = seeded_rng(self.seed, judge.name, decision_key)
        decision = judge.decide(self.world, prompt.question, prompt.first, prompt.second, rng)
        top_k = int(body.get("top_logprobs") or 0)
        content, logprobs, verdict = judge_reply(mode, decision, rng, fault == "garbled", top_k)
        if kind == "reask" and verdict is not None:
            content = coded_reply(body["messages"], verdict) or content
        payload = completion(judge.name, key, attempt, [{"content": content, "logprobs": logprobs}],
                             _prompt_tokens(body["messages"]))
        record = LogRecord(time.time(), judge.name, kind, prompt.question, prompt.first, prompt.second, mode,
                           "hang" if fault == "hang" else 200, verdict, decision.p_first, key, attempt, fault)
        return payload, record

    def _rate(self, judge: SimJudge, body: dict, kind: Kind, prompt: RatingPrompt, base: list[dict],
              key: str, attempt: int, fault: Fault | None) -> tuple[dict, LogRecord]:
        """A rating: the judge's score of the answer (:meth:`SimJudge.rate`) in the prompt's format; a
        re-ask gets the same score as the request it follows (its coded form when it asks for a code)."""
        decision_key = key if kind == "rate" else request_key({**body, "messages": base})
        rng = seeded_rng(self.seed, judge.name, "rate", decision_key)
        decision = judge.rate(self.world, prompt.question, prompt.answer, rng, prompt.scale, prompt.aspects)
        garbled = fault == "garbled"
        content = rating_answer(prompt, decision.score, decision.aspects, rng, garbled,
                                body["messages"] if kind == "reask" else None)
        payload = completion(judge.name, key, attempt, [{"content": content, "logprobs": None}],
                             _prompt_tokens(body["messages"]))
        record = LogRecord(time.time(), judge.name, kind, prompt.question, prompt.answer, prompt.reference, "rating",
                           "hang" if fault == "hang" else 200, None, None, key, attempt, fault,
                           None if garbled else decision.score)
        return payload, record

    def _generate(self, gen: SimGenerator, body: dict, key: str, attempt: int,
                  fault: Fault | None) -> tuple[dict, LogRecord]:
        n = body.get("n") or 1
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        prompt = json.dumps(body["messages"], sort_keys=True, ensure_ascii=False) + f"\x1f{body.get('seed')}"
        choices = []
        for i in range(n):
            text, truncated = gen.generate(self.world, seed=self.seed, prompt=prompt,
                                           temperature=body.get("temperature"), index=i,
                                           max_tokens=limit if isinstance(limit, int) else None)
            choices.append({"content": text, "finish_reason": "length" if truncated else "stop"})
        payload = completion(gen.name, key, attempt, choices, _prompt_tokens(body["messages"]))
        record = LogRecord(time.time(), gen.name, "generate", _last_user_text(body["messages"]), None, None,
                           "text", "hang" if fault == "hang" else 200, None, None, key, attempt, fault)
        return payload, record


def check_body(body: Any) -> dict:
    """``body`` when it is a chat-completions request the simulator answers, else a :class:`_Refusal` (400)."""
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        raise _Refusal(400, "the request needs a 'model' string", "invalid_request_error", None, "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise _Refusal(400, "the request needs a non-empty 'messages' list of objects",
                       "invalid_request_error", None, "messages")
    n = body.get("n")
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= _MAX_N):
        raise _Refusal(400, f"'n' must be an integer from 1 to {_MAX_N}, not {n!r}",
                       "invalid_request_error", "invalid_value", "n")
    if body.get("stream"):
        raise _Refusal(400, "the simulator does not stream; send stream=false",
                       "invalid_request_error", "unsupported_value", "stream")
    return body


def _last_user_text(messages: list[dict]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return message_text(message.get("content"))
    return message_text(messages[-1].get("content"))


def _prompt_tokens(messages: list[dict]) -> int:
    return sum(count_tokens(message_text(m.get("content"))) + 4 for m in messages)
