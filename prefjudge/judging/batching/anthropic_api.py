"""Anthropic Message Batches through the ``anthropic`` SDK (the ``prefjudge[anthropic]`` extra).

Each request becomes ``{custom_id, params}`` with the Messages API parameters: the system messages
joined into ``system``, ``max_tokens``, ``temperature``, and a JSON-schema ``response_format`` as
``output_config.format``. Results are streamed line by line from the batch's ``results_url``.
Anthropic returns no logprobs, so a judge in logprob mode cannot use this path.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from prefjudge.backends.endpoint import Endpoint
from prefjudge.backends.openai_backend import split_extra
from prefjudge.errors import ConfigError
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
)
from prefjudge.types import Completion

MAX_REQUESTS = 100_000
MAX_BYTES = 200 * 1024**2
"""Below Anthropic's 256 MB request limit."""
INSTALL = 'pip install "prefjudge[anthropic]"'
_TRANSIENT = ("rate_limit_error", "overloaded_error", "api_error", "timeout_error")
_STOP = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}


def import_anthropic():
    """The ``anthropic`` SDK, or a ConfigError saying how to install it."""
    try:
        import anthropic
    except ImportError as exc:
        raise ConfigError(f"Anthropic Message Batches need the anthropic SDK, which is not installed: {INSTALL}") from exc
    return anthropic


def anthropic_base_url(url: str | None) -> str | None:
    """The SDK's base URL (it adds ``/v1/messages/batches``) from an endpoint's base_url, which may
    end in ``/v1`` or ``/v1/messages`` (litellm's api_base).

    >>> anthropic_base_url("http://127.0.0.1:8000/v1"), anthropic_base_url("https://api.anthropic.com/v1/messages/")
    ('http://127.0.0.1:8000', 'https://api.anthropic.com')
    """
    if url is None:
        return None
    url = url.rstrip("/")
    for suffix in ("/v1/messages", "/v1"):
        if url.endswith(suffix):
            return url[: -len(suffix)]
    return url


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type", "text") == "text")
    return ""


def message_params(model: str, messages: list[dict], params) -> dict:
    """Messages API parameters of a chat request (ConfigError for what Anthropic cannot do)."""
    if params.logprobs:
        raise ConfigError("Anthropic's API returns no logprobs, so a judge in logprob mode cannot use Message Batches; "
                          "use mode='verdict' or 'json' for this judge, or batch it through an OpenAI-compatible provider")
    system = "\n\n".join(_text(m.get("content")) for m in messages if m.get("role") == "system")
    out: dict[str, Any] = {"model": model, "max_tokens": params.max_tokens, "temperature": params.temperature,
                           "messages": [{"role": m["role"], "content": m.get("content")} for m in messages
                                        if m.get("role") != "system"]}
    if system:
        out["system"] = system
    fmt = params.response_format or {}
    schema = (fmt.get("json_schema") or {}).get("schema") if fmt.get("type") == "json_schema" else None
    if schema is not None:
        out["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
    body, options = split_extra(params.extra)
    out.update(body)
    out.update(options.get("extra_body") or {})
    return out


def parse_result(text: str | bytes, where: str) -> ResultLine:
    """One line of a Message Batch's results.

    >>> parse_result('{"custom_id": "k", "result": {"type": "expired"}}', "x").missing
    'expired'
    """
    obj = decode_line(text, where)
    if isinstance(obj, ResultLine):
        return obj
    if not isinstance(obj, dict) or not isinstance(obj.get("custom_id"), str) or not isinstance(obj.get("result"), dict):
        return ResultLine(problem=f"{where} has no custom_id and result: {str(obj)[:120]!r}")
    custom_id, result = obj["custom_id"], obj["result"]
    kind = result.get("type")
    if kind == "succeeded" and isinstance(result.get("message"), dict):
        message = result["message"]
        usage = message.get("usage") if isinstance(message.get("usage"), dict) else {}
        counts = [usage.get(k) for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")]
        prompt = sum(c for c in counts if isinstance(c, int)) if isinstance(counts[0], int) else None
        output = usage.get("output_tokens")
        stop = message.get("stop_reason")
        return ResultLine(custom_id, completion=Completion(
            text=_text(message.get("content")), prompt_tokens=prompt,
            completion_tokens=output if isinstance(output, int) and output >= 0 else None,
            finish_reason=_STOP.get(stop, stop) if isinstance(stop, str) else None))
    if kind == "errored":
        error = result.get("error") if isinstance(result.get("error"), dict) else {}
        inner = error.get("error") if isinstance(error.get("error"), dict) else error
        etype = inner.get("type")
        return ResultLine(custom_id, error=f"{etype}: {inner.get('message')}", transient=etype in _TRANSIENT)
    if kind in ("canceled", "expired"):
        return ResultLine(custom_id, missing="cancelled" if kind == "canceled" else "expired")
    return ResultLine(problem=f"{where} ({custom_id}) has an unknown result type {kind!r}")


class AnthropicBatches(BatchProvider):
    name = "anthropic"
    max_requests = MAX_REQUESTS
    max_bytes = MAX_BYTES

    def __init__(self, endpoint: Endpoint):
        anthropic = import_anthropic()
        c = client_settings(endpoint, "ANTHROPIC_API_KEY")
        self._client = anthropic.AsyncAnthropic(api_key=c.api_key, base_url=anthropic_base_url(c.base_url), max_retries=4,
                                                timeout=max(endpoint.timeout, 600.0), default_headers=c.headers,
                                                default_query=c.query)

    def line(self, custom_id: str, request_json: str) -> bytes:
        call, params, messages = read_request(request_json)
        return encode({"custom_id": custom_id,
                       "params": message_params(provider_model(call["backend"], call["model"]), messages, params)})

    async def submit(self, lines: list[bytes], submission: str, on_file: Callable[[str], None]) -> BatchState:
        batch = await self._client.messages.batches.create(requests=[json.loads(line) for line in lines])
        return self.state(batch)

    async def retrieve(self, batch_id: str) -> Any:
        return await self._client.messages.batches.retrieve(batch_id)

    @staticmethod
    def state(batch: Any) -> BatchState:
        return BatchState(batch.id, batch.processing_status, batch.processing_status == "ended", None,
                          batch.request_counts.model_dump(), {"results_url": batch.results_url})

    async def results(self, state: BatchState) -> AsyncIterator[ResultLine]:
        async for line in stream_lines(self._client.messages.batches.with_streaming_response.results(state.batch_id),
                                       parse_result, lambda number: f"line {number} of the results of {state.batch_id}"):
            yield line

    async def cancel(self, batch_id: str) -> None:
        await self._client.messages.batches.cancel(batch_id)

    async def aclose(self) -> None:
        await self._client.close()
