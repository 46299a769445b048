"""The OpenAI Batch API through the ``openai`` client, at any base URL.

A JSONL of ``{custom_id, method: "POST", url: "/v1/chat/completions", body}`` lines is uploaded with
``files.create(purpose="batch")``, a batch is created from it (``metadata.prefjudge_submission``
names the store's record, so a batch whose id was never recorded can be found again), polled with
``batches.retrieve`` and its output and error files are streamed back with ``files.content``. The
body of a line is exactly what the openai backend sends live (:func:`request_kwargs`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from prefjudge.backends.endpoint import Endpoint
from prefjudge.backends.openai_backend import request_kwargs, split_extra
from prefjudge.backends.reply import read_chat_completion
from prefjudge.errors import PermanentBackendError
from prefjudge.judging.batching.base import (
    BatchProvider,
    BatchState,
    ResultLine,
    client_settings,
    decode_line,
    encode,
    provider_model,
    read_request,
    stream_lines,
    transient_status,
)

CHAT_URL = "/v1/chat/completions"
ENDED = ("completed", "failed", "expired", "cancelled")
"""Statuses after which nothing changes; the others: validating, in_progress, finalizing, cancelling."""
MAX_REQUESTS = 50_000
MAX_BYTES = 190 * 1024**2
"""Below OpenAI's 200 MB input file limit."""
_FIND_BACK_S = 3600.0
"""How far before a record's time :meth:`OpenAIBatches.find` looks for its batch."""


def _error_message(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        code = error.get("code") or error.get("type")
        return f"{error.get('message')}" + (f" ({code})" if code else "")
    return str(body)[:300]


def parse_line(text: str | bytes, where: str) -> ResultLine:
    """One line of an output or error file.

    >>> parse_line('{"custom_id": "k", "response": null, "error": {"code": "batch_expired", "message": "m"}}', "x").missing
    'expired'
    >>> parse_line("not json", "line 3 of output file f").problem[:35]
    'line 3 of output file f is not JSON'
    """
    obj = decode_line(text, where)
    if isinstance(obj, ResultLine):
        return obj
    if not isinstance(obj, dict) or not isinstance(obj.get("custom_id"), str):
        return ResultLine(problem=f"{where} has no custom_id: {str(obj)[:120]!r}")
    custom_id = obj["custom_id"]
    response, error = obj.get("response"), obj.get("error")
    if isinstance(response, dict) and response.get("status_code") is not None:
        status, body = response.get("status_code"), response.get("body")
        if status == 200:
            try:
                return ResultLine(custom_id, completion=read_chat_completion(body))
            except PermanentBackendError as exc:
                return ResultLine(custom_id, error=str(exc))
        return ResultLine(custom_id, error=f"HTTP {status}: {_error_message(body)}", transient=transient_status(status))
    if isinstance(error, dict):
        code = error.get("code")
        if code == "batch_expired":
            return ResultLine(custom_id, missing="expired")
        if code in ("batch_cancelled", "batch_canceled"):
            return ResultLine(custom_id, missing="cancelled")
        return ResultLine(custom_id, error=f"{code}: {error.get('message')}",
                          transient=code in ("rate_limit_exceeded", "server_error", "timeout"))
    return ResultLine(problem=f"{where} ({custom_id}) has neither a response nor an error")


class OpenAIBatches(BatchProvider):
    name = "openai"
    max_requests = MAX_REQUESTS
    max_bytes = MAX_BYTES
    one_model = True

    def __init__(self, endpoint: Endpoint, *, completion_window: str = "24h"):
        from openai import AsyncOpenAI

        c = client_settings(endpoint, "OPENAI_API_KEY")
        # uploads and downloads of up to 200 MB: far longer than one chat call may take
        self._client = AsyncOpenAI(base_url=c.base_url, api_key=c.api_key, max_retries=4,
                                   timeout=max(endpoint.timeout, 600.0), default_headers=c.headers, default_query=c.query)
        self._window = completion_window

    def line(self, custom_id: str, request_json: str) -> bytes:
        call, params, messages = read_request(request_json)
        body = request_kwargs(provider_model(call["backend"], call["model"]), messages, params)
        extra_body = split_extra(params.extra)[1].get("extra_body")
        if extra_body:
            body.update(extra_body)
        return encode({"custom_id": custom_id, "method": "POST", "url": CHAT_URL, "body": body})

    async def submit(self, lines: list[bytes], submission: str, on_file: Callable[[str], None]) -> BatchState:
        data = b"\n".join(lines) + b"\n"
        uploaded = await self._client.files.create(file=(f"prefjudge-{submission}.jsonl", data, "application/jsonl"),
                                                   purpose="batch")
        on_file(uploaded.id)
        batch = await self._client.batches.create(input_file_id=uploaded.id, endpoint=CHAT_URL,
                                                  completion_window=self._window,  # type: ignore[arg-type]
                                                  metadata={"prefjudge_submission": submission})
        return self.state(batch)

    async def find(self, submission: str, since: float) -> str | None:
        seen = 0
        async for batch in self._client.batches.list(limit=100):
            if (batch.metadata or {}).get("prefjudge_submission") == submission:
                return batch.id
            seen += 1
            if seen >= 2000 or (batch.created_at and batch.created_at < since - _FIND_BACK_S):
                break
        return None

    async def retrieve(self, batch_id: str) -> Any:
        return await self._client.batches.retrieve(batch_id)

    @staticmethod
    def state(batch: Any) -> BatchState:
        failed = None
        if batch.status == "failed":
            errors = getattr(batch.errors, "data", None) or []
            failed = "; ".join(f"{e.code}: {e.message}" + (f" (line {e.line})" if e.line else "") for e in errors[:5])
            failed = failed or "the batch failed (no reason given)"
        counts = batch.request_counts.model_dump() if batch.request_counts is not None else {}
        return BatchState(batch.id, batch.status, batch.status in ENDED, failed, counts,
                          {"output_file_id": batch.output_file_id, "error_file_id": batch.error_file_id})

    async def results(self, state: BatchState) -> AsyncIterator[ResultLine]:
        for what in ("output", "error"):
            file_id = state.detail.get(f"{what}_file_id")
            if not file_id:
                continue
            async for line in stream_lines(self._client.files.with_streaming_response.content(file_id), parse_line,
                                           lambda number, name=f"{what} file {file_id}": f"line {number} of {name}"):
                yield line

    async def cancel(self, batch_id: str) -> None:
        await self._client.batches.cancel(batch_id)

    async def aclose(self) -> None:
        await self._client.close()
